"""The engine: one synchronous, thread-safe implementation of every scheduler operation.

Both drivers (``Scheduler``, a background thread, and ``AsyncScheduler``, an asyncio
task) wrap this one class, so no scheduling logic exists twice. The engine joins the
pure core (``_core``) to the store, the executors, the listeners and the clock; the
drivers only decide how to wait for :meth:`Engine.process_due`'s next due time.
"""

from __future__ import annotations

import contextlib
import enum
import gc
import logging
import random
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, TypeVar

from ._checks import seconds, whole
from ._clock import Clock, SystemClock
from ._core import Decision, FireDue, RetryDue, SchedulerCore
from ._errors import (
    ConflictingIdError,
    JobLookupError,
    LeaseExpired,
    SchedulerStateError,
    StoreError,
)
from ._events import Event, EventKind, Listener, Listeners
from ._instants import EPOCH as _EPOCH
from ._instants import US as _US
from ._model import (
    Catchup,
    ConflictPolicy,
    Job,
    Outcome,
    Overlap,
    RetryPolicy,
    Run,
    RunEnd,
    RunResult,
    evolve,
)
from ._options import OPTION_NAMES, check_options, options_of
from ._planning import epoch_us, job_next_fire, retry_delay
from ._references import FunctionCache
from ._serialize import fire_zone
from ._shortcuts import coerce_datetime, make_trigger
from ._tz import coerce_timezone
from .executors import Executor
from .stores import JobStore, MemoryStore
from .stores._base import Takeover
from .triggers import DateTrigger, Trigger
from .triggers._base import coerce_enum

if TYPE_CHECKING:
    from ._fluent import JobBuilder

__all__ = ["Engine", "SchedulerState"]

logger = logging.getLogger("tickwork")

F = TypeVar("F", bound=Callable[..., Any])
_UNSET: Any = object()
_REMOVED = int(EventKind.JOB_REMOVED)
_COMPLETIONS = int(EventKind.JOB_EXECUTED | EventKind.JOB_REMOVED)
#: How many fire times ``backfill`` queues at most in one call.
BACKFILL_LIMIT = 10_000
#: Fires claimed in one store transaction at most (with a store shared by processes).
CLAIM_BATCH = 500
#: How long ``history`` waits for the driver to record runs that just ended.
_FLUSH_WAIT = 1.0
#: How long to wait before trying a failing store again.
_STORE_RETRY = timedelta(seconds=1)
#: History rows kept in memory while the store cannot take them.
_UNSAVED_LIMIT = 100_000


def _check_history_query(job_id: object, limit: object) -> None:
    if job_id is not None and not isinstance(job_id, str):
        raise TypeError(f"job_id must be a str or None, got {job_id!r}")
    whole(limit, "limit", minimum=0)


def _earliest(*moments: datetime | None) -> datetime | None:
    found = [moment for moment in moments if moment is not None]
    return min(found, key=epoch_us) if found else None


class SchedulerState(str, enum.Enum):
    """Where a scheduler is in its life."""

    STOPPED = "stopped"
    RUNNING = "running"
    PAUSED = "paused"
    SHUTDOWN = "shutdown"


