"""``Scheduler``: the engine driven by one background thread."""

from __future__ import annotations

import logging
import os
import threading
import time
from _thread import allocate_lock
from collections.abc import Mapping
from datetime import datetime, tzinfo
from types import TracebackType

from ._checks import flags, seconds
from ._clock import Clock, CorrectedClock
from ._driver import DriverBase, EarlyWake, Pacer, forward, precise_timers
from ._engine import Engine, SchedulerState
from ._errors import SchedulerStateError
from .executors import Executor
from .stores import JobStore

__all__ = ["Scheduler"]

logger = logging.getLogger("tickwork")

#: Seconds the scheduler thread lets go of the GIL once a backlog's first chunk is handed
#: to the executors: a worker that waits for the GIL to run it would otherwise wait out
#: this thread's switch interval (5 ms) while it plans the next chunk.
_HAND_OVER = 0.0001


class Scheduler(DriverBase):
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
            tests). On a store with a clock of its own (a ``ClockedStore``: the
            database several hosts share), a ``SystemClock`` is set by that clock:
            ``scheduler.clock`` is then a corrected clock, measured every 10 s.
        timezone: the zone of shortcut triggers (default: the local zone).
        max_wait: the longest the thread sleeps without looking at the clock, in seconds
            (default 60): a wall-clock jump or a resume from suspend is noticed within
            this long, then runs are re-planned (missed ones by each job's policy).
        daemon: whether the thread is a daemon thread (default True).

    The thread sleeps until the next due time and is woken at once when jobs are added,
    changed or removed: an idle scheduler uses no CPU, however many jobs it holds.
    Every method is thread-safe.
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
        self._engine = Engine(
            store=store, executors=executors, clock=clock, timezone=timezone, max_wait=max_wait
        )
        flags(daemon=daemon)
        self._engine.attach_driver(self, control=self)
        self._daemon = daemon
        self._pid: int | None = None  # the process that started it
        # Released to wake the thread, held while no wake-up is pending: a bare lock,
        # so a wait and its wake-up are one call each (threading.Event goes through a
        # Condition: a dozen Python calls per wait, on a cold thread). _woken says the
        # engine asked (not the clock moving).
        self._gate = allocate_lock()
        self._gate.acquire()
        self._woken = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._pacer = Pacer(self._engine)
        # Waking early to watch the clock only makes sense against the real clock.
        self._spin = self._engine.real_time
        self._early = EarlyWake()
        self._clock_now = self._engine.clock.now  # (the engine's clock never changes)

    # -- the engine's operations ------------------------------------------------------

    add_job = forward(Engine.add_job)
    add_jobs = forward(Engine.add_jobs)
    get_job = forward(Engine.get_job)
    get_jobs = forward(Engine.get_jobs)
    next_fire_times = forward(Engine.next_fire_times)
    last_expected_fire = forward(Engine.last_expected_fire)
    history = forward(Engine.history)
    broken_jobs = forward(Engine.broken_jobs)
    modify_job = forward(Engine.modify_job)
    reschedule_job = forward(Engine.reschedule_job)
    pause_job = forward(Engine.pause_job)
    resume_job = forward(Engine.resume_job)
    remove_job = forward(Engine.remove_job)
    remove_all_jobs = forward(Engine.remove_all_jobs)
    run_job_now = forward(Engine.run_job_now)
    backfill = forward(Engine.backfill)
    emit = forward(Engine.emit_event)
    pause = forward(Engine.pause)
    resume = forward(Engine.resume)

    # -- lifecycle --------------------------------------------------------------------

    def start(self, *, paused: bool = False) -> None:
        """Load the stored jobs and start dispatching in a background thread.

        With ``paused=True`` the scheduler starts without dispatching until
        :meth:`resume`. Raises ``SchedulerStateError`` if already started or shut down.
        """
        self._refuse_forked("start()")
        # (A store's clock, when the engine schedules by it: measured before loading.)
        self._engine.announce(paused=paused)
        self._engine.measure_clock()
        events = self._engine.startup(paused=paused)
        self._unsubscribe = self._engine.clock.subscribe(self._signal)
        self._thread = threading.Thread(
            target=self._run, name="tickwork-scheduler", daemon=self._daemon
        )
        self._thread.start()
        self._pid = os.getpid()
        self._engine.emit(events)

    def _forked(self) -> bool:
        """Whether this is a process forked from the one that started the scheduler: it
        has none of its parent's threads, so the scheduler does not run here."""
        return self._pid is not None and self._pid != os.getpid()

    def _refuse_forked(self, call: str) -> None:
        if self._forked():
            raise SchedulerStateError(
                f"{call}: this scheduler was started in process {self._pid}, before this "
                f"process ({os.getpid()}) was forked from it, and has no thread here; "
                "create or start the scheduler in each worker after the fork (gunicorn's "
                "post_fork hook), never in the parent: see docs/persistence.md"
            )

    open = forward(Engine.open)
    process_due = forward(Engine.process_due)

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop dispatching now, then stop the executors.

        With ``wait=True`` this returns once running jobs have finished (at most
        *timeout* seconds); with ``wait=False`` at once, leaving them to finish or be
        abandoned as each executor documents. Nothing is dispatched after the call.
        Shutting down a scheduler that never started just closes it.

        Raises:
            TypeError, ValueError: *wait* is not a bool, or *timeout* is not ``None``
                or a finite number of seconds >= 0 (``None`` waits without limit).
            SchedulerStateError: it was shut down already.
        """
        flags(wait=wait)  # ("no" is truthy: it would wait)
        if timeout is not None:
            seconds(timeout, "timeout")
        if self._forked():
            # The parent's: nothing runs here, and its locks may have been held by the
            # parent's thread at the fork (waiting for them would hang for ever).
            logger.warning(
                "tickwork: shutdown() in process %d: the scheduler was started in process "
                "%d before it forked this one, and does not run here; nothing to shut down",
                os.getpid(),
                self._pid,
            )
            return
        started = self._engine.begin_shutdown()
        self._stopping = True
        self.wakeup()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        if started:
            self._engine.emit(self._engine.teardown(wait, timeout))
        else:
            self._engine.emit(self._engine.close_unstarted(wait, timeout))
        self._stopped.set()

    def run_forever(self) -> None:
        """Start (if needed) and block until :meth:`shutdown` is called from elsewhere.

        Ctrl-C (``KeyboardInterrupt``) shuts the scheduler down, waiting for running jobs.
        """
        if self.state is SchedulerState.STOPPED:
            self.start()
        try:
            while not self._stopped.wait(0.5):
                pass
        except KeyboardInterrupt:
            logger.info("tickwork: interrupted; shutting down")
            if self.state is not SchedulerState.SHUTDOWN:
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
        if self.state is not SchedulerState.SHUTDOWN:
            self.shutdown(wait=True)

    # -- the driver interface (what the engine calls) ----------------------------------

    def wakeup(self) -> None:
        """Step soon (the engine calls this when something changed)."""
        self._woken = True
        self._signal()

    def _signal(self) -> None:
        """End the thread's current (or next) block, from any thread."""
        # (Not contextlib.suppress: this runs for every change to a job.)
        try:  # noqa: SIM105
            self._gate.release()
        except RuntimeError:
            pass  # released already: a wake-up is pending

    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive() and thread is not threading.current_thread()

    def prepare(self, executor: Executor) -> None:
        pass

    def _stepping(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    # -- the thread -------------------------------------------------------------------

    def _block(self, real: float | None) -> bool:
        """Block for *real* seconds (None: until signalled); whether the engine woke it."""
        self._gate.acquire(True, -1 if real is None else real)
        return self._woken or self._stopping

    def _wait(self, wait: float) -> bool:
        """Wait *wait* seconds of clock time; True when woken before."""
        if not self._spin and getattr(self._engine.clock, "autojump", False) and self._settle():
            return True
        for real in self._pacer.sleeps(wait):
            if self._block(real):
                return True
        return self._woken

    def _settle(self) -> bool:
        """Before an autojump, let the runs going end (:meth:`_settle_until`); True when
        they did (or the engine woke the thread): step again, to take in what follows
        from them, before the jump."""
        until = self._settle_until()
        while until is not None and time.monotonic() < until:
            if self._block(0.001) or not self._engine.in_flight():
                return True
        return False

    def _wait_precisely(self, wait: float, upcoming: datetime) -> None:
        """Wait *wait* seconds until a run's due time *upcoming*, starting on time.

        A thread woken from a block starts a little late; one already running does not.
        So block until shortly before *upcoming*, then yield the GIL in a loop until it
        comes, as far as :class:`~tickwork._driver.EarlyWake` finds that worth it (how
        late this machine's wake-ups are, how dense the due times, a CPU budget).

        Only for a real clock, whose monotonic time is the system's: the blocks are timed
        on it directly (no :class:`~tickwork._driver.Pacer`, whose reading of the wall
        clock is for noticing jumps on long waits; this one ends at a run, in at most
        ``max_wait``). Every call and clock read here is paid once per wake-up, on a
        thread whose caches went cold while it slept.
        """
        early, monotonic, gate = self._early, time.monotonic, self._gate
        now = monotonic()
        block = early.block_for(wait, now)
        end = now + block
        left = block
        while True:
            # Ends early when signalled: by the engine (woken), a shutdown, or a
            # wake-up that the step before this wait has already handled (go on).
            gate.acquire(True, left)
            if self._woken or self._stopping:
                return
            now = monotonic()
            left = end - now
            if left <= 0.0:
                break
        early.overslept(-left)
        if block < wait:
            clock_now = self._clock_now
            while clock_now() < upcoming and not self._woken and not self._stopping:
                time.sleep(0)
            ended = monotonic()
            early.spun(ended - now, ended)

    def _run(self) -> None:
        engine, pacer = self._engine, self._pacer
        if self._spin:
            # Due times are waited for with timed blocks: ask the kernel not to end
            # them late on purpose (Linux's 50 us timer slack).
            precise_timers()
        in_backlog = False
        # Only a clock corrected by a store's has an offset to measure (no call otherwise).
        measure = isinstance(engine.clock, CorrectedClock)
        try:
            while not self._stopping:
                self._woken = False
                try:
                    # The offset to a store's clock, every 10 s (one query), measured
                    # here: below the drivers, nothing reads clocks.
                    if measure:
                        engine.measure_clock()
                    upcoming = engine.step()
                except Exception:
                    logger.exception("tickwork: dispatch failed; retrying in 1 s")
                    self._wait(1.0)
                    continue
                if self._stopping:
                    break
                wait = pacer.wait_for(upcoming)
                if wait is None:
                    if engine.backlog and not in_backlog:
                        # The first chunk of a backlog is handed over: let its workers
                        # take the GIL now, not after this thread's switch interval
                        # (5 ms) planning the next chunk.
                        time.sleep(_HAND_OVER)
                    in_backlog = engine.backlog
                    continue
                in_backlog = False
                if (
                    self._spin
                    and upcoming is not None
                    and engine.wake_for_run
                    and wait < engine.max_wait
                ):
                    self._wait_precisely(wait, upcoming)
                    continue
                if not self._wait(wait):
                    pacer.check_jump()
        except BaseException as error:  # (a job's SystemExit, re-raised by InlineExecutor)
            logger.critical(
                "tickwork: the scheduler's thread stopped on %s: nothing more is dispatched",
                type(error).__name__,
                exc_info=True,
            )  # (not raised on: in this thread it would only print the same again)
        finally:
            self._unsubscribe()
