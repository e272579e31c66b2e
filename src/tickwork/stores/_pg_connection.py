"""The hold of a ``PostgresStore`` on its server: connections, errors, transactions,
and this process's registration as a live lease owner.

:class:`PGConnection` is the base of :class:`~tickwork.stores.PostgresStore`; the
classes above it (:mod:`._pg_leases`, then :mod:`tickwork.stores.postgres`) use only
what it offers:

- *The pool* (``psycopg_pool.ConnectionPool``): the store's own, made from a DSN and
  opened by :meth:`PGConnection.open`, or the caller's, used and never closed. Each
  connection gets ``lock_timeout`` and ``statement_timeout`` the first time the store
  uses it, so that no call waits for ever.
- *The liveness connection*: one connection of its own (not from the pool), which
  holds a session advisory lock for as long as the store is open. Another process
  that finds the lock free knows this one is gone, and takes its runs over at once.
- *Errors*: a psycopg error becomes a ``StoreError`` saying what could not be done and
  on which server, database and schema (never the password); the transaction is rolled
  back, and a broken connection is dropped from the pool.
- *Transactions*: :meth:`PGConnection._tx` opens one (nested ones join it, as do the
  calls inside :meth:`PGConnection.transaction`); a transaction that wrote stamps its
  id into this store's own changes (which :meth:`sync` need not report) and, with
  ``notify``, sends one NOTIFY before it commits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .._errors import StoreError
from ._history import process_name
from ._pg_schema import check_schema, liveness_key, quote
from ._rows import warn_unclosed

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

__all__ = ["PGConnection", "Tx", "import_psycopg"]

logger = logging.getLogger("tickwork")

#: Own transaction ids remembered for sync beyond which the store takes a new snapshot.
_MINE_MAX = 256


def import_psycopg() -> None:
    """Import psycopg and psycopg_pool, or say how to install them."""
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as error:
        raise ImportError(
            f"PostgresStore needs psycopg 3 and psycopg-pool ({error}): "
            'pip install "tickwork[postgres]"'
        ) from error


#: Connections and pools a forked process inherited from its parent: kept referenced,
#: so that neither this process nor its garbage collector ever closes them.
_inherited: list[object] = []


class Tx:
    """An open transaction: its connection, and whether it wrote anything."""

    __slots__ = ("conn", "wrote")

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.wrote = False


class PGConnection:
    """The pool, the liveness connection, errors and transactions of a PostgresStore."""

    schema: str
    lock_timeout: float
    statement_timeout: float
    connect_timeout: float
    pool_size: int
    notify: bool
    lease_time: float
    #: This store object as a lease owner (``host:pid:nonce``).
    owner: str
    _dsn: str | None
    _pool: psycopg_pool.ConnectionPool[Any] | None
    _given_pool: psycopg_pool.ConnectionPool[Any] | None
    _open_lock: threading.RLock
    _local: threading.local
    _configured: set[int]  # backend pids given the timeouts
    _live: psycopg.Connection[Any] | None  # holds the session advisory lock
    _live_lock: threading.Lock
    _lock_key: int | None
    #: The executor aliases this process's scheduler dispatches to, as the JSON text
    #: of ``processes.executors`` (None: it dispatches nothing; see ._pg_share).
    _dispatching: str | None
    _pid: int  # the process that opened the connections
    _mine: set[str]  # ids of this store's write transactions since the last snapshot
    _mine_lock: threading.Lock
    _leases: dict[tuple[str, int], int]  # (job id, scheduled us) -> token
    #: Leases another process took over, by key (the runs' ends are not recorded).
    _taken_from_me: dict[tuple[str, int], int]
    #: Leases taken back from a process that had taken them from this one, by key: the
    #: attempt taken (the ends of earlier attempts going here are not recorded).
    _superseded: dict[tuple[str, int], int]
    #: Other processes whose liveness lock was found free, and since when (µs).
    _free_since: dict[str, int]
    #: The same, of the owners of event runs (looked at by the event poll).
    _events_free_since: dict[str, int]
    _s: str  # the quoted schema
    _where: str

    # -- opening and closing ----------------------------------------------------------

    def open(self) -> None:
        """Connect, check (or create, or migrate) the schema, register this process."""
        if self._live is not None and self._pid == os.getpid():
            return
        with self._open_lock:
            if self._pid != os.getpid():
                self._forked()
            if self._live is not None:
                return
            import_psycopg()
            live = self._connect_live()
            try:
                check_schema(live, self.schema, self._where)
                self._register(live)
            except BaseException as error:
                live.close()
                if isinstance(error, StoreError) or not _is_pg_error(error):
                    raise
                raise self._error(error, "open the store") from error
            if self._given_pool is None:
                import psycopg_pool

                assert self._dsn is not None
                pool: psycopg_pool.ConnectionPool[Any] = psycopg_pool.ConnectionPool(
                    self._dsn,
                    min_size=1,
                    max_size=self.pool_size,
                    open=False,
                    kwargs={"connect_timeout": max(1, round(self.connect_timeout))},
                    name=f"tickwork-{self.schema}",
                )
                pool.open(wait=False)
                self._pool = pool
            else:
                self._pool = self._given_pool
            self._configured = set()
            self._live = live
            self._pid = os.getpid()

    def _forked(self) -> None:
        """In a child forked from the process that opened the store (gunicorn with
        ``--preload``): the parent's connections are the parent's. Closing them here
        would end them for the parent too (and a pool's threads did not survive the
        fork), so they are left alone for good; the child is a process of its own, with
        connections, an owner name and leases of its own."""
        if self._live is not None:
            _inherited.append(self._live)
        if self._pool is not None and self._pool is not self._given_pool:
            _inherited.append(self._pool)
        self._live = None
        self._pool = None
        self._leases.clear()
        self._mine.clear()
        self._dispatching = None  # (the parent's scheduler is not this process's)
        self.owner = f"{process_name()}:{nonce()}"
        self._pid = os.getpid()

    def close(self) -> None:
        """Release the connections (the store's own pool, and the liveness connection,
        whose lock tells the others this process is gone); keep the data. Harmless if
        already closed; the store opens again when next used."""
        with self._open_lock:
            if self._pid != os.getpid():
                self._forked()  # (the parent's connections are not this process's to close)
            live, self._live = self._live, None
            pool, self._pool = self._pool, None
            # (A store object opened again dispatches nothing until a scheduler says.)
            dispatching, self._dispatching = self._dispatching, None
            if live is not None:
                with contextlib.suppress(Exception):
                    live.execute(f"DELETE FROM {self._s}.processes WHERE owner = %s", (self.owner,))
                if dispatching is not None and self.notify:
                    # (The others split a backlog among the dispatching processes:
                    # they read them again at their next page.)
                    with contextlib.suppress(Exception):
                        live.execute("SELECT pg_notify(%s, %s)", (self.channel, self.owner + "\n"))
                with contextlib.suppress(Exception):
                    live.close()
            if pool is not None and pool is not self._given_pool:
                pool.close()

    def __del__(self) -> None:
        if getattr(self, "_live", None) is None or self._pid != os.getpid():
            return
        warn_unclosed(self)
        with contextlib.suppress(Exception):
            self.close()

    def _conninfo(self) -> str:
        if self._given_pool is not None:
            conninfo = self._given_pool.conninfo
            return conninfo if isinstance(conninfo, str) else conninfo()
        assert self._dsn is not None
        return self._dsn

    def _connect_live(self) -> psycopg.Connection[Any]:
        """A new autocommit connection (the liveness one, or a listener's)."""
        import psycopg

        try:
            conn = psycopg.connect(
                self._conninfo(),
                autocommit=True,
                connect_timeout=max(1, round(self.connect_timeout)),
            )
        except psycopg.Error as error:
            raise StoreError(f"cannot connect to {self._where}: {_reason(error)}") from error
        try:
            self._configure(conn)
        except psycopg.Error as error:
            conn.close()
            raise StoreError(f"cannot connect to {self._where}: {_reason(error)}") from error
        return conn

    def _register(self, live: psycopg.Connection[Any]) -> None:
        """Take this process's advisory lock, then list it in ``processes`` (in that
        order: a listed process always holds its lock, so it is never seen dead by
        mistake)."""
        s = self._s
        lock = liveness_key(self.schema)
        while True:
            # A key another session holds (the sequence cycled, or another program
            # uses advisory locks): take the next one rather than wait.
            row = live.execute(
                f"SELECT k, pg_try_advisory_lock({lock}, k) "
                f"FROM (SELECT nextval('{s}.process_keys')::int AS k) n"
            ).fetchone()
            assert row is not None
            key, locked = int(row[0]), bool(row[1])
            if locked:
                break
        live.execute(
            f"INSERT INTO {s}.processes (owner, host, pid, started_us, lock_key) "
            "VALUES (%s, %s, %s, (extract(epoch from clock_timestamp()) * 1e6)::bigint, %s) "
            "ON CONFLICT (owner) DO UPDATE SET lock_key = excluded.lock_key",
            (self.owner, socket.gethostname(), os.getpid(), key),
        )
        if self._dispatching is not None:
            # (A scheduler's store: the executors it dispatches to, see ._pg_share.)
            live.execute(
                f"UPDATE {s}.processes SET executors = %s, dispatch_until_us = "
                "(extract(epoch from clock_timestamp()) * 1e6)::bigint + %s WHERE owner = %s",
                (self._dispatching, round(self.lease_time * 1_000_000), self.owner),
            )
        self._lock_key = key

    def _check_live(self) -> None:
        """Make sure the liveness connection still holds its lock; if it died (the
        server restarted, its backend was terminated), connect and register again."""
        import psycopg

        self.open()
        with self._live_lock:
            live = self._live
            if live is None:
                return
            try:
                live.execute("SELECT 1")
                return
            except psycopg.Error:
                pass
            logger.warning(
                "tickwork: %s: the connection that marks this process alive was lost; "
                "reconnecting (runs taken over meanwhile are reported lost)",
                self._where,
            )
            with contextlib.suppress(Exception):
                live.close()
            fresh = self._connect_live()
            try:
                self._register(fresh)
            except psycopg.Error as error:
                fresh.close()
                raise self._error(error, "register this process again") from error
            self._live = fresh

    # -- errors -----------------------------------------------------------------------

    def _error(self, error: BaseException, action: str) -> StoreError:
        """A clear StoreError for a failed psycopg call."""
        import psycopg

        if isinstance(error, psycopg.errors.LockNotAvailable):
            return StoreError(
                f"{self._where}: could not {action}: a lock was held by another "
                f"transaction for more than lock_timeout={self.lock_timeout:g} s"
            )
        if isinstance(error, psycopg.errors.QueryCanceled):
            return StoreError(
                f"{self._where}: could not {action}: a statement ran longer than "
                f"statement_timeout={self.statement_timeout:g} s"
            )
        if isinstance(error, psycopg.errors.InsufficientPrivilege):
            return StoreError(f"{self._where}: could not {action}: permission denied ({error})")
        return StoreError(f"{self._where}: could not {action}: {_reason(error)}")

    # -- transactions -----------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Make the calls inside one transaction."""
        with self._tx("write"):
            yield

    def _lone_write(
        self,
        sql: str,
        params: Sequence[Any],
        action: str,
        guard: contextlib.AbstractContextManager[object] | None = None,
        *,
        ctes: str = "",
    ) -> list[Any] | None:
        """Run the write *sql* (a statement with ``RETURNING``) alone in its
        transaction, in one round trip, and return its rows; or None, running nothing,
        inside an outer transaction (the caller then writes the usual way).

        The connection is in autocommit for the statement, which is wrapped so that it
        also notes its transaction's id and sends the NOTIFY (see :meth:`_stamp`): one
        round trip where BEGIN, the statement, the stamp and COMMIT take four. A
        statement that returns no row wrote nothing: no stamp, no NOTIFY. The rows come
        back without the transaction id, which is taken here. *guard* is entered around
        the statement, inside the transaction (to turn some psycopg errors into others).
        *ctes*: common table expressions *sql* uses (``name AS (...)``, comma-separated),
        put beside it at the top (PostgreSQL allows a write in ``WITH`` only there); their
        parameters come first in *params*.
        """
        if getattr(self._local, "tx", None) is not None:
            return None
        notify = ", pg_notify(%s, %s)" if self.notify else ""
        wrapped = (
            f"WITH {ctes + ', ' if ctes else ''}w AS ({sql}) SELECT w.*, s.xid FROM w, "
            f"(SELECT pg_current_xact_id()::text AS xid{notify}) s"
        )
        values = [*params, self.channel, self.owner] if self.notify else list(params)
        with self._tx(action, lone=True) as tx, guard or contextlib.nullcontext():
            rows = tx.conn.execute(wrapped, values).fetchall()
        if rows:
            with self._mine_lock:
                self._mine.add(rows[0][-1])
        return [row[:-1] for row in rows]

    @contextlib.contextmanager
    def _tx(self, action: str, *, lone: bool = False) -> Iterator[Tx]:
        """A transaction (nested ones join the outer one). psycopg errors inside become
        StoreErrors that say what could not be done; any error rolls it back.

        With *lone* (for :meth:`_lone_write` only): one statement in autocommit, which
        commits by itself; nothing may join it.
        """
        current: Tx | None = getattr(self._local, "tx", None)
        if current is not None:
            assert not lone
            yield current
            return
        import psycopg
        import psycopg_pool

        self.open()
        pool = self._pool
        assert pool is not None
        try:
            conn = pool.getconn(timeout=self.lock_timeout)
        except psycopg_pool.PoolTimeout as error:
            raise StoreError(
                f"{self._where}: could not {action}: the connection pool is full "
                f"(pool_size={self.pool_size}: every connection stayed in use for "
                f"lock_timeout={self.lock_timeout:g} s), or the server does not answer"
            ) from error
        tx = Tx(conn)
        broken = False
        try:
            if conn.info.backend_pid not in self._configured:
                self._configure(conn)
            if lone:
                conn.autocommit = True
                try:
                    yield tx
                finally:
                    if not conn.closed:
                        with contextlib.suppress(Exception):
                            conn.autocommit = False
            else:
                self._local.tx = tx
                try:
                    yield tx
                    if tx.wrote:
                        self._stamp(tx)
                    conn.commit()
                except BaseException:
                    with contextlib.suppress(Exception):
                        conn.rollback()
                    raise
                finally:
                    self._local.tx = None
        except psycopg.Error as error:
            broken = conn.closed or isinstance(error, psycopg.OperationalError)
            raise self._error(error, action) from error
        finally:
            pool.putconn(conn)
            if broken:
                # The server went away (restarted, or our backends were terminated):
                # drop the other idle connections that died with it, so that the next
                # calls get fresh ones instead of failing one by one.
                with contextlib.suppress(Exception):
                    pool.check()

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        """Set the timeouts of *conn* for its session (so no call waits for ever)."""
        conn.execute(
            "SELECT set_config('lock_timeout', %s, false), "
            "set_config('statement_timeout', %s, false)",
            (f"{round(self.lock_timeout * 1000)}ms", f"{round(self.statement_timeout * 1000)}ms"),
        )
        conn.commit()
        self._configured.add(conn.info.backend_pid)

    def _stamp(self, tx: Tx) -> None:
        """Before commit: note the transaction's id as this store's own change, and
        tell the listeners (once per transaction, named by this store as sender)."""
        if self.notify:
            row = tx.conn.execute(
                "SELECT pg_current_xact_id()::text, pg_notify(%s, %s)",
                (self.channel, self.owner),
            ).fetchone()
        else:
            row = tx.conn.execute("SELECT pg_current_xact_id()::text").fetchone()
        assert row is not None
        with self._mine_lock:
            self._mine.add(row[0])

    @property
    def channel(self) -> str:
        """The NOTIFY channel of this store's schema."""
        return f"{self.schema}_tickwork"

    def _read(self, sql: str, params: Any = (), action: str = "read") -> list[Any]:
        """The rows of one statement: inside an open transaction, in it; else alone, in
        autocommit (one statement sees one snapshot), one round trip instead of three."""
        lone = getattr(self._local, "tx", None) is None
        with self._tx(action, lone=lone) as tx:
            return tx.conn.execute(sql, params).fetchall()


def _is_pg_error(error: BaseException) -> bool:
    import psycopg

    return isinstance(error, psycopg.Error)


def _reason(error: BaseException) -> str:
    """The message of a psycopg error on one line."""
    return " ".join(str(error).split()) or type(error).__name__


def describe(conninfo: str, schema: str) -> str:
    """``PostgreSQL host:port/db, schema "x"``: where a store keeps its data, for
    messages (never the password)."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(conninfo)
    except Exception:
        info = {}
    host = info.get("host") or os.environ.get("PGHOST") or "localhost"
    port = info.get("port") or os.environ.get("PGPORT") or "5432"
    db = info.get("dbname") or os.environ.get("PGDATABASE") or info.get("user") or "?"
    return f"PostgreSQL {host}:{port}/{db}, schema {quote(schema)}"


def nonce() -> str:
    return uuid.uuid4().hex[:8]
