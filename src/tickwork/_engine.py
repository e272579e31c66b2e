"""The engine: every scheduler operation, in one synchronous, thread-safe class.

``Engine`` is the :class:`~tickwork._machine.Machine` (the core, the store and
executor links, the dispatch step, start-up and shutdown) plus the operations users
call on jobs: adding them (each argument checked, the conflict policy applied, the
job's first fire found), reading, changing and removing them, running them now or for
past fire times. Both drivers (``Scheduler``, ``AsyncScheduler``) forward their
methods to one ``Engine``, so no scheduling logic exists twice.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, tzinfo
from typing import Any

from ._batches import JobBatches
from ._chainops import ChainOps
from ._checks import flags, job_id_arg, jobs_query, new_job_id, storable, whole
from ._clock import Clock
from ._core import PAUSED_BEFORE_START, Decision
from ._decorators import JobDecorators
from ._emit import encode_payload
from ._errors import ConflictingIdError, JobLookupError, SchedulerStateError
from ._events import Event, EventKind
from ._machine import Driver, Machine, SchedulerState, _thread_executors
from ._model import (
    Catchup,
    ChainOn,
    ConflictPolicy,
    EmittedEvent,
    Job,
    Overlap,
    RetryPolicy,
    Run,
    counters_of,
    evolve,
    make_job,
)
from ._options import (
    OPTION_NAMES,
    check_history_query,
    check_options,
    options_of,
    trigger_spec,
)
from ._planning import (
    Draft,
    asked_fire_ran,
    backfill_fires,
    check_asked_fire,
    epoch_us,
    job_first_fire,
    job_next_fire,
    job_previous_fire,
    keep_schedule,
    not_again,
    require_first_fire,
    start_held_back,
    startable,
    upcoming_fires,
    within_window,
    would_never_run,
)
from ._serialize import fire_zone
from ._shortcuts import coerce_datetime, make_trigger
from ._tz import in_zone, require_aware
from .executors import AsyncioExecutor, Executor
from .stores import JobStore
from .triggers import DateTrigger, Trigger
from .triggers._base import coerce_enum
from .triggers._binding import bind_hash_key
from .triggers.event import resolve_filters
from .triggers.upstream import UpstreamTrigger

__all__ = ["Driver", "Engine", "SchedulerState"]  # the last two from _machine

logger = logging.getLogger("tickwork")

#: How long ``history`` waits for the driver to record runs that just ended.
_FLUSH_WAIT = 1.0
#: ``Draft(...)`` without the named tuple's own ``__new__`` in Python (once per add_job).
_new_draft = tuple.__new__


class Engine(JobDecorators, ChainOps, JobBatches, Machine):
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
        default_executors: Callable[[], dict[str, Executor]] = _thread_executors,
    ) -> None:
        super().__init__(
            store=store,
            executors=executors,
            clock=clock,
            timezone=timezone,
            max_wait=max_wait,
            default_executors=default_executors,
        )
        self._link.make_asyncio = self._add_asyncio_executor
        # What a returned Job's methods (job.pause()...) call, unless attach_driver says.
        self._control = self
        # While add_jobs runs: (job id, job it replaced) for a rollback, and its events.
        self._batch: list[tuple[str, Job | None]] | None = None
        self._batch_events: list[Event] = []
        # Jobs add_jobs stores in one go: (new, replacing an existing one, an existing
        # one changed: a failure handler named by id).
        self._batch_writes: tuple[list[Job], list[Job], list[Job]] = ([], [], [])
        # While add_jobs runs: its ids (upstreams may be added later in the batch) and
        # the edges of its chained jobs (not in the store until the batch is written).
        self._batch_ids: set[str] = set()
        self._batch_edges: dict[str, tuple[tuple[str, ...], ChainOn]] = {}

    # -- adding jobs ----------------------------------------------------------------

    def add_job(
        self,
        /,
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
        after: Iterable[str] | str = (),
        on: ChainOn | str = ChainOn.SUCCESS,
        on_failure: Callable[..., Any] | str | None = None,
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
                A cron trigger with hashed values (``H``) and no ``hash_key`` (also
                inside And/Or triggers) hashes the job's id; ``"cron"`` takes
                ``hash_key=`` for another key.
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
            after: a job id or ids: run after them, once per slot (fan-in: when all of
                them have ended for the same nominal fire time, which the run takes as
                its ``scheduled_at``). Without a trigger the job runs only so; with one,
                on both. on: :class:`~tickwork.ChainOn`, which ends of the upstream runs
                start it (``"success"``, the default; ``"failure"``; ``"any"``).
            on_failure: a function or ``"module:function"`` reference, added as the job
                ``"<id>.on_failure"`` with ``after=id, on="failure"``; or the id of an
                existing job that runs after no other job, which then also runs after
                this one fails (one that does would become a fan-in: ``ValueError``).
            paused, pause_note: add the job paused.
            conflict: :class:`~tickwork.ConflictPolicy` for an existing id (default
                ``"raise"``); ``replace_existing=True`` means ``"replace"``. A replaced
                job with the same trigger keeps its next fire time.
            run_immediately: run once now, then on the trigger. first_fire: an explicit
                first fire time instead.

        Raises:
            TypeError, ValueError: a bad argument (the message names it).
            ConflictingIdError: the id exists and the conflict policy is ``"raise"``.
            ChainError: *after* would close a cycle (the message shows it).
            JobLookupError: an upstream in *after* is no job; a "module:function" (the
                function, an event filter) does not import.
            SchedulerStateError: the scheduler has been shut down.
        """
        if on_failure is not None and not self._in_batch():
            # Added with its handler as one batch: a handler refused leaves nothing added.
            call = dict(locals())
            del call["self"], call["func"], call["trigger"], call["trigger_args"]
            call.update(call.pop("trigger_kwargs"))
            return self._add_batch([((func, trigger, *trigger_args), call)])[0]
        with self._lock:
            self._require_open()
            now = self._clock.now()
            resolved, func_ref = self._functions.resolve(func)
            chained_only = trigger is None and after not in ((), []) and not trigger_kwargs
            if chained_only and not trigger_args:
                trigger = UpstreamTrigger()
            spec = trigger_spec(
                trigger, trigger_args, trigger_kwargs, now=now, zone=self._timezone,
                real_time=self.real_time,
            )  # fmt: skip
            resolve_filters(spec.trigger)
            if spec.jitter is not None and jitter is not None:
                raise TypeError("jitter was given twice (as a job option and a trigger keyword)")
            policy = coerce_enum(ConflictPolicy, conflict, "conflict")
            if replace_existing:
                if policy is ConflictPolicy.KEEP:
                    raise TypeError("replace_existing=True contradicts conflict='keep'")
                policy = ConflictPolicy.REPLACE
            job_id = new_job_id(id if id is not None else uuid.uuid4().hex)
            # A cron trigger with H and no hash key of its own hashes the job's id.
            bound = bind_hash_key(spec.trigger, job_id)
            if not (paused is False is run_immediately is replace_existing):  # (fast path)
                flags(
                    paused=paused,
                    run_immediately=run_immediately,
                    replace_existing=replace_existing,
                )
            if pause_note is not None and not isinstance(pause_note, str):
                raise TypeError(f"pause_note must be a str, got {pause_note!r}")
            if pause_note is not None and not paused:
                # (Kept only on a paused job: dropped, it would be lost without a word.)
                raise ValueError(
                    f"pause_note={pause_note!r} is for a job added paused: pass paused=True"
                )
            # add_job's own parameters are the options: check_options reads them by the
            # names of its table (tests hold this signature to that table).
            given = locals()
            if spec.jitter is not None:  # given as a trigger keyword instead
                given["jitter"] = spec.jitter
            options = self._options(given, resolved, func_ref)
            self._check_after(job_id, options["after"], on=options["on"])
            if first_fire is not None or run_immediately:
                if first_fire is not None and run_immediately:
                    raise TypeError("give run_immediately or first_fire, not both")
                when = (
                    now
                    if run_immediately
                    else coerce_datetime(first_fire, "first_fire", self._timezone)
                )
                assert when is not None
                when = in_zone(when, fire_zone(bound))  # (as the trigger's own fires are)
                draft = _new_draft(Draft, (job_id, bound, options["start"], options["end"]))
                check_asked_fire(draft, when, now=run_immediately)
            else:
                # Found before the record is built, so it is built once, complete. (A
                # one-off time already past is due now, late: the misfire grace decides;
                # a job that runs after its upstreams only has none.)
                draft = _new_draft(Draft, (job_id, bound, options["start"], options["end"]))
                when = require_first_fire(draft, now, late_ok=True)
            job = make_job(
                id=job_id,
                func=resolved,
                func_ref=func_ref,
                trigger=bound,
                paused=paused,
                pause_note=pause_note if paused else None,
                next_fire=when,
                **options,
            )
            job, event_kind = self._store_new(
                job, policy, spec.defaulted_start, first_fire, run_immediately
            )
            if event_kind is None:  # ConflictPolicy.KEEP
                return self._attach(job)
            if self._batch is not None:
                self._batch.append((job_id, self._core.get(job_id)))
                self._batch_edges[job_id] = (job.after, job.on)
            self._link.keep(job)
            self._router.invalidate()
            self._chains.changed()
            if on_failure is not None:
                self._add_failure_handler(job_id, on_failure, policy)
            events = (
                [Event(kind=event_kind, at=now, job_id=job_id, scheduled_at=job.next_fire)]
                if self._core.wants & event_kind._value_  # (ints: IntFlag's & is slow)
                else []
            )
            if self._batch is not None:
                self._batch_events += events
                return self._attach(job)
            # Wake the driver only if the new job is due before it next wakes anyway: a
            # program adding thousands of jobs should not make it re-plan as many times.
            wake = self._state is SchedulerState.RUNNING and (
                self._wake_at is None
                or job.next_fire is None
                or epoch_us(job.next_fire) < epoch_us(self._wake_at)
            )
        if events:
            self._emit(events)
        if wake:
            self._driver.wakeup()
        return self._attach(job)

    def _store_new(
        self,
        job: Job,
        policy: ConflictPolicy,
        defaulted_start: bool,
        first_fire: datetime | None,
        run_immediately: bool,
    ) -> tuple[Job, EventKind | None]:
        """Store a new job under the conflict policy (lock held); return the job as
        stored and the event kind (None: an existing job was kept). With a shared store
        the stored record counts: another process may have claimed fires of the job
        since, and a replacement keeping an older next fire would run those again."""
        existing = self._core.get(job.id)
        # With a shared store, look the job up there (a plain add lets the insert find a
        # conflict), reading and writing in one transaction so no claim slips in between.
        if self._link.partial and (existing is not None or policy is not ConflictPolicy.RAISE):
            with self._store.transaction():
                return self._store_over(
                    job,
                    policy,
                    defaulted_start,
                    first_fire,
                    run_immediately,
                    existing=existing,
                    stored=True,
                )
        return self._store_over(
            job, policy, defaulted_start, first_fire, run_immediately, existing=existing
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
            # None, or a broken record that REPLACE overwrites.
            existing = self._link.stored(job_id)
        event_kind = EventKind.JOB_ADDED
        if existing is not None:
            if policy is ConflictPolicy.RAISE:
                raise ConflictingIdError(
                    f"a job with id {job_id!r} already exists; pass replace_existing=True "
                    "or conflict='keep'"
                )
            if policy is ConflictPolicy.KEEP:
                return existing, None
        # Read only where it decides something: a first_fire given again, or a one-off
        # added anew (a stored one keeps its own schedule).
        ran = (
            self._link.partial
            and (first_fire is not None or (existing is None and type(job.trigger) is DateTrigger))
            and asked_fire_ran(
                job, first_fire, self._clock.now, lambda: self._store.history(job_id)
            )
        )
        if existing is not None:
            # (A first_fire that ran already, given again: the stored schedule goes on.)
            asked = None if ran else first_fire
            job = keep_schedule(existing, job, defaulted_start, asked, run_immediately)
            if existing.paused and not job.paused:
                # A pause (pause_job, the CLI's) outlives the start-up code that declares
                # the job again at each start: only resume_job undoes it.
                job = evolve(job, paused=True, pause_note=existing.pause_note)
            event_kind = EventKind.JOB_MODIFIED
        elif ran:
            # Its fire is in the history: a one-off that ran (removed, done) is not added
            # back; after a first_fire that ran, the trigger's next fire.
            fire = None if first_fire is None else job_next_fire(job, job.next_fire)  # type: ignore[arg-type]
            if fire is None:
                return evolve(job, next_fire=None), None
            job = evolve(job, next_fire=fire)
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

    def _resolve_func(
        self, func: Callable[..., Any] | str
    ) -> tuple[Callable[..., Any], str | None]:
        return self._functions.resolve(func)

    def _options(
        self,
        given: Mapping[str, Any],
        func: Callable[..., Any],
        func_ref: str | None,
        fit: bool = True,
    ) -> dict[str, Any]:
        """Validate job options; return them as ``Job`` fields. Errors name the option."""
        return check_options(
            given,
            func=func,
            func_ref=func_ref,
            executors=self._executors,
            make_asyncio=self._add_asyncio_executor,
            fit=fit,
            zone=self._timezone,
        )

    def _add_asyncio_executor(self) -> Executor:
        # The "asyncio" executor, made for the first coroutine job (check_options), kept.
        executor = self._executors["asyncio"] = AsyncioExecutor()
        return executor

    # -- reading --------------------------------------------------------------------

    def _take_in_ended(self) -> None:
        """Before a read, take in the runs that ended (a clean run does not wake the
        driver): history rows, a done job's removal; by the driver's thread, if any."""
        if not self._results:
            return
        if self._driver.running():
            self.request_flush()
            deadline = time.monotonic() + _FLUSH_WAIT
            while self._results and time.monotonic() < deadline:
                time.sleep(0.0005)
        else:
            self._take_results()

    def get_job(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        self._take_in_ended()
        with self._lock:
            job = self._find(job_id)
        return None if job is None else self._attach(job)

    def get_jobs(self, tag: str | None = None, *, paused: bool | None = None) -> list[Job]:
        """All jobs (with *tag*, and paused or not if asked), by next fire time then id."""
        jobs_query(tag, paused)
        self._take_in_ended()
        link = self._link
        stored = None  # (a windowed store holds jobs the core does not: read unlocked)
        if link.window is not None:
            stored = self._store.get_jobs()
            if self._state is SchedulerState.SHUTDOWN:
                self._store.close()  # (reading opened it again)
        with self._lock:
            self._load_early()
            jobs = self._core.jobs()
            if stored is not None:
                jobs = link.every_job(jobs, stored)
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
        Raises ``TriggerError`` (naming the job) when its trigger raises."""
        whole(count, "count", minimum=0)
        with self._lock:
            job = self._job(job_id)
            now = self._clock.now()
        return upcoming_fires(job, count, now)

    def last_expected_fire(self, job_id: str, before: datetime | None = None) -> datetime | None:
        """When the job's schedule says it should last have fired: the latest fire time
        of its trigger strictly before *before* (default: the scheduler's clock now),
        inside the job's start and end; ``None`` when there is none.

        It reads the schedule only, not the history: a paused job, a missed run or a
        job added after that time still has it (compare with :meth:`history` to see
        whether it ran). Raises ``JobLookupError`` for an unknown id, ``TypeError`` for a
        naive *before*, and ``TriggerError``, naming the job and the trigger's error,
        when its trigger raises instead of giving a time.
        """
        if before is not None:
            require_aware(before, "before")
        with self._lock:
            job = self._job(job_id)
            if before is None:
                before = self._clock.now()
        return job_previous_fire(job, before)

    def look_at_store(self) -> None:
        """Have the next step read the changes other processes made to a shared store,
        whenever the last read was (``run_until``, before it moves a fake clock on:
        jumping hours at once, no poll interval would ever pass in between)."""
        with self._lock:
            if self._link.shared:
                self._link.changes_pending = True

    def history(self, job_id: str | None = None, *, limit: int = 100) -> list[Run]:
        """The newest recorded runs, newest first, of one job or of all (every run, and
        every fire that did not run), of all the processes sharing the store; how much
        is kept: ``MemoryStore(history=...)``, ``SQLiteStore(history_per_job=...)``."""
        check_history_query(job_id, limit)
        self._take_in_ended()
        if job_id is not None and not storable(job_id):
            return []  # (no job has such an id: add_job refuses it)
        return self._store.history(job_id, limit=limit)

    def broken_jobs(self) -> dict[str, str]:
        """Stored jobs that cannot be loaded, and why (kept in the store, not run)."""
        return self._store.broken_jobs()

    # -- changing jobs --------------------------------------------------------------

    def modify_job(self, /, job_id: str, **changes: Any) -> Job:
        """Change options of a job (any ``add_job`` option except the trigger and id;
        :meth:`reschedule_job` changes the trigger). Raises ``JobLookupError`` for an
        unknown id and ``TypeError`` for an option that cannot be changed."""
        unknown = set(changes) - OPTION_NAMES
        if unknown:
            hint = (
                "; APScheduler's next_run_time=None is pause_job(id) here"
                if "next_run_time" in unknown
                else ""
            )
            raise TypeError(
                f"cannot modify {', '.join(sorted(unknown))} (changeable: "
                f"{', '.join(sorted(OPTION_NAMES))}; use reschedule_job for the trigger"
                f"{hint})"
            )
        with self._lock:
            self._require_open()
            job = self._job(job_id, fresh=True)
            func, func_ref = self._function_of(job), job.func_ref
            was = (func, func_ref) if "func" in changes else None  # (the one replaced)
            if "func" in changes:
                func, func_ref = self._resolve_func(changes.pop("func"))
            assert func is not None
            # (During its last run a job has 0 runs left: kept, not checked as if given.)
            last = job.remaining_runs == 0 and "remaining_runs" not in changes
            given = {**changes, "remaining_runs": None} if last else changes
            fit = not changes.keys().isdisjoint(("args", "kwargs")) or was is not None
            options = self._options(options_of(job, given, was=was), func, func_ref, fit)
            if last:
                options["remaining_runs"] = 0
            if options["after"] != job.after or "on" in changes:
                on = options["on"] if "on" in changes else ChainOn.SUCCESS  # (if asked for)
                self._check_after(job_id, options["after"], job.trigger, on=on)
                self._chains.changed()
            before = job
            job = evolve(job, func=func, func_ref=func_ref, **options)
            held_back = start_held_back(before, job)  # (an earlier start: fire earlier)
            if (job.start or job.end or held_back) and job.remaining_runs != 0:  # (0: done)
                now, fire = self._clock.now(), job.next_fire
                first = job_first_fire(job, now)
                if (
                    fire is None
                    or not within_window(job, fire)
                    or (held_back and first and epoch_us(first) < epoch_us(fire))
                ):
                    job = evolve(job, next_fire=first)
                    if job.next_fire is None and not job.paused and not startable(job, now):
                        raise would_never_run(job, now, changing=True)
            schedule = (
                job.next_fire is not before.next_fire or job.remaining_runs != before.remaining_runs
            )
            saved = self._save(job, EventKind.JOB_MODIFIED, schedule=schedule)
        return self._saved(saved)

    def reschedule_job(
        self,
        job_id: str,
        trigger: Trigger | str | None = None,
        *trigger_args: Any,
        **trigger_kwargs: Any,
    ) -> Job:
        """Give a job a new trigger; its next fire time is recomputed from now."""
        if trigger is None:
            raise TypeError(
                f"reschedule_job({job_id!r}) needs the new trigger: a Trigger object, or "
                f"'cron', 'interval', 'date' or 'calendar' with its fields"
            )
        with self._lock:
            self._require_open()
            job = self._job(job_id, fresh=True)
            now = self._clock.now()
            spec = make_trigger(
                trigger, trigger_args, trigger_kwargs, now=now, zone=self._timezone,
                real_time=self.real_time,
            )  # fmt: skip
            resolve_filters(spec.trigger)
            new = bind_hash_key(spec.trigger, job_id)
            jitter = job.jitter if spec.jitter is None else (spec.jitter or None)  # (0: none)
            old, job = job, evolve(job, trigger=new, jitter=jitter)
            # (A one-off time already past is due now, late, as when the job is added.)
            when = require_first_fire(job, now, late_ok=True, changing=True)
            job = evolve(job, next_fire=not_again(old, job, when, now))
            saved = self._save(job, EventKind.JOB_MODIFIED)
        return self._saved(saved)

    def pause_job(self, job_id: str, note: str | None = None) -> Job:
        """Stop a job from firing until :meth:`resume_job`; *note* says why.

        Its runs not started yet (queued in an executor, waiting for a free instance,
        retries) do not start: each is reported skipped ("its job was paused before it
        started")."""
        if note is not None and not isinstance(note, str):
            raise TypeError(f"note must be a str, got {note!r}")
        with self._lock:
            self._require_open()
            held = self._job(job_id)
            job = evolve(held, paused=True, pause_note=note)
            saved = self._save(job, EventKind.JOB_PAUSED, reason=note, schedule=False)
            # Its runs queued in an executor, not started yet, do not start (unless it
            # was paused already: then they are runs asked for since, run_job_now's).
            withdrawn = None if held.paused else self._stop_queued(job_id, PAUSED_BEFORE_START)
        job = self._saved(saved)
        if withdrawn is not None:
            self._emit(withdrawn.events)
        return job

    def resume_job(self, job_id: str) -> Job:
        """Let a paused job fire again, from its first fire time at or after now. Fire
        times that passed while it was paused are not caught up: pausing means "do not
        run". (Pausing the whole scheduler is different: see :meth:`pause`.)"""
        with self._lock:
            self._require_open()
            held = self._job(job_id)
            job = evolve(held, paused=False, pause_note=None, consecutive_failures=0)
            now = self._clock.now()
            job = evolve(job, next_fire=not_again(held, job, job_first_fire(job, now), now))
            if job.next_fire is None and not startable(job, now):
                # Nothing left to fire (a one-off time passed while paused, or the end of
                # a job started by events or upstream runs): it is done.
                self._store.remove_job(job_id)
                self._core.discard(job_id)
                self._chains.removed(job_id)  # (the jobs after it lose it)
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

    def run_job_now(self, job_id: str) -> None:
        """Run a job once now, outside its schedule (its schedule is unchanged).

        ``current_run().scheduled_at`` is the moment of the call, moved on by a
        microsecond when that is a fire time of the job or the instant of another run
        asked for (or event) in this process, so that each run has a ``run_id`` of its
        own. If the job is at ``max_instances`` the run waits for a free slot; it is
        never skipped.
        """
        with self._lock:
            self._require_open()
            job = self._job(job_id)
            now = self._clock.now()
            decision = self._core.run_now(job_id, self._router.run_instant(job, now), now)
        self._apply(decision)
        self._take_results()

    def backfill(self, job_id: str, start: datetime, end: datetime) -> int:
        """Run a job for every fire time of it (of its trigger, within the job's own start
        and end) in [start, end]; return how many.

        The runs keep their nominal ``scheduled_at`` (so idempotency keys match a normal
        run) and start oldest first, as ``max_instances`` allows. Raises ``ValueError``
        when the range holds more than 10,000 fire times, or *end* is after the clock's
        now (fire times to come run on schedule: backfilled too, they would run twice).
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
            now = self._clock.now()
            if epoch_us(last) > epoch_us(now):
                raise ValueError(
                    f"backfill end {last.isoformat()} is after now ({now.isoformat()}): "
                    "backfill runs fire times that have passed; those to come run on schedule"
                )
            times = backfill_fires(job, first, last)
            decision = Decision()
            for scheduled_at in times:
                part = self._core.run_now(job_id, scheduled_at, now)
                decision.runs_to_start.extend(part.runs_to_start)
                decision.events.extend(part.events)
        self._apply(decision)
        self._take_results()
        return len(times)

    def emit_event(self, name: str, payload: Any = None) -> EmittedEvent:
        """Emit the event *name* with *payload*: run the jobs whose ``EventTrigger``
        listens for it (``scheduler.emit``). Returns the event's record, as stored.

        *payload* must be JSON data; the jobs see it as JSON gives it back, in
        ``current_run().event.payload``. With a store shared by processes (SQLite,
        PostgreSQL) the event is written to the store before this returns, and runs
        each listening job once among all the processes on the store. A scheduler that
        is not running (not started yet, or paused) keeps the event for when it runs
        (a shared store keeps it for any process that runs).

        Raises:
            TypeError, ValueError: *name* is not a non-empty str.
            SerializationError: *payload* is not JSON data.
            StoreError: the store could not write the event (it was not emitted).
            SchedulerStateError: the scheduler was shut down.
        """
        _, data = encode_payload(name, payload)
        with self._lock:
            self._require_open()
            self._load_early()
            now = self._clock.now()
            event = self._router.new_event(name, data, now)
            decision = Decision()
            running = self._state is SchedulerState.RUNNING
            event = self._router.emit(event, now, decision, running=running)
            self._link.persist(decision, now)  # (a job whose end passed is removed)
            # A debounced run (re)started ends before the driver would wake: wake it,
            # so that it plans that end.
            due = self._router.next_at(polls=False)
            wake = not running or (
                due is not None
                and (self._wake_at is None or epoch_us(due) < epoch_us(self._wake_at))
            )
        self._apply(decision)
        self._take_results()
        if wake:
            self._driver.wakeup()
        return event

    # -- helpers --------------------------------------------------------------------

    def _require_open(self) -> None:
        if self._state is SchedulerState.SHUTDOWN:
            raise SchedulerStateError("the scheduler has been shut down")

    def _job(self, job_id: str, *, fresh: bool = False) -> Job:
        job = self._find(job_id)
        if job is None:
            raise JobLookupError(f"no job with id {job_id!r}")
        if fresh and self._link.shared:  # (a change goes onto others' count and pause)
            return counters_of(job, self._link.stored(job_id) or job)
        return job

    def _save(
        self, job: Job, kind: EventKind, reason: str | None = None, *, schedule: bool = True
    ) -> tuple[Job, Event]:
        """Persist and re-index a changed job (lock held); return it and its event.
        ``schedule=False``: the store keeps its fire state (another process may have
        claimed a fire since this one looked)."""
        self._store.update_job(job, schedule=schedule)
        self._link.keep(job)
        self._router.invalidate()
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
        self._driver.wakeup()
        return self._attach(job)

    def _attach(self, job: Job) -> Job:
        """The copy of a job a caller gets: linked to its scheduler, with its function
        (a job loaded from a store holds only the function's reference)."""
        return evolve(job, func=self._function_of(job), _control=self._control)

    def _function_of(self, job: Job) -> Callable[..., Any] | None:
        if job.func is not None or job.func_ref is None:
            return job.func
        return self._functions(job.func_ref)

    def _find(self, job_id: str) -> Job | None:
        job_id_arg(job_id)
        self._load_early()
        return self._link.find(job_id) if storable(job_id) else None  # (add_job refuses it)

    def _load_early(self) -> None:
        """Before start, a shared store's jobs are loaded when first asked for, so
        start-up code sees (and can manage) what earlier runs stored."""
        link = self._link
        if not link.loaded and link.shared and self._state is SchedulerState.STOPPED:
            link.load()
