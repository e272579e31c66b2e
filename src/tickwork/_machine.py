"""The machine: what makes a scheduler run, under the operations users call.

:class:`Machine` owns the pure core (``_core``), the store link and the executor link,
the listeners and the scheduler's state, and it *steps*: takes in finished runs, looks
after the store, dispatches what is due, persists and applies the decision
(:meth:`Machine.step`). It also starts up and tears down. The operations users call on
jobs (``add_job``, ``modify_job``...) are the engine's (``_engine.Engine``, a
``Machine``), written in terms of this one.

Drivers (``Scheduler``: a thread; ``AsyncScheduler``: an asyncio task) step it through
a small interface (:meth:`Machine.step`, :meth:`Machine.startup`,
:meth:`Machine.teardown` and a :class:`Driver` it wakes); they only decide how to wait
for the time a step returns. Every public method is thread-safe.
"""

from __future__ import annotations

import contextlib
import enum
import gc
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, tzinfo
from itertools import islice
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from ._chains import ChainLink
from ._checks import flags, seconds
from ._clock import Clock, CorrectedClock, SystemClock
from ._context import log_failure, log_fields
from ._core import PAUSED_BEFORE_START, REMOVED_BEFORE_START, Decision, SchedulerCore
from ._emit import EventRouter
from ._errors import SchedulerStateError, StoreError
from ._events import Event, EventKind, Listener, Listeners
from ._executorlink import ExecutorLink
from ._handoff import hand_off, overdue
from ._model import JobControl, Outcome, RunRequest, RunResult
from ._references import FUNCTIONS
from ._storelink import StoreLink, earliest
from ._tz import coerce_timezone
from .executors import Executor
from .stores import ClockedStore, JobStore, MemoryStore

__all__ = ["Driver", "Machine", "SchedulerState"]

logger = logging.getLogger("tickwork")

P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", bound="Machine")
_COMPLETIONS = int(EventKind.JOB_EXECUTED | EventKind.JOB_REMOVED)
_SUCCESS = Outcome.SUCCESS
#: Due runs dispatched by the first step of a backlog: small, so the first run starts
#: after little planning (a millisecond or two)...
CHUNK_FIRST = 256
#: ... and the most by one step, as the chunks double while the backlog lasts: big
#: enough that a step's fixed costs (a store transaction, waking workers) are spread
#: thin, small enough that the lock is not held long.
CHUNK_MAX = 4096


class Driver(Protocol):
    """What the engine needs from the driver that steps it."""

    def wakeup(self) -> None:
        """Step soon: something changed (a job was added, a run ended). Any thread."""

    def running(self) -> bool:
        """Whether a driver thread or task is stepping the engine (and so takes in
        finished runs), other than the caller."""

    def prepare(self, executor: Executor) -> None:
        """Called once before *executor* starts (the asyncio driver gives it its loop)."""


class _NoDriver:
    """The driver of an engine no one drives yet (or one stepped by hand)."""

    def wakeup(self) -> None:
        pass

    def running(self) -> bool:
        return False

    def prepare(self, executor: Executor) -> None:
        pass


_NO_DRIVER = _NoDriver()


def _thread_executors() -> dict[str, Executor]:
    from .executors import ThreadExecutor

    return {"default": ThreadExecutor()}


class SchedulerState(str, enum.Enum):
    """Where a scheduler is in its life."""

    STOPPED = "stopped"
    RUNNING = "running"
    PAUSED = "paused"
    SHUTDOWN = "shutdown"


