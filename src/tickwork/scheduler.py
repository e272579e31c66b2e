"""``Scheduler``: the engine driven by one background thread."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from datetime import datetime, tzinfo
from types import TracebackType

from ._checks import seconds
from ._clock import Clock, SystemClock
from ._engine import Engine, SchedulerState
from ._errors import SchedulerStateError
from .executors import Executor
from .stores import JobStore

__all__ = ["Scheduler"]

logger = logging.getLogger("tickwork")

#: How long before a due time the thread stops sleeping and starts watching the clock.
SPIN = 0.0015
#: A wall-clock move this much bigger or smaller than the elapsed monotonic time is
#: reported as a jump (a changed system clock, or a suspend and resume).
JUMP_TOLERANCE = 1.0


class Scheduler(Engine):
    """A scheduler that dispatches jobs from a background thread.

    >>> from tickwork import Scheduler
    >>> with Scheduler(timezone="UTC") as scheduler:  # doctest: +SKIP
    ...     scheduler.add_job(print, "interval", seconds=5, args=["tick"])

    Args:
        store: where jobs live (default: a new ``MemoryStore``).
        executors: executors by alias (default: a ``ThreadExecutor(max_workers=10)``
            as ``"default"``, which is also added to a mapping without one). Coroutine
            functions go to ``"asyncio"``, created on first use when not given.
        clock: the clock (default ``SystemClock()``; ``tickwork.testing.FakeClock`` for
            tests).
        timezone: the zone of shortcut triggers (default: the local zone).
        max_wait: the longest the thread sleeps without looking at the clock, in seconds
            (default 60): a wall-clock jump or a resume from suspend is noticed within
            this long, then runs are re-planned (missed ones by each job's policy).
        daemon: whether the thread is a daemon thread (default True).

    The thread sleeps until the next due time and is woken at once when jobs are added,
    changed or removed: an idle scheduler uses no CPU, however many jobs it holds.
    """

    def __init__(
        self,
        *,
        store: JobStore | None = None,
        executors: Mapping[str, Executor] | None = None,
        clock: Clock | None = None,
        timezone: str | tzinfo | None = None,
        max_wait: float = 60.0,
        daemon: bool = True,
    ) -> None:
        super().__init__(
            store=store, executors=executors, clock=clock, timezone=timezone, max_wait=max_wait
        )
        self._daemon = daemon
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._wakeup = self._wake.set
        # Spinning only makes sense against the real clock.
        self._spin = isinstance(self._clock, SystemClock)

    def start(self, *, paused: bool = False) -> None:
        """Load the stored jobs and start dispatching in a background thread.

        With ``paused=True`` the scheduler starts without dispatching until
        :meth:`resume`. Raises ``SchedulerStateError`` if already started or shut down.
        """
        with self._lock:
            self._startup()
            events = self._mark_started(paused)
            self._thread = threading.Thread(
                target=self._run, name="tickwork-scheduler", daemon=self._daemon
            )
            self._thread.start()
        self._emit(events)

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop dispatching now, then stop the executors.

        With ``wait=True`` this returns once running jobs have finished (at most
        *timeout* seconds); with ``wait=False`` at once, leaving them to finish or be
        abandoned as each executor documents. Nothing is dispatched after the call.
        Shutting down a scheduler that never started just closes it.

        Raises:
            TypeError, ValueError: *timeout* is not ``None`` or a finite number of
                seconds >= 0 (``None`` waits without limit).
        """
        if timeout is not None:
            seconds(timeout, "timeout")
        with self._lock:
            if self._state is SchedulerState.SHUTDOWN:
                raise SchedulerStateError("the scheduler has already been shut down")
            was_started = self._state is not SchedulerState.STOPPED
            self._state = SchedulerState.SHUTDOWN
            self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        if was_started:
            self._emit(self._teardown(wait, timeout))
        else:
            self._store.close()  # opened by add_job or a lookup before start
        self._stopped.set()

    def run_forever(self) -> None:
        """Start (if needed) and block until :meth:`shutdown` is called from elsewhere.

        Ctrl-C (``KeyboardInterrupt``) shuts the scheduler down, waiting for running jobs.
        """
        if self._state is SchedulerState.STOPPED:
            self.start()
        try:
            while not self._stopped.wait(0.5):
                pass
        except KeyboardInterrupt:
            logger.info("tickwork: interrupted; shutting down")
            if self._state is not SchedulerState.SHUTDOWN:
                self.shutdown(wait=True)

    def __enter__(self) -> Scheduler:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._state is not SchedulerState.SHUTDOWN:
            self.shutdown(wait=True)

    def _driver_running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive() and thread is not threading.current_thread()

    def _spin_until(self, upcoming: datetime) -> None:
        """Yield in a loop until *upcoming* (real clock) or a wake-up."""
        now = self._clock.now
        wake = self._wake
        while now() < upcoming and not wake.is_set() and not self._stopping:
            time.sleep(0)

    def _run(self) -> None:
        clock = self._clock
        while not self._stopping:
            self._wake.clear()
            try:
                upcoming = self.process_due()
            except Exception:
                logger.exception("tickwork: dispatch failed; retrying in 1 s")
                clock.wait(self._wake, 1.0)
                continue
            if self._stopping:
                break
            wait = self._max_wait
            if upcoming is not None:
                wait = min(wait, (upcoming - clock.now()).total_seconds())
                if wait <= 0:
                    continue
            started_mono, started_wall = clock.monotonic(), clock.now()
            if self._spin and upcoming is not None and self._wake_for_run and wait < self._max_wait:
                # Sleep until just before the due time, then yield the GIL in a tight loop
                # until it comes: a thread woken from a sleep starts 0.1-0.3 ms late, one
                # already running does not. Costs at most SPIN seconds of CPU per due time.
                if not (wait > SPIN and clock.wait(self._wake, wait - SPIN)):
                    self._spin_until(upcoming)
                continue
            if clock.wait(self._wake, wait):
                continue
            drift = (clock.now() - started_wall).total_seconds() - (
                clock.monotonic() - started_mono
            )
            if abs(drift) > JUMP_TOLERANCE:
                logger.warning(
                    "tickwork: the wall clock moved %+.1f s more than elapsed time (clock "
                    "change or suspend); re-planning",
                    drift,
                )