class Engine:
    """Scheduler operations shared by :class:`~tickwork.Scheduler` and
    :class:`~tickwork.AsyncScheduler`. Every public method is thread-safe."""

    def __init__(
        self,
        *,
        store: JobStore | None = None,
        executors: Mapping[str, Executor] | None = None,
        clock: Clock | None = None,
        timezone: str | tzinfo | None = None,
        max_wait: float = 60.0,
    ) -> None:
        if store is not None and not isinstance(store, JobStore):
            raise TypeError(f"store must be a JobStore, got {type(store).__name__}")
        seconds(max_wait, "max_wait", positive=True, maximum=3600)
        self._lock = threading.RLock()
        self._core = SchedulerCore()
        self._store = store if store is not None else MemoryStore()
        self._clock: Clock = clock if clock is not None else SystemClock()
        if not isinstance(self._clock, Clock):
            raise TypeError(f"clock must provide now/monotonic/wait/wait_async, got {clock!r}")
        self._timezone = coerce_timezone(timezone)
        self._executors: dict[str, Executor] = {}
        if executors is not None and not isinstance(executors, Mapping):
            raise TypeError(f"executors must be a mapping of alias to Executor, got {executors!r}")
        for alias, executor in (executors or self._default_executors()).items():
            if not isinstance(executor, Executor):
                raise TypeError(f"executor {alias!r} must be an Executor, got {executor!r}")
            self._executors[alias] = executor
        if "default" not in self._executors:
            # Only extra executors given (say {"cpu": ProcessExecutor()}): jobs without
            # executor= still need somewhere to run, as when none are given.
            self._executors["default"] = self._default_executors()["default"]
        self._started_executors: set[str] = set()
        self._listeners = Listeners()
        self._state = SchedulerState.STOPPED
        self._max_wait = float(max_wait)
        self._wakeup: Callable[[], None] = lambda: None
        # Events a driver step holds back in this thread (see _step).
        self._held = threading.local()
        self._results: deque[RunResult] = deque()
        self._results_flagged = False
        self._closed = False
        self._core.records = True
        # History rows a failing store could not take yet (kept, retried, never dropped
        # silently), and when the store next wants upkeep (leases) and a change check.
        self._unsaved: list[RunEnd] = []
        self._upkeep_at: datetime | None = None
        self._sync_at: datetime | None = None
        self._store_ok = True
        self._store_events: list[Event] = []  # STORE_ERROR events for the next batch
        self._loaded = False
        self._claim_salt = random.getrandbits(32)  # this process's order of claiming
        self._leftover: list[FireDue] = []  # due fires beyond the last claim batch
        self._contended = False  # another process has claimed a fire this one wanted
        # What process_due last returned: when the driver wakes next on its own.
        self._wake_at: datetime | None = None
        # Whether that is a run's due time (worth waking precisely for) or store upkeep.
        self._wake_for_run = False
        # Stored jobs for executors this process does not have: listed, never claimed.
        self._foreign: set[str] = set()
        # Functions of stored jobs, by reference: imported once, not once per job.
        self._functions = FunctionCache()
        # While add_jobs runs: (job id, job it replaced) for a rollback, and its events.
        self._batch: list[tuple[str, Job | None]] | None = None
        self._batch_events: list[Event] = []
        # Jobs add_jobs stores in one go: (new, replacing an existing one).
        self._batch_writes: tuple[list[Job], list[Job]] = ([], [])

    # -- configuration hooks for the drivers ------------------------------------------

    def _default_executors(self) -> dict[str, Executor]:
        from .executors import ThreadExecutor

        return {"default": ThreadExecutor()}

    def _make_asyncio_executor(self) -> Executor:
        from .executors import AsyncioExecutor

        return AsyncioExecutor()

    # -- properties -------------------------------------------------------------------

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

    # -- adding jobs ------------------------------------------------------------------

    def add_job(
        self,
        func: Callable[..., Any] | str,
        trigger: Trigger | str | None = None,
        *trigger_args: Any,
        id: str | None = None,
        name: str | None = None,
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        executor: str | None = None,
        tags: Iterable[str] | str = (),
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        misfire_grace_time: float | timedelta | None = None,
        catchup: Catchup | str | None = None,
        coalesce: bool | None = None,
        max_catchup: int = 100,
        overlap: Overlap | str | None = None,
        max_instances: int | None = None,
        jitter: float | timedelta | None = None,
        retry: RetryPolicy | int | None = None,
        timeout: float | None = None,
        max_consecutive_failures: int | None = None,
        remaining_runs: int | None = None,
        paused: bool = False,
        pause_note: str | None = None,
        conflict: ConflictPolicy | str = ConflictPolicy.RAISE,
        replace_existing: bool = False,
        run_immediately: bool = False,
        first_fire: datetime | None = None,
        **trigger_kwargs: Any,
    ) -> Job:
        """Schedule *func* on *trigger*; return the new :class:`~tickwork.Job`.

        Args:
            func: a callable, or a ``"package.module:function"`` reference (needed for
                persistent stores and process executors).
            trigger: a trigger object, or ``"cron"`` (an expression, or APScheduler's
                field keywords ``year``, ``month``, ``day``, ``week``, ``day_of_week``,
                ``hour``, ``minute``, ``second``), ``"interval"`` (``weeks`` ...
                ``seconds``; the first run is one interval from now), ``"date"``
                (``run_date``) or ``"calendar"``. Shortcuts also take ``start_date``,
                ``end_date``, ``timezone`` (default: the scheduler's) and ``jitter``.
            id: unique id (default: a random one). name: for logs (default: the
                function's name). args, kwargs: passed to *func*.
            executor: executor alias (default ``"default"``; coroutine functions go to
                ``"asyncio"``). tags: labels for :meth:`get_jobs`.
            start, end: the job fires only within [start, end] (inclusive).
            misfire_grace_time: seconds a run may start late; later ones are missed
                (default None: no limit). catchup: :class:`~tickwork.Catchup` for a
                backlog (default ``"latest"``); ``coalesce=True/False`` is the
                APScheduler spelling of ``"latest"``/``"all"``. max_catchup: cap on
                ``"all"``.
            overlap: :class:`~tickwork.Overlap` when the job is at ``max_instances``
                (default ``"skip"``); max_instances: concurrent runs (default 1; a
                value above 1 implies ``overlap="allow"``).
            jitter: start each run up to this many seconds late, derived from the job
                id and fire time, never past the next fire time.
            retry: a :class:`~tickwork.RetryPolicy`, or a number of attempts.
            timeout: seconds; enforced by the asyncio and process executors, not by
                threads. max_consecutive_failures: pause the job after that many.
            remaining_runs: remove the job after that many scheduled runs.
            paused, pause_note: add the job paused.
            conflict: :class:`~tickwork.ConflictPolicy` for an existing id (default
                ``"raise"``); ``replace_existing=True`` means ``"replace"``. A replaced
                job with the same trigger keeps its next fire time.
            run_immediately: run once now, then on the trigger. first_fire: an explicit
                first fire time instead.

        Raises:
            TypeError, ValueError: a bad argument (the message names it).
            ConflictingIdError: the id exists and the conflict policy is ``"raise"``.
            SchedulerStateError: the scheduler has been shut down.
        """
        with self._lock:
            self._require_open()
            now = self._clock.now()
            resolved, func_ref = self._resolve_func(func)
            spec = make_trigger(trigger, trigger_args, trigger_kwargs, now=now, zone=self._timezone)
            if spec.jitter is not None and jitter is not None:
                raise TypeError("jitter was given twice (as a job option and a trigger keyword)")
            policy = coerce_enum(ConflictPolicy, conflict, "conflict")
            if replace_existing:
                if policy is ConflictPolicy.KEEP:
                    raise TypeError("replace_existing=True contradicts conflict='keep'")
                policy = ConflictPolicy.REPLACE
            job_id = id if id is not None else uuid.uuid4().hex
            if not isinstance(job_id, str):
                raise TypeError(f"id must be a str, got {type(job_id).__name__} {job_id!r}")
            if not job_id:
                raise ValueError("id must be a non-empty str, got ''")
            if not isinstance(paused, bool):
                raise TypeError(f"paused must be a bool, got {paused!r}")
            if pause_note is not None and not isinstance(pause_note, str):
                raise TypeError(f"pause_note must be a str, got {pause_note!r}")
            # add_job's own parameters are the options: check_options reads them by the
            # names of its table (tests hold this signature to that table).
            given = locals()
            if spec.jitter is not None:  # given as a trigger keyword instead
                given["jitter"] = spec.jitter
            options = self._options(given, resolved, func_ref)
            job = Job(
                id=job_id,
                func=resolved,
                func_ref=func_ref,
                trigger=spec.trigger,
                paused=paused,
                pause_note=pause_note if paused else None,
                **options,
            )
            if first_fire is not None:
                when = coerce_datetime(first_fire, "first_fire")
                if run_immediately:
                    raise TypeError("give run_immediately or first_fire, not both")
            else:
                when = now if run_immediately else self._first_fire(job, now)
                if when is None and isinstance(job.trigger, DateTrigger):
                    # A one-off time already past: due now, late; the misfire grace decides.
                    when = job.trigger.run_at
                if when is None:
                    raise ValueError(
                        f"job {job_id!r} would never run: {job.trigger!r} has no fire time at "
                        f"or after {now.isoformat()}"
                        + (" within the job's start/end" if job.start or job.end else "")
                    )
            object.__setattr__(job, "next_fire", when)  # a record no one has seen yet
            job, event_kind = self._store_new(
                job, policy, spec.defaulted_start, first_fire, run_immediately
            )
            if event_kind is None:  # ConflictPolicy.KEEP
                return self._attach(job)
            if self._batch is not None:
                self._batch.append((job_id, self._core.get(job_id)))
            self._core.put(job)
            events = (
                [Event(kind=event_kind, at=now, job_id=job_id, scheduled_at=job.next_fire)]
                if self._core.wants & event_kind
                else []
            )
            if self._batch is not None:
                self._batch_events += events
                return self._attach(job)
            # Wake the driver only if the new job is due before it next wakes anyway: a
            # program adding thousands of jobs should not make it re-plan thousands of
            # times.
            wake = self._state is SchedulerState.RUNNING and (
                self._wake_at is None
                or job.next_fire is None
                or epoch_us(job.next_fire) < epoch_us(self._wake_at)
            )
        self._emit(events)
        if wake:
            self._wakeup()
        return self._attach(job)

    def _store_new(
        self,
        job: Job,
        policy: ConflictPolicy,
        defaulted_start: bool,
        first_fire: datetime | None,
        run_immediately: bool,
    ) -> tuple[Job, EventKind | None]:
        """Store a new job under the conflict policy (lock held).

        Returns the job as stored and the event kind (None: an existing job was kept).
        With a shared store, the stored record is the one that counts: another process
        may have claimed fires of the job since this one read it, and a replacement that
        kept an older next fire time would run those fires again.
        """
        existing = self._core.get(job.id)
        # With a shared store, look the job up there (a plain add lets the insert find a
        # conflict), reading and writing in one transaction so no claim slips in between.
        stored = self._store.persistent and (
            existing is not None or policy is not ConflictPolicy.RAISE
        )
        with self._store.transaction() if stored else contextlib.nullcontext():
            return self._store_over(
                job,
                policy,
                defaulted_start,
                first_fire,
                run_immediately,
                existing=existing,
                stored=stored,
            )

    def _store_over(
        self,
        job: Job,
        policy: ConflictPolicy,
        defaulted_start: bool,
        first_fire: datetime | None,
        run_immediately: bool,
        *,
        existing: Job | None = None,
        stored: bool = False,
    ) -> tuple[Job, EventKind | None]:
        job_id = job.id
        if stored:
            try:
                existing = self._store.get_job(job_id)
            except JobLookupError:
                existing = None  # none, or a broken record that REPLACE overwrites
            if existing is not None and existing.func is None:
                existing = self._loadable(existing) or existing
        event_kind = EventKind.JOB_ADDED
        if existing is not None:
            if policy is ConflictPolicy.RAISE:
                raise ConflictingIdError(
                    f"a job with id {job_id!r} already exists; pass replace_existing=True "
                    "or conflict='keep'"
                )
            if policy is ConflictPolicy.KEEP:
                return existing, None
            job = self._keep_schedule(existing, job, defaulted_start, first_fire, run_immediately)
            event_kind = EventKind.JOB_MODIFIED
        # (REPLACE also overwrites a stored row that could not be loaded: a broken job.)
        replace = existing is not None or policy is ConflictPolicy.REPLACE
        if self._batch is not None:
            self._batch_writes[replace].append(job)  # written together by add_jobs
            return job, event_kind
        try:
            self._store.add_job(job, replace=replace)
        except ConflictingIdError:
            # Stored by another process (RAISE does not look first: the insert does).
            raise ConflictingIdError(
                f"a job with id {job_id!r} already exists; pass replace_existing=True "
                "or conflict='keep'"
            ) from None
        return job, event_kind

    def add_jobs(self, jobs: Iterable[Mapping[str, Any]]) -> list[Job]:
        """Add several jobs at once, in one store transaction: all of them, or none.

        Each item holds the arguments of one :meth:`add_job` call (``func``,
        ``trigger`` and any options)::

            scheduler.add_jobs(
                {"func": "reports:send", "trigger": "cron", "hour": 9, "id": f"r{n}"}
                for n in range(1000)
            )

        If any job is refused, the error is raised and none of them is added. With a
        file store this is many times faster than adding the jobs one by one.
        """
        entries = list(jobs)
        for index, entry in enumerate(entries):
            if not isinstance(entry, Mapping):
                raise TypeError(
                    f"jobs[{index}] must be a mapping of add_job arguments, got "
                    f"{type(entry).__name__}"
                )
        with self._lock:
            self._require_open()
            if self._batch is not None:
                raise RuntimeError("add_jobs cannot be called from inside add_jobs")
            self._batch, self._batch_events = [], []
            self._batch_writes = ([], [])
            try:
                with self._store.transaction():
                    added = [self.add_job(**entry) for entry in entries]
                    new, replaced = self._batch_writes
                    if new:
                        self._store.add_jobs(new)
                    if replaced:
                        self._store.add_jobs(replaced, replace=True)
            except BaseException:
                for job_id, previous in reversed(self._batch):
                    if previous is None:
                        self._core.discard(job_id)
                    else:
                        self._core.put(previous)
                raise
            finally:
                events, self._batch, self._batch_events = self._batch_events, None, []
                self._batch_writes = ([], [])
        self._emit(events)
        self._wakeup()
        return added

    def _first_fire(self, job: Job, now: datetime) -> datetime | None:
        """The job's first fire time at or after *now*; TriggerError if its trigger raises."""
        return job_next_fire(job, now - _US)

    @staticmethod
    def _keep_schedule(
        existing: Job,
        job: Job,
        defaulted_start: bool,
        first_fire: datetime | None,
        run_immediately: bool,
    ) -> Job:
        """Replacing a job with the same trigger keeps its next fire time and failures."""
        if first_fire is not None or run_immediately:
            return job
        same = existing.trigger == job.trigger
        defaulted_start = defaulted_start or getattr(job.trigger, "_from_now", False)
        if not same and defaulted_start and type(existing.trigger) is type(job.trigger):
            old = {**existing.trigger.to_dict(), "start": None}
            new = {**job.trigger.to_dict(), "start": None}
            same = old == new
        if not same:
            return job
        return evolve(
            job,
            trigger=existing.trigger,
            next_fire=existing.next_fire,
            consecutive_failures=existing.consecutive_failures,
        )

    def _function(self, reference: str) -> Callable[..., Any]:
        """The function a ``"module:qualname"`` reference names, imported once."""
        return self._functions(reference)

    def _resolve_func(
        self, func: Callable[..., Any] | str
    ) -> tuple[Callable[..., Any], str | None]:
        return self._functions.resolve(func)

    def _options(
        self,
        given: Mapping[str, Any],
        func: Callable[..., Any],
        func_ref: str | None,
    ) -> dict[str, Any]:
        """Validate job options; return them as ``Job`` fields. Errors name the option."""
        return check_options(
            given,
            func=func,
            func_ref=func_ref,
            executors=self._executors,
            make_asyncio=self._add_asyncio_executor,
        )

    def _add_asyncio_executor(self) -> Executor:
        # The "asyncio" executor, made when the first coroutine job needs it (see
        # check_options), and kept like a configured one.
        executor = self._executors["asyncio"] = self._make_asyncio_executor()
        return executor

    # -- decorators -------------------------------------------------------------------

    def scheduled_job(
        self, trigger: Trigger | str, *trigger_args: Any, **options: Any
    ) -> Callable[[F], F]:
        """Decorator form of :meth:`add_job`, as APScheduler users write it."""

        def decorate(func: F) -> F:
            self.add_job(func, trigger, *trigger_args, **options)
            return func

        return decorate

    def cron(self, expression: str | None = None, /, **options: Any) -> Callable[[F], F]:
        """``@scheduler.cron("0 9 * * mon-fri")``: run the function on a cron schedule."""
        if expression is None:
            return self.scheduled_job("cron", **options)
        return self.scheduled_job("cron", expression, **options)

    def interval(self, **options: Any) -> Callable[[F], F]:
        """``@scheduler.interval(minutes=5)``: run the function at a fixed interval."""
        return self.scheduled_job("interval", **options)

    def at(self, when: datetime | str, /, **options: Any) -> Callable[[F], F]:
        """``@scheduler.at(datetime(...))``: run the function once at an aware datetime."""
        return self.scheduled_job("date", when, **options)

    def every(self, interval: float = 1) -> JobBuilder:
        """Start a fluent chain, as ``schedule`` spells it: ``scheduler.every(10).minutes.do(job)``.

        The chain builds an ordinary trigger and calls :meth:`add_job`; see
        :class:`~tickwork.JobBuilder` and ``docs/fluent.md``.

        Raises:
            ValueError: *interval* is not positive. TypeError: it is not a number.
        """
        from ._fluent import _builder

        return _builder(self, interval)

    # -- reading ----------------------------------------------------------------------

    def get_job(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        with self._lock:
            job = self._find(job_id)
        return None if job is None else self._attach(job)

    def get_jobs(self, tag: str | None = None, *, paused: bool | None = None) -> list[Job]:
        """All jobs (with *tag*, and paused or not if asked), by next fire time then id."""
        with self._lock:
            self._load_early()
            jobs = self._core.jobs()
        if tag is not None:
            jobs = [job for job in jobs if tag in job.tags]
        if paused is not None:
            jobs = [job for job in jobs if job.paused is paused]
        jobs.sort(
            key=lambda job: (
                job.next_fire is None,
                0 if job.next_fire is None else epoch_us(job.next_fire),
                job.id,
            )
        )
        return [self._attach(job) for job in jobs]

    def next_fire_times(self, job_id: str, count: int = 5) -> list[datetime]:
        """Preview a job's next *count* fire times (a paused job: as if resumed now).

        Raises ``TriggerError``, naming the job and the trigger's error, when its
        trigger raises instead of giving a time.
        """
        whole(count, "count", minimum=0)
        with self._lock:
            job = self._job(job_id)
            first = job.next_fire
            if job.paused or first is None:
                first = self._first_fire(job, self._clock.now())
        times: list[datetime] = []
        while first is not None and len(times) < count:
            times.append(first)
            first = job_next_fire(job, first)
        if job.remaining_runs is not None:
            times = times[: job.remaining_runs]
        return times

    def history(self, job_id: str | None = None, *, limit: int = 100) -> list[Run]:
        """The newest recorded runs, newest first: of one job, or of all jobs.

        Every run is recorded when it ends (success, failure, interrupted), as is every
        scheduled fire that did not run (missed, skipped). A store shared between
        processes records the runs of all of them. How much is kept depends on the
        store (``MemoryStore(history=...)``, ``SQLiteStore(history_per_job=...,
        history_days=...)``).
        """
        _check_history_query(job_id, limit)
        if self._results:
            # Runs that ended but are not taken in yet (a clean run does not wake the
            # driver): have them recorded first. A driver thread takes them in, so their
            # events reach listeners in its thread as always; without one, do it here.
            if self._driver_running():
                self._request_flush()
                deadline = time.monotonic() + _FLUSH_WAIT
                while self._results and time.monotonic() < deadline:
                    time.sleep(0.0005)
            else:
                self._take_results()
        return self._store.history(job_id, limit=limit)

    def _driver_running(self) -> bool:
        """Whether a driver thread or task takes in results (the drivers override it)."""
        return False

    def _request_flush(self) -> None:
        """Make the driver take in waiting results now."""
        self._results_flagged = True
        self._wakeup()

    def broken_jobs(self) -> dict[str, str]:
        """Stored jobs that cannot be loaded (a function that no longer imports, a
        corrupt row), with the reason for each. They are kept in the store, not run."""
        return self._store.broken_jobs()

    # -- changing jobs ----------------------------------------------------------------

    def modify_job(self, job_id: str, **changes: Any) -> Job:
        """Change options of a job (any ``add_job`` option except the trigger and id).

        Use :meth:`reschedule_job` to change the trigger. Raises ``JobLookupError`` for
        an unknown id and ``TypeError`` for an option that cannot be changed.
        """
        unknown = set(changes) - OPTION_NAMES
        if unknown:
            raise TypeError(
                f"cannot modify {', '.join(sorted(unknown))} (changeable: "
                f"{', '.join(sorted(OPTION_NAMES))}; use reschedule_job for the trigger)"
            )
        with self._lock:
            self._require_open()
            job = self._job(job_id)
            func, func_ref = job.func, job.func_ref
            if "func" in changes:
                func, func_ref = self._resolve_func(changes.pop("func"))
            assert func is not None
            options = self._options(options_of(job, changes), func, func_ref)
            before = job
            job = evolve(job, func=func, func_ref=func_ref, **options)
            if job.start is not None or job.end is not None:
                now = self._clock.now()
                if job.next_fire is None or not self._within(job, job.next_fire):
                    job = evolve(job, next_fire=self._first_fire(job, now))
                    if job.next_fire is None and not job.paused:
                        raise ValueError(
                            f"job {job_id!r} would never run again with start={job.start} "
                            f"and end={job.end}; nothing was changed"
                        )
            schedule = (
                job.next_fire is not before.next_fire or job.remaining_runs != before.remaining_runs
            )
            saved = self._save(job, EventKind.JOB_MODIFIED, schedule=schedule)
        return self._saved(saved)

    @staticmethod
    def _within(job: Job, moment: datetime) -> bool:
        at = epoch_us(moment)
        return (job.start is None or at >= epoch_us(job.start)) and (
            job.end is None or at <= epoch_us(job.end)
        )

    def reschedule_job(
        self, job_id: str, trigger: Trigger | str, *trigger_args: Any, **trigger_kwargs: Any
    ) -> Job:
        """Give a job a new trigger; its next fire time is recomputed from now."""
        with self._lock:
            self._require_open()
            job = self._job(job_id)
            now = self._clock.now()
            spec = make_trigger(trigger, trigger_args, trigger_kwargs, now=now, zone=self._timezone)
            job = evolve(job, trigger=spec.trigger, jitter=spec.jitter or job.jitter)
            job = evolve(job, next_fire=self._first_fire(job, now))
            if job.next_fire is None and isinstance(job.trigger, DateTrigger):
                job = evolve(job, next_fire=job.trigger.run_at)
            if job.next_fire is None:
                raise ValueError(
                    f"job {job_id!r} would never run: {job.trigger!r} has no fire time at or "
                    f"after {now.isoformat()}; nothing was changed"
                )
            saved = self._save(job, EventKind.JOB_MODIFIED)
        return self._saved(saved)

    def pause_job(self, job_id: str, note: str | None = None) -> Job:
        """Stop a job from firing until :meth:`resume_job`; *note* says why."""
        if note is not None and not isinstance(note, str):
            raise TypeError(f"note must be a str, got {note!r}")
        with self._lock:
            self._require_open()
            job = evolve(self._job(job_id), paused=True, pause_note=note)
            saved = self._save(job, EventKind.JOB_PAUSED, reason=note, schedule=False)
        return self._saved(saved)

    def resume_job(self, job_id: str) -> Job:
        """Let a paused job fire again, from its first fire time at or after now.

        Fire times that passed while it was paused are not caught up: pausing means
        "do not run". (Pausing the whole scheduler is different: see :meth:`pause`.)
        """
        with self._lock:
            self._require_open()
            job = self._job(job_id)
            job = evolve(job, paused=False, pause_note=None, consecutive_failures=0)
            now = self._clock.now()
            job = evolve(job, next_fire=self._first_fire(job, now))
            if job.next_fire is None:
                # Nothing left to fire (a one-off time passed while paused): it is done.
                self._store.remove_job(job_id)
                self._core.discard(job_id)
                removed = Event(
                    kind=EventKind.JOB_REMOVED,
                    at=now,
                    job_id=job_id,
                    reason="resumed with no fire time left",
                )
                saved = None
            else:
                saved = self._save(job, EventKind.JOB_RESUMED)
        if saved is None:
            self._emit([removed])
            return self._attach(job)
        return self._saved(saved)

    def remove_job(self, job_id: str) -> None:
        """Remove a job. Its runs in progress finish; its pending retries are dropped."""
        with self._lock:
            self._require_open()
            if job_id not in self._core and self._store.persistent:
                # Stored by another process and not seen here yet, or broken: the
                # store knows it (and raises JobLookupError if it does not).
                self._store.remove_job(job_id)
            else:
                self._job(job_id)
                self._store.remove_job(job_id)
            self._core.discard(job_id)
            event = Event(kind=EventKind.JOB_REMOVED, at=self._clock.now(), job_id=job_id)
        self._emit([event])

    def remove_all_jobs(self) -> None:
        """Remove every job."""
        for job in self.get_jobs():
            self.remove_job(job.id)

    def run_job_now(self, job_id: str) -> None:
        """Run a job once now, outside its schedule (its schedule is unchanged).

        ``current_run().scheduled_at`` is the moment of the call. If the job is at
        ``max_instances`` the run waits for a free slot; it is never skipped.
        """
        with self._lock:
            self._require_open()
            self._job(job_id)
            now = self._clock.now()
            decision = self._core.run_now(job_id, now, now)
        self._apply(decision)
        self._take_results()

    def backfill(self, job_id: str, start: datetime, end: datetime) -> int:
        """Run a job for every fire time of its trigger in [start, end]; return how many.

        The runs keep their nominal ``scheduled_at`` (so idempotency keys match a normal
        run) and start oldest first, as ``max_instances`` allows. Raises ``ValueError``
        when the range holds more than 10,000 fire times.
        """
        first = coerce_datetime(start, "start")
        last = coerce_datetime(end, "end")
        assert first is not None
        assert last is not None
        if epoch_us(last) < epoch_us(first):
            raise ValueError(f"end {last} is before start {first}")
        with self._lock:
            self._require_open()
            job = self._job(job_id)
            times: list[datetime] = []
            moment = job_next_fire(job, first - _US, bounded=False)
            while moment is not None and epoch_us(moment) <= epoch_us(last):
                if len(times) >= BACKFILL_LIMIT:
                    raise ValueError(
                        f"backfill of {job_id!r} from {first} to {last} has more than "
                        f"{BACKFILL_LIMIT} fire times; split the range"
                    )
                times.append(moment)
                moment = job_next_fire(job, moment, bounded=False)
            now = self._clock.now()
            decision = Decision()
            for scheduled_at in times:
                part = self._core.run_now(job_id, scheduled_at, now)
                decision.requests.extend(part.requests)
                decision.events.extend(part.events)
        self._apply(decision)
        self._take_results()
        return len(times)

    # -- the whole scheduler ----------------------------------------------------------

    def pause(self) -> None:
        """Stop dispatching. Jobs keep their schedules; runs that come due meanwhile are
        handled by each job's misfire and catch-up policy on :meth:`resume`."""
        with self._lock:
            if self._state is not SchedulerState.RUNNING:
                raise SchedulerStateError(f"cannot pause a scheduler that is {self._state.value}")
            self._state = SchedulerState.PAUSED
            event = Event(kind=EventKind.SCHEDULER_PAUSED, at=self._clock.now())
        self._emit([event])

    def resume(self) -> None:
        """Start dispatching again after :meth:`pause`."""
        with self._lock:
            if self._state is not SchedulerState.PAUSED:
                raise SchedulerStateError(f"cannot resume a scheduler that is {self._state.value}")
            self._state = SchedulerState.RUNNING
            event = Event(kind=EventKind.SCHEDULER_RESUMED, at=self._clock.now())
        self._emit([event])
        self._wakeup()

    def add_listener(self, callback: Listener, mask: EventKind = EventKind.ALL) -> None:
        """Call *callback(event)* for every event whose kind is in *mask*.

        Events of runs (submitted, executed, failed, missed...) reach listeners in the
        scheduler's thread (or, for ``AsyncScheduler``, its task); events caused by a
        call (``add_job``, ``pause_job``...) in the calling thread. Keep listeners quick.
        One that raises is logged and ignored.
        """
        self._listeners.add(callback, mask)
        with self._lock:
            self._core.wants = int(self._listeners.mask)

    def remove_listener(self, callback: Listener) -> None:
        """Stop calling *callback*. Raises ``LookupError`` if it was not added."""
        self._listeners.remove(callback)
        with self._lock:
            self._core.wants = int(self._listeners.mask)

    # -- the dispatch step ------------------------------------------------------------

    def process_due(self) -> datetime | None:
        """Take in finished runs, dispatch everything due now; return when something is next due.

        The drivers call this; tests with a :class:`~tickwork.testing.FakeClock` may too
        (see ``tickwork.testing``), as may programs that run their own loop after
        :meth:`open`. Dispatches nothing unless the scheduler is running.
        """
        dispatch = True
        while True:
            batch = Decision()
            with self._lock:
                self._results_flagged = False
                now = self._clock.now()
                self._drain_results(batch, now)
                if self._store.persistent:
                    self._upkeep(now, batch)
                running = self._state is SchedulerState.RUNNING
                if running and dispatch and self._store_ok:
                    self._dispatch(self._core.pop_due(now, batch), now, batch)
                self._persist(batch, now)
                if self._store_events:
                    batch.events += self._store_events
                    self._store_events = []
                upcoming = self._wake_at = self._next_wakeup()
            self._apply(batch)
            # Runs that ended during the call (an inline executor) are taken in too, so
            # their buffered runs start; what falls due meanwhile waits for the next call.
            dispatch = False
            if not self._results:
                return upcoming

    def _next_wakeup(self) -> datetime | None:
        """When :meth:`process_due` next has something to do (lock held): the next due
        run, or the store's next upkeep; only the upkeep while the store is failing."""
        upcoming = self._next_dispatch()
        self._wake_for_run = upcoming is not None
        if not self._store.persistent or not self._store_ok:
            return upcoming
        wake = _earliest(upcoming, self._upkeep_at, self._sync_at)
        self._wake_for_run = wake is upcoming
        return wake

    def _next_dispatch(self) -> datetime | None:
        """When something is next due to dispatch (lock held); None when not running."""
        if self._state is not SchedulerState.RUNNING:
            return None
        if not self._store_ok:
            return self._upkeep_at  # nothing is claimed until the store answers
        if self._leftover:
            return self._clock.now()
        return self._core.next_due()

    def _waiting_fires(self) -> list[FireDue]:
        """Fires left over from the last claim batch that are still current (lock held).
        One that another process claimed meanwhile has been replaced by its newer state
        (a new generation) and is dropped."""
        if not self._leftover:
            return []
        current = self._core.generation
        waiting = [fire for fire in self._leftover if current(fire.job_id) == fire.generation]
        self._leftover = []
        return waiting

    def _take_results(self) -> None:
        """Apply results that are already in (an inline executor) without dispatching."""
        while self._results:
            batch = Decision()
            with self._lock:
                self._results_flagged = False
                now = self._clock.now()
                self._drain_results(batch, now)
                self._persist(batch, now)
            self._apply(batch)

    def _dispatch(self, due: list[FireDue | RetryDue], now: datetime, batch: Decision) -> None:
        """Claim the due fires in the store (one batch), then apply them (lock held)."""
        if self._foreign:
            # Fires of jobs for an executor this process lacks are left to the processes
            # that have it (not claimed, so not lost).
            due = [item for item in due if item.job_id not in self._foreign]
        fires = [item for item in due if isinstance(item, FireDue)]
        waiting = self._waiting_fires()
        if self._contended and len(fires) + len(waiting) > CLAIM_BATCH:
            # Other processes race for the same due fires (a claim was lost to one).
            # Each claims a batch in an order of its own, so they mostly claim different
            # fires and share the work; the rest wait, planned already and in that
            # order, for the next step, moments later. (Alone, a process claims all at
            # once: batches would only slow it down.)
            salt = self._claim_salt
            fires.sort(key=lambda fire: zlib.crc32(fire.job_id.encode(), salt))
            fires = waiting + fires
            self._leftover = fires[CLAIM_BATCH:]
            fires = fires[:CLAIM_BATCH]
            # The claim results below pair with the fires in this order.
            due = [*(item for item in due if isinstance(item, RetryDue)), *fires]
        elif waiting:
            due = [*waiting, *due]
            fires = waiting + fires
        try:
            claimed = iter(
                self._store.claim_fires(
                    [
                        (f.job_id, f.nominal, f.plan.next_fire, f.remaining_runs, f.plan.runs)
                        for f in fires
                    ],
                    now=now,
                )
                if fires
                else ()
            )
        except StoreError as error:
            # Nothing was claimed, so nothing runs; the fires stay due and are tried again.
            logger.error("tickwork: could not claim %d due run(s): %s", len(fires), error)
            self._core.requeue(due)
            self._store_failed(now, error)
            return
        core = self._core
        lost = []
        for item in due:
            if isinstance(item, FireDue):
                elsewhere = next(claimed)
                if elsewhere is not None:
                    core.commit_fire(item, now, batch, elsewhere=elsewhere)
                else:
                    lost.append(item.job_id)
            else:
                core.commit_retry(item, now, batch)
        if lost:
            self._contended = True
            self._after_lost_claims(lost, now)

    def _after_lost_claims(self, job_ids: list[str], now: datetime) -> None:
        """Another process claimed these fires first: take the jobs as they are now.

        With a shared store, one read of everything that changed (which holds them)
        is far cheaper than a read per job when another process took a whole batch.
        """
        fresh: set[str] = set()
        if self._store.persistent:
            try:
                fresh = self._take_changes()
            except StoreError as error:
                logger.error("tickwork: could not read other processes' changes: %s", error)
                self._store_failed(now, error)
                return
        for job_id in job_ids:
            if job_id not in fresh:
                self._reload(job_id, now)

    def _drain_results(self, batch: Decision, now: datetime) -> None:
        """Apply the results executors reported since last time (lock held)."""
        results = self._results
        core = self._core
        while results:
            result = results.popleft()
            if result.outcome is Outcome.FAILURE:
                error = result.exception
                logger.error(
                    "tickwork: job %r (scheduled %s, attempt %d) failed: %s",
                    result.request.job_id,
                    result.request.scheduled_at.isoformat(),
                    result.request.attempt,
                    f"{type(error).__name__}: {error}",
                    exc_info=error if isinstance(error, BaseException) else None,
                )
            core.finished(result, result.finished_at or now, batch)

    def _reload(self, job_id: str, now: datetime) -> None:
        """Take one job as the store has it now (after a lost claim)."""
        try:
            fresh: Job | None = self._store.get_job(job_id)
        except JobLookupError:
            fresh = None
        except StoreError as error:
            logger.error("tickwork: could not reload job %r: %s", job_id, error)
            self._store_failed(now, error)
            return
        if fresh is not None:
            fresh = self._loadable(fresh)
        self._core.refresh(fresh, job_id)

    def _store_failed(self, now: datetime, error: StoreError) -> None:
        """Stop dispatching until the store answers again (lock held): a run must not
        start without a claim that other processes can see. The first failure after
        the store last answered is reported with a ``STORE_ERROR`` event."""
        if self._store_ok:
            self._store_events.append(
                Event(kind=EventKind.STORE_ERROR, at=now, exception=error, reason=str(error))
            )
        self._store_ok = False
        self._upkeep_at = now + _STORE_RETRY

    def _upkeep(self, now: datetime, batch: Decision) -> None:
        """Take in other processes' changes and look after leases, when due (lock held)."""
        store = self._store
        try:
            if store.poll_interval is not None and (self._sync_at is None or now >= self._sync_at):
                self._sync_at = now + timedelta(seconds=store.poll_interval)
                self._take_changes()
            if self._upkeep_at is None or now >= self._upkeep_at:
                # A paused scheduler renews its own leases but takes over no one's runs:
                # it would hold them without running them.
                upkeep = store.maintain(now, take_over=self._state is SchedulerState.RUNNING)
                self._upkeep_at = upkeep.next_at
                for job_id, scheduled_at in upkeep.lost:
                    dropped = self._core.forget_run(job_id, scheduled_at)
                    logger.error(
                        "tickwork: lost the claim on job %r scheduled %s to another process "
                        "(this one could not renew it in time); %d waiting run(s) dropped",
                        job_id,
                        scheduled_at.isoformat(),
                        dropped,
                    )
                for taken in upkeep.taken:
                    self._take_over(taken, now, batch)
                self._store_ok = True
        except StoreError as error:
            logger.error("tickwork: store upkeep failed: %s", error)
            self._store_failed(now, error)

    def _take_changes(self) -> set[str]:
        """Apply the jobs other processes added, changed or removed since the last look
        (lock held); return their ids. Raises StoreError."""
        changed = self._store.sync()
        if changed is None:
            return set()
        jobs, removed = changed
        core = self._core
        for job in jobs:
            loaded = self._loadable(job)
            if loaded is None:
                core.discard(job.id)
            else:
                core.put(loaded)
        for job_id in removed:
            core.discard(job_id)
        return {job.id for job in jobs}.union(removed)

    def _take_over(self, taken: Takeover, now: datetime, batch: Decision) -> None:
        """A run cut off when its process died: record it, and retry it if the job's
        retry policy says so (lock held)."""
        job = self._core.get(taken.job_id)
        if job is not None:
            # The store keeps instants; the run gets its time in the trigger's zone.
            taken = taken._replace(
                scheduled_at=taken.scheduled_at.astimezone(fire_zone(job.trigger))
            )
        if taken.handed_off:
            # A retry another process left when it shut down, now due: run it here.
            if self._core.schedule_retry(
                taken.job_id, taken.scheduled_at, taken.attempt, epoch_us(now)
            ):
                return
            reason = "its job no longer exists"
            self._core.skipped(batch, taken.job_id, taken.scheduled_at, taken.attempt, now, reason)
            return
        error = LeaseExpired(
            f"the run of job {taken.job_id!r} scheduled {taken.scheduled_at.isoformat()} "
            f"(attempt {taken.attempt}) was cut off: process {taken.owner} "
            + ("died" if taken.dead else "stopped renewing its lease")
        )
        policy = None if job is None else job.retry
        final = True
        kind = EventKind.JOB_INTERRUPTED
        reason = "its process died" if taken.dead else "its process stopped renewing the lease"
        if (
            policy is not None
            and taken.attempt < policy.attempts
            and isinstance(error, policy.retry_on)
        ):
            delay = retry_delay(policy, taken.job_id, taken.scheduled_at, taken.attempt)
            due_us = epoch_us(now) + round(delay * 1_000_000)
            if self._core.schedule_retry(
                taken.job_id, taken.scheduled_at, taken.attempt + 1, due_us
            ):
                final = False
                kind = EventKind.JOB_RETRIED
                reason = f"{reason}; retrying in {delay:.3g} s"
        logger.warning("tickwork: %s (%s)", error, "retrying" if not final else "not retried")
        done = final and job is not None and job.next_fire is None and not job.paused
        if done and self._core.discard(taken.job_id) is not None:
            # Its last fire, cut off and not retried: the job is done.
            batch.removes.append(taken.job_id)
        batch.ends.append(
            RunEnd(
                taken.job_id,
                taken.scheduled_at,
                taken.attempt,
                Outcome.INTERRUPTED,
                now,
                None,
                error,
                reason,
                final,
            )
        )
        batch.events.append(
            Event(
                kind=kind,
                at=now,
                job_id=taken.job_id,
                scheduled_at=taken.scheduled_at,
                attempt=taken.attempt,
                exception=error,
                reason=reason,
            )
        )

    def _loadable(self, job: Job) -> Job | None:
        """*job* with its function imported, or None (and the job marked broken)."""
        if job.func is not None or not job.func_ref:
            return job
        try:
            func = self._function(job.func_ref)
            # A record fresh from the store that no one has seen: set, don't copy (this
            # runs for every job at start-up).
            if job.executor not in self._executors:
                if job.id not in self._foreign:
                    self._foreign.add(job.id)
                    logger.warning(
                        "tickwork: job %r runs on executor %r, which this process does not "
                        "have; its fires are left to processes that do",
                        job.id,
                        job.executor,
                    )
            else:
                self._foreign.discard(job.id)
            if not self._store.persistent:
                return evolve(job, func=func)  # the store's own record: copy
            object.__setattr__(job, "func", func)
            return job
        except Exception as error:  # an import can raise anything
            reason = f"its function cannot be imported: {error}"
            try:
                self._store.mark_broken(job.id, reason)
            except StoreError as store_error:
                logger.error("tickwork: job %r is broken (%s): %s", job.id, reason, store_error)
            return None

    def _persist(self, decision: Decision, now: datetime) -> None:
        """Write the decision's job changes and run history to the store (lock held).

        A store that fails here (disk full, read-only) is reported; the history rows are
        kept in memory and written with a later batch.
        """
        store = self._store
        ends = decision.ends
        if self._unsaved:
            ends[:0] = self._unsaved
            self._unsaved = []
        if decision.removes:
            # A job done firing keeps its record while a run of it is going: if this
            # process dies, the one that takes the run over needs its retry policy.
            core = self._core
            decision.removes = [job_id for job_id in decision.removes if not core.busy(job_id)]
        if not (decision.stores or decision.removes or ends):
            return
        removed_event = bool(self._core.wants & _REMOVED)
        try:
            with store.transaction():
                for job in decision.stores:
                    # The fire state (next fire, remaining runs) belongs to the claims,
                    # which another process may have moved since: keep the stored one.
                    with contextlib.suppress(JobLookupError):  # removed meanwhile
                        store.update_job(job, schedule=False)
                if decision.removes:
                    store.remove_jobs(decision.removes)
                if ends:
                    store.record_runs(ends, now=now)
        except StoreError as error:
            logger.error("tickwork: could not save run results: %s", error)
            if len(ends) > _UNSAVED_LIMIT:
                logger.error(
                    "tickwork: %d history row(s) dropped: the store has failed for too long",
                    len(ends) - _UNSAVED_LIMIT,
                )
            self._unsaved = ends[-_UNSAVED_LIMIT:]
            self._store_failed(now, error)
        if removed_event:
            decision.events.extend(
                Event(
                    kind=EventKind.JOB_REMOVED, at=now, job_id=job_id, reason="no fire times left"
                )
                for job_id in decision.removes
            )
        decision.stores.clear()
        decision.removes.clear()
        decision.ends = []

    def _apply(self, decision: Decision) -> None:
        """Submit the decision's runs, log its errors and emit its events (outside the lock)."""
        for message, error in decision.errors:
            logger.error("tickwork: %s", message, exc_info=error)
        decision.errors.clear()
        if decision.requests:
            by_executor: dict[str, list[Any]] = {}
            for alias, request in decision.requests:
                by_executor.setdefault(alias, []).append(request)
            for alias, requests in by_executor.items():
                try:
                    executor = self._executor(alias)
                except KeyError:
                    # A job stored by a process configured with more executors.
                    error = LookupError(
                        f"no executor named {alias!r} in this process (it has "
                        f"{', '.join(sorted(self._executors))}); configure the same executors "
                        "in every process that shares a store"
                    )
                    logger.error("tickwork: %s; %d run(s) not started", error, len(requests))
                    for request in requests:
                        self._on_result(RunResult(request, Outcome.INTERRUPTED, exception=error))
                    continue
                try:
                    executor.submit_many(requests)
                except Exception as error:
                    logger.exception(
                        "tickwork: executor %r refused %d run(s)", alias, len(requests)
                    )
                    for request in requests:
                        self._on_result(RunResult(request, Outcome.INTERRUPTED, exception=error))
        if decision.events:
            self._emit(decision.events)

    def _executor(self, alias: str) -> Executor:
        executor = self._executors[alias]
        if alias not in self._started_executors:
            with self._lock:
                if alias not in self._started_executors:
                    self._start_executor(alias, executor)
                    self._started_executors.add(alias)
        return executor

    def _start_executor(self, alias: str, executor: Executor) -> None:
        executor.start(self._on_result, self._clock)

    def _on_result(self, result: RunResult) -> None:
        """Executors report here, from any thread: queue the result and wake the driver.

        Results are applied in batches by :meth:`process_due` in the driver's thread (or
        task), so a burst of 10,000 completions takes the lock a handful of times, not
        10,000, and listeners always run in the driver's thread.
        """
        self._results.append(result)
        if self._closed:
            # Ended after shutdown (wait=False, or past its timeout): report it here.
            self._take_results()
            return
        if self._results_flagged:
            return
        if (
            result.outcome is Outcome.SUCCESS
            and not self._core.wants & _COMPLETIONS
            and not self._store.persistent
        ):
            # A clean run nobody listens for needs no prompt follow-up, unless a run of
            # the same job waits for it to end. Otherwise the result is taken in at the
            # start of the next dispatch step, before anything else is decided, so the
            # scheduler thread is not woken twice per run. (A racy peek: a run buffered
            # after it is found by process_due's own loop.) A shared store is always
            # told at once: the run's lease must go the moment it ends, or other
            # processes count it against max_instances and skip the job's next fire.
            state = self._core._states.get(result.request.job_id)
            if state is None or not state.buffer:
                return
        self._results_flagged = True
        self._wakeup()

    # -- lifecycle, for the drivers ---------------------------------------------------

    def open(self, *, paused: bool = False) -> None:
        """Load the stored jobs and accept dispatch, without a background thread or task.

        For tests with a :class:`~tickwork.testing.FakeClock` (see
        :func:`tickwork.testing.run_until`) and for programs that call
        :meth:`process_due` from their own loop. ``shutdown()`` closes it.
        """
        with self._lock:
            self._startup()
            events = self._mark_started(paused)
        self._emit(events)

    def _in_flight(self) -> int:
        """Runs started and not yet applied (after draining reported results)."""
        batch = Decision()
        with self._lock:
            now = self._clock.now()
            self._drain_results(batch, now)
            self._persist(batch, now)
            count = self._core.in_flight()
        self._apply(batch)
        return count

    def _startup(self) -> None:
        """Open the store, load its jobs and mark the scheduler running (lock held)."""
        if self._state is SchedulerState.SHUTDOWN:
            raise SchedulerStateError("this scheduler was shut down; create a new one")
        if self._state is not SchedulerState.STOPPED:
            raise SchedulerStateError(f"the scheduler is already {self._state.value}")
        try:
            self._load()
        except BaseException:
            # Not started, so no shutdown() is due: leave no file open (it reopens if
            # start is tried again).
            self._store.close()
            raise
        self._upkeep_at = self._sync_at = None

    def _load(self) -> None:
        """Open the store and load its jobs, once (lock held): at start, or before it
        when a stored job is first asked for."""
        if self._loaded:
            return
        self._store.open()
        core = self._core
        loaded = []
        # Loading makes a few objects per job and frees almost none: the cyclic garbage
        # collector would walk them again and again for nothing (a third of the time
        # for 100,000 jobs).
        collecting = gc.isenabled()
        gc.disable()
        try:
            for job in self._store.load_jobs():
                if job.id not in core:
                    ready = self._loadable(job)
                    if ready is not None:
                        loaded.append(ready)
            core.put_many(loaded)
        finally:
            if collecting:
                gc.enable()
        self._loaded = True

    def _mark_started(self, paused: bool) -> list[Event]:
        now = self._clock.now()
        self._state = SchedulerState.PAUSED if paused else SchedulerState.RUNNING
        events = [Event(kind=EventKind.SCHEDULER_STARTED, at=now)]
        if paused:
            events.append(Event(kind=EventKind.SCHEDULER_PAUSED, at=now))
        return events

    def _teardown(self, wait: bool, timeout: float | None) -> list[Event]:
        """Stop executors and close the store (the driver has already stopped).

        Runs waiting for a free instance are reported skipped; runs that end while the
        executors stop are taken in. Returns the events, for the driver to emit in its
        own thread or task.
        """
        with self._lock:
            now = self._clock.now()
            dropped = self._core.drop_buffers(now, handed_off=self._hand_off_retries(now))
            # Waiting runs reported skipped release their leases with their history rows.
            self._persist(dropped, now)
        events = list(dropped.events)
        for alias in list(self._started_executors):
            try:
                self._executors[alias].shutdown(wait=wait, timeout=timeout)
            except Exception:
                logger.exception("tickwork: executor %r failed to shut down", alias)
        batch = Decision()
        with self._lock:
            now = self._clock.now()
            self._drain_results(batch, now)
            # Runs that failed while the executors stopped may have scheduled retries:
            # left in the store like the others, or reported skipped.
            self._core.drop_buffers(now, handed_off=self._hand_off_retries(now), into=batch)
            self._persist(batch, now)
            self._closed = True
        events += batch.events
        self._store.close()
        events.append(Event(kind=EventKind.SCHEDULER_SHUTDOWN, at=self._clock.now()))
        return events

    def _hand_off_retries(self, now: datetime) -> frozenset[tuple[str, int, int]]:
        """At shutdown, leave pending retries to the processes that share the store, to
        run when due with their attempt number (lock held); return those it took, as
        (job id, scheduled µs, attempt). The others are reported skipped."""
        pending = self._core.pending_retries()
        if not pending or not self._store.persistent:
            return frozenset()
        retries = [
            (job_id, scheduled_at, attempt, _EPOCH + timedelta(microseconds=due_us))
            for job_id, scheduled_at, attempt, due_us in pending
        ]
        try:
            kept = self._store.hand_off_retries(retries, now=now)
        except StoreError as error:
            logger.error("tickwork: could not leave pending retries in the store: %s", error)
            return frozenset()
        handed = frozenset(
            (job_id, epoch_us(scheduled_at), attempt)
            for (job_id, scheduled_at, attempt, _), ok in zip(retries, kept, strict=True)
            if ok
        )
        if handed:
            logger.info(
                "tickwork: %d pending retr%s left in the store for the next process",
                len(handed),
                "y" if len(handed) == 1 else "ies",
            )
        return handed

    # -- helpers ----------------------------------------------------------------------

    def _require_open(self) -> None:
        if self._state is SchedulerState.SHUTDOWN:
            raise SchedulerStateError("the scheduler has been shut down")

    def _load_early(self) -> None:
        """Before start, a persistent store's jobs are loaded when first asked for, so
        start-up code sees (and can manage) what earlier runs stored."""
        if not self._loaded and self._store.persistent and self._state is SchedulerState.STOPPED:
            self._load()

    def _job(self, job_id: str) -> Job:
        job = self._find(job_id)
        if job is None:
            raise JobLookupError(f"no job with id {job_id!r}")
        return job

    def _find(self, job_id: str) -> Job | None:
        """The job, looked up in the store too when it is shared (lock held): another
        process may have added it since this one last checked for changes."""
        self._load_early()
        job = self._core.get(job_id)
        if job is not None or not self._store.persistent:
            return job
        try:
            stored = self._store.get_job(job_id)
        except JobLookupError:
            return None
        loaded = self._loadable(stored)
        if loaded is None:
            return None
        self._core.put(loaded)
        return self._core.get(job_id)

    def _save(
        self, job: Job, kind: EventKind, reason: str | None = None, *, schedule: bool = True
    ) -> tuple[Job, Event]:
        """Persist and re-index a changed job (lock held); return it and its event.

        ``schedule=False``: the change leaves the fire state alone, so the store keeps
        its own (another process may have claimed a fire since this one looked).
        """
        self._store.update_job(job, schedule=schedule)
        self._core.put(job)
        event = Event(
            kind=kind,
            at=self._clock.now(),
            job_id=job.id,
            scheduled_at=job.next_fire,
            reason=reason,
        )
        return job, event

    def _saved(self, result: tuple[Job, Event]) -> Job:
        """After the lock is released: emit the event, wake the driver, return the job."""
        job, event = result
        self._emit([event])
        self._wakeup()
        return self._attach(job)

    def _attach(self, job: Job) -> Job:
        return evolve(job, _engine=self)

    def _emit(self, events: list[Event]) -> None:
        held = getattr(self._held, "events", None)
        if held is not None:
            held.extend(events)  # for the driver to emit in its own thread (see _step)
            return
        self._listeners.emit(events)

    def _step(self) -> tuple[datetime | None, list[Event]]:
        """:meth:`process_due` with its events held back and returned, not emitted:
        for a driver that runs it in a worker thread but wants listeners called in
        its own (the asyncio driver, with a store that does file I/O)."""
        held: list[Event] = []
        self._held.events = held
        try:
            upcoming = self.process_due()
        finally:
            self._held.events = None
        return upcoming, held