class Machine:
    """The running part of a scheduler (see the module docstring). Thread-safe."""

    def __init__(
        self,
        *,
        store: JobStore | None = None,
        executors: Mapping[str, Executor] | None = None,
        clock: Clock | None = None,
        timezone: str | tzinfo | None = None,
        max_wait: float = 60.0,
        default_executors: Callable[[], dict[str, Executor]] = _thread_executors,
    ) -> None:
        if store is not None and (isinstance(store, type) or not isinstance(store, JobStore)):
            got = f"the class {store.__name__}" if isinstance(store, type) else type(store).__name__
            raise TypeError(f"store must be a JobStore object (SQLiteStore(path)...), got {got}")
        seconds(max_wait, "max_wait", positive=True, maximum=3600)
        self._lock = threading.RLock()
        self._core = SchedulerCore()
        self._store = store if store is not None else MemoryStore()
        self._clock: Clock = clock if clock is not None else SystemClock()
        if not isinstance(self._clock, Clock):
            raise TypeError(f"clock must provide now/monotonic/sleep_time/subscribe, got {clock!r}")
        if isinstance(self._clock, SystemClock) and isinstance(self._store, ClockedStore):
            # Hosts sharing a database schedule by its clock, not by their own (which
            # may be wrong); the drivers measure the offset (measure_clock). A clock
            # the caller chose (a FakeClock in tests) is left as it is.
            self._clock = CorrectedClock(self._clock, self._store.database_now)
        base = self._clock.base if isinstance(self._clock, CorrectedClock) else self._clock
        #: Whether the clock is the real one (a ``SystemClock``, corrected or not).
        self.real_time = isinstance(base, SystemClock)
        self._timezone = coerce_timezone(timezone)
        self._runners = ExecutorLink(executors, default_executors)
        self._executors = self._runners.executors
        self._listeners = Listeners()
        self._state = SchedulerState.STOPPED
        self.max_wait = float(max_wait)
        self._driver: Driver = _NO_DRIVER
        # What a returned Job's convenience methods (job.pause()...) call: the engine,
        # or the driver that asks for it in attach_driver.
        self._control: JobControl | None = None
        # Events held back in this thread for the driver to emit (see held).
        self._held = threading.local()
        self._results: deque[RunResult] = deque()
        self._results_flagged = False
        self._closed = False
        self._tended: list[Event] = []  # (events of runs ended at shutdown: tend)
        # The runs the executors had not started when shutdown() (or pause()) was
        # called (ExecutorLink.take_unstarted), for teardown to leave to the store (or
        # for resume() to hand over again).
        self._unstarted: list[RunRequest] = []
        self._core.records = True
        # Functions of stored jobs, by reference: imported once, not once per job.
        self._functions = FUNCTIONS
        self._link = StoreLink(self._store, self._core, self._functions, self._executors)
        self._link.withdraw = self._withdraw
        for executor in self._executors.values():
            # (A queue executor may read its runs' outcomes from the store.)
            executor.attach_store(self._store)
        # Jobs started by events (scheduler.emit): _emit.py.
        self._router = EventRouter(self._core, self._store)
        # Jobs started after others (add_job(after=...)): _chains.py.
        self._chains = ChainLink(
            self._store, self._core, self._link.find, self._link.shared, self._executors
        )
        # What the last step returned: when the driver wakes next on its own.
        self._wake_at: datetime | None = None
        #: Whether that is a run's due time (worth waking precisely for) or store upkeep.
        self.wake_for_run = False
        #: Whether the last step left runs due now (a backlog being streamed).
        self.backlog = False
        self._chunk = CHUNK_FIRST

    # -- properties -----------------------------------------------------------------

    @property
    def state(self) -> SchedulerState:
        """STOPPED before start, RUNNING, PAUSED, or SHUTDOWN."""
        return self._state

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def timezone(self) -> tzinfo:
        """The zone shortcut triggers use when none is given."""
        return self._timezone

    @property
    def store(self) -> JobStore:
        return self._store

    @property
    def executors(self) -> dict[str, Executor]:
        """The executors by alias (a copy; an ``"asyncio"`` one made for the first
        coroutine job is added then)."""
        return dict(self._executors)

    def clock_due(self) -> bool:
        """Whether the clock is corrected by the store's and wants measuring now
        (:meth:`measure_clock`)."""
        clock = self._clock
        return isinstance(clock, CorrectedClock) and clock.due()

    def measure_clock(self) -> None:
        """Measure the offset of the store's clock (``ClockedStore.database_now``) when
        due: at most once every 10 seconds, and only for a clock the engine corrects.
        For the drivers, in their thread (one short query; outside the engine's lock);
        a failed measurement keeps the last offset."""
        clock = self._clock
        if isinstance(clock, CorrectedClock):
            clock.refresh()

    @property
    def does_io(self) -> bool:
        """Whether the store does I/O (a store shared by processes: a file, a server)."""
        return self._link.shared

    # -- the whole scheduler --------------------------------------------------------

    def pause(self) -> None:
        """Stop dispatching. Jobs keep their schedules; runs that come due meanwhile are
        handled by each job's misfire and catch-up policy on :meth:`resume`. Runs the
        executors hold unstarted (a backlog queued for the threads) are taken back: with
        a shared store they are left in it for the processes still dispatching (this
        one's own at resume); otherwise they are held until :meth:`resume`."""
        with self._lock:
            if self._state is not SchedulerState.RUNNING:
                raise SchedulerStateError(f"cannot pause a scheduler that is {self._state.value}")
            self._state = SchedulerState.PAUSED
            self._core.holding = True  # (runs waiting for an instance wait on)
            event = Event(kind=EventKind.SCHEDULER_PAUSED, at=self._clock.now())
        runners = self._runners
        runners.hold()  # (what a step going on hands over after this is held)
        with self._lock:
            busy = self._core.busy_jobs()
        taken = runners.withdraw(busy) if busy else []
        with self._lock:
            if self._state is not SchedulerState.SHUTDOWN:
                taken += runners.release()
            now = self._clock.now()
            kept = hand_off(self._router, self._chains, self._link, taken, now) if taken else []
            for request, left in zip(taken, kept, strict=True):
                if left:
                    self._core.let_go(request)
                else:
                    self._unstarted.append(request)
            if self._core.waiting and self._state is SchedulerState.PAUSED:
                self._core.let_go_waiting(self._link.hand_off_waiting(now))
        self._emit([event])
        if self._state is SchedulerState.RUNNING:
            self._resubmit()  # resumed meanwhile
        self._driver.wakeup()  # (the next step tells a shared store it stopped dispatching)

    def resume(self) -> None:
        """Start dispatching again after :meth:`pause`, and the runs it held first."""
        with self._lock:
            if self._state is not SchedulerState.PAUSED:
                raise SchedulerStateError(f"cannot resume a scheduler that is {self._state.value}")
            self._state = SchedulerState.RUNNING
            event = Event(kind=EventKind.SCHEDULER_RESUMED, at=self._clock.now())
        self._emit([event])
        self._resubmit()
        self._driver.wakeup()

    def _resubmit(self) -> None:
        """Hand the runs :meth:`pause` held back to their executors (those whose job was
        paused or removed meanwhile are reported skipped), and start the runs waiting
        for a free instance that have one."""
        decision = Decision()
        with self._lock:
            if self._state is not SchedulerState.RUNNING:
                return
            self._core.holding = False
            held, self._unstarted = self._unstarted, []
            now = self._clock.now()
            runs = []
            for request in held:
                job = self._core.get(request.job_id)
                if job is not None and not job.paused:
                    runs.append((job.executor, request))
                else:
                    why = REMOVED_BEFORE_START if job is None else PAUSED_BEFORE_START
                    self._core.withdrawn(request, why, now, decision)
            self._core.start_waiting(now, decision)
            self._persist(decision, now)
        if runs:  # (handed over once already: as they were)
            self._runners.submit(
                runs, report=self._on_result, clock=self._clock, prepare=self._driver.prepare
            )
        self._apply(decision)

    def add_listener(self, callback: Listener, mask: EventKind = EventKind.ALL) -> None:
        """Call *callback(event)* for every event whose kind is in *mask*.

        Events of runs (submitted, executed, failed, missed...) reach listeners in the
        scheduler's thread (or, for ``AsyncScheduler``, its task); events caused by a
        call (``add_job``, ``pause_job``...) in the calling thread. Keep listeners quick.
        One that raises is logged and ignored. An ``async def`` one: AsyncScheduler only.
        """
        self._listeners.add(callback, mask)
        with self._lock:
            self._core.wants = int(self._listeners.mask)

    def remove_listener(self, callback: Listener) -> None:
        """Stop calling *callback*. Raises ``LookupError`` if it was not added."""
        self._listeners.remove(callback)
        with self._lock:
            self._core.wants = int(self._listeners.mask)

    # -- the dispatch step ----------------------------------------------------------

    def step(self) -> datetime | None:
        """Take in finished runs, dispatch one chunk of what is due now; return when to
        step next (now, when more is due).

        A backlog is streamed: each step plans, claims and submits at most one chunk,
        so the first runs start while the rest are still to be planned, the lock is let
        go between chunks (calls from other threads get in) and an asyncio driver's
        loop runs the chunk's coroutines before the next is planned. Chunks start small
        (the first run waits for little planning) and double while a backlog lasts.
        What a driver calls each time it wakes. Dispatches nothing unless the scheduler
        is running.
        """
        dispatch = True
        link, router = self._link, self._router
        while True:
            batch = Decision()
            # A step is a bounded batch (one chunk of due runs, the results in since the
            # last step) whose few objects per run live until it ends: the cyclic
            # collector would promote them and walk every job again and again for
            # nothing (a third of the time with 100,000 due at once). Off for the batch
            # and the hand-over of its runs only, as loading does; listeners run with
            # it on.
            collecting = gc.isenabled()
            gc.disable()
            try:
                with self._lock:
                    self._results_flagged = False
                    now = self._clock.now()
                    if self._results:
                        self._drain_results(batch, now)
                    running = self._state is SchedulerState.RUNNING
                    # Each part with nothing to do is passed over without a call: a step
                    # starting one run on a quiet scheduler (a store in memory, no event
                    # jobs) is a few dozen calls, on a thread whose caches went cold.
                    if link.partial or not link.ok:  # (upkeep: shared, windowed, failing)
                        link.upkeep(now, batch, running=running)
                    quiet = router.quiet()
                    if link.ok and (link.events_heard or not quiet):
                        self._route(now, batch, running=running)
                    if running and dispatch and link.ok:
                        link.dispatch(now, batch, limit=self._chunk)
                        if batch.runs_to_start:  # (a claim held up past some runs' grace)
                            self._results += overdue(batch, now, self._clock.now())
                        if batch.runs_to_start and not self._chains.unchained:
                            self._read_edges()
                    if quiet:
                        link.persist(batch, now)
                    else:
                        self._persist(batch, now)
                    if running and link.ok and self._chains.due(now):
                        self._chain(now, batch)
                    if link.events:
                        batch.events += link.events
                        link.events = []
                    upcoming = link.next_dispatch(now) if running else None
                    if running and not quiet:
                        upcoming = earliest(upcoming, router.next_at())
                    if dispatch:
                        # Still due now: a backlog, streamed in growing chunks.
                        self.backlog = upcoming is not None and upcoming <= now
                        self._chunk = (
                            min(2 * self._chunk, CHUNK_MAX) if self.backlog else CHUNK_FIRST
                        )
                    if link.shared:
                        upcoming, self.wake_for_run = link.next_wakeup(upcoming)
                    else:
                        self.wake_for_run = upcoming is not None
                    self._wake_at = upcoming
                if batch.runs_to_start:
                    self._submit(batch)
            finally:
                if collecting:
                    gc.enable()
            if batch.events or batch.errors_to_log or batch.runs_to_start:
                self._apply(batch)
            # Runs that ended during the call (an inline executor) are taken in too, so
            # their buffered runs start; what falls due meanwhile waits for the next call.
            dispatch = False
            if not self._results:
                return upcoming

    def _read_edges(self) -> None:
        """Read the chains' edges now, not once the first runs end (until then every
        run's end wakes the driver): a hint, read between claiming runs and handing them
        over, so nothing it raises may stop that (asked again when the runs end)."""
        try:
            self._chains.watching()
        except Exception:
            logger.debug("tickwork: could not read the chains' edges yet", exc_info=True)

    def _chain(self, now: datetime, batch: Decision) -> None:
        """Start the runs of chained jobs whose upstream runs have ended (lock held)."""
        try:
            self._chains.dispatch(now, batch)
        except StoreError as error:  # (what it claimed before is started all the same)
            logger.error("tickwork: could not start the runs after other jobs: %s", error)
            self._link.failed(now, error)
        self._link.persist(batch, now)  # (runs it could not start are recorded)

    def held(
        self: M, method: Callable[Concatenate[M, P], R], /, *args: P.args, **kwargs: P.kwargs
    ) -> tuple[R, list[Event]]:
        """``method(self, ...)``, and the events it caused, held back (not emitted): for
        a driver calling the engine in a worker thread and listeners in its own."""
        held: list[Event] = []
        self._held.events = held
        try:
            return method(self, *args, **kwargs), held
        finally:
            self._held.events = None

    def next_dispatch(self) -> datetime | None:
        """When something is next due to dispatch; None when not running (for
        :func:`tickwork.testing.run_until`, which moves a fake clock there)."""
        with self._lock:
            if self._state is not SchedulerState.RUNNING:
                return None
            now = self._clock.now()
            if self._chains.pending:
                return now  # downstream runs to start
            upcoming = self._link.next_dispatch(now)
            return earliest(upcoming, self._router.next_at(polls=False))

    def process_due(self) -> datetime | None:
        """Take in finished runs, dispatch everything due now; return when something is next due.

        :meth:`step` until no backlog is left (each step dispatches one chunk): for tests
        with a :class:`~tickwork.testing.FakeClock`, and programs running their own loop
        after :meth:`open`. Dispatches nothing unless the scheduler is running. (Measures
        a store clock's offset when due, as the drivers do: :meth:`measure_clock`.)"""
        self.measure_clock()
        while True:
            upcoming = self.step()
            if not self.backlog:
                return upcoming

    # -- finished runs --------------------------------------------------------------

    def has_results(self) -> bool:
        """Whether runs have ended that the engine has not taken in yet."""
        return bool(self._results)

    def request_flush(self) -> None:
        """Make the driver take in waiting results now."""
        self._results_flagged = True
        self._driver.wakeup()

    def _take_results(self) -> None:
        """Apply results that are already in (an inline executor) without dispatching."""
        while self._results:
            batch = Decision()
            with self._lock:
                self._results_flagged = False
                now = self._clock.now()
                self._drain_results(batch, now)
                self._persist(batch, now)
                if self._state is SchedulerState.RUNNING and self._chains.due(now):
                    self._chain(now, batch)
            self._apply(batch)

    def _route(self, now: datetime, batch: Decision, *, running: bool) -> None:
        """Event upkeep (lock held): debounced runs due, events from the store."""
        if self._link.events_heard:
            self._link.events_heard = False
            self._router.notified = True
        try:
            self._router.upkeep(now, batch, running=running)
        except StoreError as error:
            self._link.failed(now, error)

    def _persist(self, batch: Decision, now: datetime) -> None:
        """Note the event runs that ended, then persist *batch* (lock held)."""
        router = self._router
        if router.pending:
            router.ended(batch.history)
        self._link.persist(batch, now)
        try:
            router.flush(now)
        except StoreError as error:
            logger.error("tickwork: could not mark finished event runs done: %s", error)

    def _drain_results(self, batch: Decision, now: datetime) -> None:
        """Apply the results executors reported since last time (lock held)."""
        results = self._results
        if not results:
            return
        # A plain run (it returned None, no upstream started it) ends nothing else when
        # no job is started after others: ChainLink.ended is skipped for it. (Asked
        # first: a store that fails to answer leaves the results queued.)
        chains = self._chains
        watching = not chains.unchained and chains.watching()
        # Taken off one by one (popleft, called from C): executors keep appending meanwhile.
        taken = list(islice(iter(results.popleft, None), len(results)))
        self._core.finish_all(taken, now, batch, failed=log_failure, ended=chains.ended,
                              watching=watching)  # fmt: skip

    def _submit(self, decision: Decision) -> None:
        """Hand the decision's runs to their executors (outside the lock), once."""
        runs = decision.runs_to_start
        if runs:
            if self._router.pending:
                self._router.attach(runs)
            decision.runs_to_start = []
            if self._chains.contexts:
                runs = self._chains.annotate(runs)
            try:
                self._runners.submit(
                    runs, report=self._on_result, clock=self._clock, prepare=self._driver.prepare
                )
            except (KeyboardInterrupt, SystemExit):
                # A job run inline ended the program (reported, then re-raised): its start
                # and its end are emitted and recorded before it stops.
                events, decision.events = decision.events, []
                self._emit(events)
                self._take_results()
                raise

    def _apply(self, decision: Decision) -> None:
        """Log the decision's errors, submit its runs and emit its events (outside the lock)."""
        for message, error, job_id, fire in decision.errors_to_log:
            extra = log_fields(job_id, fire, None)
            logger.error("tickwork: %s", message, exc_info=error, extra=extra)
        decision.errors_to_log.clear()
        self._submit(decision)
        if decision.events:
            self._emit(decision.events)

    def _on_result(self, result: RunResult) -> None:
        """Executors report here, from any thread: queue the result and wake the driver.

        Results are applied in batches by :meth:`process_due` in the driver's thread (or
        task), so a burst of 10,000 completions takes the lock a handful of times, not
        10,000, and listeners always run in the driver's thread.
        """
        self._results.append(result)
        # The common case of _taken, inlined: a clean run while no run waits for a free
        # instance, no one listens for completions and no job is started after others.
        core = self._core
        if (
            result.outcome is _SUCCESS
            and not core.waiting
            and not core.wants & _COMPLETIONS
            and self._chains.unchained
            and not self._link.shared
            and not self._closed
        ):
            return
        self._taken((result,))

    def _on_results(self, results: list[RunResult]) -> None:
        """:meth:`_on_result` for a batch: what the asyncio executor reports, once per
        loop turn, with one look at whether the driver must be woken.

        *results* is kept (the executor hands over a list it no longer uses).
        """
        self._results.extend(results)
        self._taken(results)

    def _taken(self, results: Sequence[RunResult]) -> None:
        """After queueing *results*: wake the driver if any needs a prompt follow-up."""
        if self._closed:
            # Ended after shutdown (wait=False, or past its timeout): report it here.
            self._take_results()
            return
        if self._results_flagged:
            return
        # A clean run nobody listens for needs no prompt follow-up, unless a run of the
        # same job waits for it to end. Otherwise the result is taken in at the start of
        # the next dispatch step, before anything else is decided, so the scheduler
        # thread is not woken twice per run. (A racy peek: a run buffered after it is
        # found by the step's own loop.) A shared store is always told at once: the
        # run's lease must go the moment it ends, or other processes count it against
        # max_instances and skip the job's next fire.
        core = self._core
        if not core.wants & _COMPLETIONS and not self._link.shared:
            waiting = core.has_waiting_runs if core.waiting else None
            chained = None if self._chains.unchained else self._chains.is_upstream
            for result in results:
                job_id = result.request.job_id
                if (
                    result.outcome is not _SUCCESS
                    or (waiting is not None and waiting(job_id))
                    or (chained is not None and chained(job_id))
                ):
                    break
            else:
                return  # clean runs only, nothing waits for them
        self._results_flagged = True
        self._driver.wakeup()

    # -- lifecycle, for the drivers -------------------------------------------------

    def _wake_driver(self) -> None:
        # (The driver attached when the store calls: looked up at each call.)
        self._driver.wakeup()

    def attach_driver(self, driver: Driver, control: JobControl | None = None) -> None:
        """Connect the driver that steps this engine: it is woken when something changes
        and asked whether it takes in results. *control* is what returned jobs'
        convenience methods (``job.pause()``...) call (default: the engine)."""
        self._driver = driver
        if control is not None:
            self._control = control

    def announce(self, *, paused: bool = False) -> None:
        """At start, before the store's clock is measured (which opens the store): tell
        a store that splits a due backlog among the processes that dispatch whether
        this one will (so that the others count it in from their first page). Nothing
        once started. Raises StoreError; TypeError if *paused* is not a bool."""
        flags(paused=paused)  # ("no" is truthy: it would start paused)
        with self._lock:
            if self._state is SchedulerState.STOPPED:
                self._link.tell_dispatching(not paused)

    def startup(self, *, paused: bool = False) -> list[Event]:
        """Load the stored jobs and mark the scheduler running (or paused); return the
        start events for the driver to emit. Raises ``SchedulerStateError`` when it has
        started already or was shut down."""
        with self._lock:
            if self._state is SchedulerState.SHUTDOWN:
                raise SchedulerStateError("this scheduler was shut down; create a new one")
            if self._state is not SchedulerState.STOPPED:
                raise SchedulerStateError(f"the scheduler is already {self._state.value}")
            try:
                self._runners.claim()  # (an executor serves one running scheduler)
                # (Before the first page: a store that splits a due backlog among the
                # processes that dispatch counts this one in it.)
                self._link.tell_dispatching(not paused)
                self._link.load()
                now = self._clock.now()
                # Last: nothing after it fails, so a failed start leaves no subscription.
                self._link.subscribe(self._wake_driver, now)
            except BaseException:
                # Not started, so no shutdown() is due: leave no file open (it reopens
                # if start is tried again).
                self._store.close()
                raise
            self._link.restart()
            self._state = SchedulerState.PAUSED if paused else SchedulerState.RUNNING
            events = [Event(kind=EventKind.SCHEDULER_STARTED, at=now)]
            if paused:
                events.append(Event(kind=EventKind.SCHEDULER_PAUSED, at=now))
            return events

    def open(self, *, paused: bool = False) -> None:
        """Load the stored jobs and accept dispatch, without a background thread.

        For tests with a :class:`~tickwork.testing.FakeClock` (see
        :func:`tickwork.testing.run_until`) and for programs that call
        :meth:`process_due` from their own loop. ``shutdown()`` closes it.
        """
        self.announce(paused=paused)
        self.measure_clock()
        self.emit(self.startup(paused=paused))

    def begin_shutdown(self) -> bool:
        """Mark the scheduler shut down (nothing is dispatched after this); return
        whether it had started. Raises ``SchedulerStateError`` the second time.

        Nothing an executor holds unstarted starts after the call either: that is
        settled first, without waiting for the lock (which a step going on may hold for
        a while, and whose runs, handed over after, are held too, for teardown)."""
        shut = self._state is SchedulerState.SHUTDOWN
        unstarted = [] if shut else self._runners.take_unstarted()
        with self._lock:
            self._unstarted += unstarted  # (for the teardown of a call made meanwhile)
            if self._state is SchedulerState.SHUTDOWN:
                raise SchedulerStateError("the scheduler has already been shut down")
            started = self._state is not SchedulerState.STOPPED
            self._state = SchedulerState.SHUTDOWN
        return started

    def started_executors(self) -> list[Executor]:
        """The executors that have been started (each at its first run)."""
        return self._runners.started()

    def teardown(self, wait: bool, timeout: float | None) -> list[Event]:
        """Stop executors and close the store (the driver has stopped): runs waiting for
        a free instance and pending retries are handed off to processes sharing the
        store, or reported skipped; runs that end meanwhile are taken in. Returns the
        events, for the driver to emit in its own thread or task."""
        # (Outside the lock: a store may wait for its listening thread to end.)
        self._link.unsubscribe()
        with self._lock:
            now = self._clock.now()
            dropped = self._core.drop_buffers(now, handed_off=self._leave_retries(now))
            # Waiting runs reported skipped release their leases with their history rows.
            self._persist(dropped, now)
        events = list(dropped.events)
        with self._runs_ended(wait, timeout) as (batch, now):
            # Runs that failed while the executors stopped may have scheduled retries:
            # left in the store like the others, or reported skipped.
            self._core.drop_buffers(now, handed_off=self._leave_retries(now), into=batch)
            self._persist(batch, now)
            try:
                self._router.shutdown(now)
            except StoreError as error:
                logger.error("tickwork: could not leave waiting event runs to others: %s", error)
        events += self._tended + batch.events
        self._store.close()
        events.append(Event(kind=EventKind.SCHEDULER_SHUTDOWN, at=self._clock.now()))
        return events

    @property
    def tends(self) -> bool:
        """Whether a shutdown that waits for running jobs looks after the store meanwhile
        (a shared store's leases and records: :meth:`tend`)."""
        return self._link.shared

    def tend(self) -> None:
        """While a shutdown waits for running jobs: renew a shared store's leases, and
        record (and let go of) the runs that end; their events are emitted at the end."""
        with self._lock:
            if not self._closed:
                now, batch = self._clock.now(), Decision()
                self._drain_results(batch, now)
                self._link.upkeep(now, batch, running=False)
                self._persist(batch, now)
                self._tended += batch.events

    def _leave_retries(self, now: datetime) -> frozenset[tuple[str, int, int]]:
        """Pending retries and runs waiting for a free instance left to others: event
        runs' by their event, chained runs' by their hand-over (EventRouter.leave_runs,
        ChainLink.leave), the other claimed runs' in the store."""
        runs = [*self._core.pending_retries(), *((*run, 0) for run in self._core.waiting_runs())]
        carried = self._router.leave_runs(runs, now) | self._chains.leave(runs, now)
        return self._link.hand_off_retries(now) | carried

    def _withdraw(self, stopped: Mapping[str, str], now: datetime, decision: Decision) -> None:
        """(Lock held.) Take back the runs not started yet of the jobs in *stopped*
        (job id -> why: it was paused or removed), from the executors and waiting here;
        each is reported skipped, with that reason, into *decision*."""
        core = self._core
        busy = {job_id: why for job_id, why in stopped.items() if core.busy(job_id)}
        for job_id, why in busy.items():  # (waiting for a free instance, or to retry)
            for scheduled_at, attempt in core.take_queued(job_id):
                core.skipped(decision, job_id, scheduled_at, attempt, now, why)
        if busy:
            for request in self._runners.withdraw(busy):
                core.withdrawn(request, busy[request.job_id], now, decision)

    @contextlib.contextmanager
    def _runs_ended(self, wait: bool, timeout: float | None) -> Iterator[tuple[Decision, datetime]]:
        """Shutting down: leave or report the runs not started yet, stop the executors
        (*wait*, *timeout*), and take in the runs that ended; yields the decision so far
        and the time, with the lock held, for the caller to finish it."""
        self._leave_unstarted()
        self._runners.shutdown(wait, timeout, tend=self.tend if self.tends else None)
        batch = Decision()
        with self._lock:
            # From here on a run that ends is taken in by its own report (_taken); one
            # reported before that is in _results, drained now.
            self._closed = True
            now = self._clock.now()
            self._drain_results(batch, now)
            yield batch, now

    def _leave_unstarted(self) -> None:
        """The runs the executors had not started when shutdown began: left in a shared
        store for another process (or this program's next start) to run, as a handed-off
        retry is; the others are reported ``INTERRUPTED``, as an executor reports what
        it never started."""
        unstarted, self._unstarted = self._unstarted + self._runners.take_unstarted(), []
        if not unstarted:
            return
        with self._lock:
            now = self._clock.now()
            kept = hand_off(self._router, self._chains, self._link, unstarted, now)
            for request, left in zip(unstarted, kept, strict=True):
                if left:
                    self._core.let_go(request)
                else:
                    self._results.append(
                        RunResult(request, Outcome.INTERRUPTED, started_at=None, finished_at=now)
                    )

    def _stop_queued(self, job_id: str, why: str) -> Decision | None:
        """(Lock held.) Take back the runs of *job_id* its executor holds unstarted,
        each reported skipped with *why* and recorded; the decision, for its events
        (None: there were none)."""
        if not self._core.busy(job_id):
            return None
        now = self._clock.now()
        decision = Decision()
        self._withdraw({job_id: why}, now, decision)
        if not decision.events and not decision.history:
            return None
        self._persist(decision, now)
        return decision

    def close_unstarted(self, wait: bool = True, timeout: float | None = None) -> list[Event]:
        """Shutting down a scheduler that never started: close the store (opened by
        ``add_job`` or a lookup before start). Runs started meanwhile
        (``run_job_now`` before ``start``) end as at any shutdown, with *wait* and
        *timeout*, and are recorded; returns their events, for the driver to emit."""
        events: list[Event] = []
        if self._runners.started() or self._unstarted:
            with self._runs_ended(wait, timeout) as (batch, now):
                self._persist(batch, now)
            events = batch.events
        self._store.close()
        return events

    def in_flight(self) -> int:
        """Runs started and not yet applied (after taking in reported results)."""
        batch = Decision()
        with self._lock:
            now = self._clock.now()
            self._drain_results(batch, now)
            self._persist(batch, now)
            count = self._core.in_flight()
        self._apply(batch)
        return count

    # -- events ---------------------------------------------------------------------

    def emit(self, events: list[Event]) -> None:
        """Call the listeners of *events* (in the calling thread)."""
        self._listeners.emit(events)

    def _emit(self, events: list[Event]) -> None:
        held = getattr(self._held, "events", None)
        if held is not None:
            held.extend(events)  # for the driver to emit in its own thread (see held)
            return
        self._listeners.emit(events)
