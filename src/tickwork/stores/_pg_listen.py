"""LISTEN on a PostgreSQL channel from a thread of its own: the ear of ``PostgresStore``.

Theory of operation
-------------------
:class:`Listener` holds one connection of its own (autocommit), runs ``LISTEN`` on one
channel and waits for notifications in a daemon thread, calling ``on_message(payload)``
for each. The wait is cut into short slices (``conn.notifies(timeout=...)``), so
:meth:`Listener.stop` is prompt without touching the connection from another thread.

A LISTEN connection fails in two ways, and both end in the same recovery:

* *loudly*: the server ends it (a restart, ``pg_terminate_backend``): the wait raises;
* *silently*: the network drops it without a word (a host gone, a NAT that forgot the
  flow): nothing arrives, ever. So after ``idle`` seconds without traffic the listener
  sends ``SELECT 1``; an answer that does not come within ``ping_timeout`` seconds
  counts as a dead connection (the socket is shut down under the waiting query, which
  then raises).

Then ``on_error(error)`` is called, once per outage, and the listener reconnects with
back-off (0.1 s, doubling to 5 s), LISTENs again and calls ``on_message("")`` once:
notifications sent meanwhile are lost, and the subscriber must look for itself.

psycopg is imported here only, and only when a listener runs: ``import tickwork.stores``
works without it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

__all__ = ["Listener"]

logger = logging.getLogger("tickwork")

#: The longest one wait for notifications blocks: how long :meth:`Listener.stop` may
#: take to be noticed by the thread.
SLICE = 0.2
#: Seconds without traffic before the connection is checked with ``SELECT 1``...
IDLE = 5.0
#: ... and how long that check may take before the connection counts as dead.
PING_TIMEOUT = 5.0
#: Reconnection back-off: the first wait, doubling to the last.
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0
#: How long :meth:`Listener.start` waits for the first LISTEN to be in place.
START_WAIT = 5.0
#: How long :meth:`Listener.stop` waits for a thread blocked in a connection attempt.
STOP_WAIT = 5.0


class Listener:
    """LISTEN on *channel* in a daemon thread; call *on_message(payload)* for each
    notification (see the module docstring).

    Args:
        connect: makes a new connection (the listener sets autocommit on it and closes
            it). Give it ``application_name`` to find its backend in
            ``pg_stat_activity``, and TCP keepalive options where the network may drop
            connections silently.
        channel: the channel's name, as given (it is quoted; case is kept).
        on_message: called with each notification's payload, from the listener's
            thread; and with ``""`` after a reconnection (messages may have been
            missed). Keep it quick; an exception it raises is logged and ignored.
        on_error: called from the listener's thread with the error when the
            connection is lost (or cannot be made), once per outage.
        idle, ping_timeout: the silent-death check (seconds; see the module docstring).
        backoff: the first and the longest wait between reconnection attempts.
    """

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        channel: str,
        on_message: Callable[[str], None],
        on_error: Callable[[BaseException], None],
        *,
        idle: float = IDLE,
        ping_timeout: float = PING_TIMEOUT,
        backoff: tuple[float, float] = (BACKOFF_FIRST, BACKOFF_MAX),
    ) -> None:
        if not isinstance(channel, str) or not channel:
            raise ValueError(f"channel must be a non-empty string, got {channel!r}")
        self._connect = connect
        self.channel = channel
        self._on_message = on_message
        self._on_error = on_error
        self._idle = idle
        self._ping_timeout = ping_timeout
        self._backoff = backoff
        self._stop = threading.Event()
        self._first = threading.Event()  # the first attempt to LISTEN ended
        self._thread: threading.Thread | None = None
        # The connection in use, for _cut; the lock keeps its socket from being cut
        # after the thread closed it (its descriptor number may be reused by then).
        self._conn: psycopg.Connection[Any] | None = None
        self._conn_lock = threading.Lock()
        self._listening = False
        #: How many times the connection was made and LISTEN run (1 + reconnections).
        self.connections = 0

    @property
    def listening(self) -> bool:
        """Whether a LISTEN is in place now (False during an outage and after stop)."""
        return self._listening

    def start(self, *, wait: float = START_WAIT) -> None:
        """Start the thread; return once the first LISTEN is in place, the first attempt
        failed (then ``on_error`` was called and it keeps trying), or *wait* seconds
        passed. Starting a started listener does nothing."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._first.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"tickwork-listen-{self.channel}", daemon=True
        )
        self._thread.start()
        self._first.wait(wait)

    def stop(self) -> None:
        """Stop listening: the thread ends within about ``SLICE`` seconds (a check under
        way is cut short), the connection is closed and the thread joined (a thread
        still in a connection attempt after ``STOP_WAIT`` seconds is left to end by
        itself). Stopping a stopped listener does nothing; a stopped listener may be
        started again."""
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        if thread is not threading.current_thread():
            thread.join(SLICE * 5)
            if thread.is_alive():
                # Blocked in a call that does not look at the stop flag (a connection
                # attempt, a check): cut the socket under it.
                self._cut()
                thread.join(STOP_WAIT)
                if thread.is_alive():
                    # A connection attempt that has not timed out yet: the thread (a
                    # daemon) closes what it gets once it returns, and ends.
                    logger.warning(
                        "tickwork: LISTEN %r: the listening thread is still connecting; "
                        "left to end by itself",
                        self.channel,
                    )
        self._thread = None

    # -- the thread -------------------------------------------------------------------

    def _run(self) -> None:
        delay, longest = self._backoff
        out = False  # in an outage: on_error was called, on_message("") is owed
        while not self._stop.is_set():
            try:
                conn = self._listen()
            except Exception as error:  # connecting can fail in many ways
                self._first.set()
                if not out:
                    out = True
                    self._report(error)
                self._stop.wait(delay)
                delay = min(delay * 2, longest)
                continue
            delay = self._backoff[0]
            self._listening = True
            self._first.set()
            try:
                if out:
                    out = False
                    self._deliver("")
                self._receive(conn)
            except Exception as error:
                if not self._stop.is_set():
                    out = True
                    self._report(error)
            finally:
                self._listening = False
                self._forget(conn)
        self._first.set()

    def _listen(self) -> psycopg.Connection[Any]:
        """A new connection with LISTEN in place."""
        from psycopg import sql

        conn = self._connect()
        try:
            conn.autocommit = True
            with self._conn_lock:
                self._conn = conn
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        except BaseException:
            self._forget(conn)
            raise
        self.connections += 1
        return conn

    def _receive(self, conn: psycopg.Connection[Any]) -> None:
        """Deliver notifications until stopped; raise when the connection fails."""
        heard = time.monotonic()
        while not self._stop.is_set():
            got = False
            for notify in conn.notifies(timeout=SLICE):
                got = True
                self._deliver(notify.payload)
                if self._stop.is_set():
                    return
            now = time.monotonic()
            if got:
                heard = now
            elif now - heard >= self._idle:
                self._ping(conn)
                heard = time.monotonic()

    def _ping(self, conn: psycopg.Connection[Any]) -> None:
        """``SELECT 1``, with the socket cut if no answer comes within ping_timeout (the
        query then raises). Notifications that arrive meanwhile are kept by psycopg for
        the next wait."""
        watchdog = threading.Timer(self._ping_timeout, self._cut)
        watchdog.daemon = True
        watchdog.start()
        try:
            conn.execute("SELECT 1")
        finally:
            watchdog.cancel()

    def _cut(self) -> None:
        """Shut the current connection's socket down, from any thread: a call blocked
        on it returns with an error (the connection object stays the thread's, which
        closes it)."""
        with self._conn_lock:
            conn = self._conn
            if conn is None:
                return
            with contextlib.suppress(Exception):
                fd = os.dup(conn.fileno())
                with socket.socket(fileno=fd) as sock:
                    sock.shutdown(socket.SHUT_RDWR)

    def _forget(self, conn: psycopg.Connection[Any]) -> None:
        """Close *conn*, the connection in use, once no _cut can reach it."""
        with self._conn_lock:
            self._conn = None
        with contextlib.suppress(Exception):
            conn.close()

    def _deliver(self, payload: str) -> None:
        try:
            self._on_message(payload)
        except Exception:
            logger.exception("tickwork: a LISTEN %r callback failed", self.channel)

    def _report(self, error: BaseException) -> None:
        # (info: the subscriber that hears of it through on_error says what it means.)
        logger.info(
            "tickwork: LISTEN %r lost its connection (%s); reconnecting", self.channel, error
        )
        try:
            self._on_error(error)
        except Exception:
            logger.exception("tickwork: a LISTEN %r error callback failed", self.channel)
