"""Frozen records and policy enums shared by the scheduler, stores and executors."""

from __future__ import annotations

import enum
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple, Protocol

from ._checks import MAX_SECONDS, seconds, whole
from ._errors import RemoteJobError
from .triggers import Trigger

__all__ = [
    "Catchup",
    "ChainOn",
    "ConflictPolicy",
    "EmittedEvent",
    "Job",
    "JobControl",
    "Outcome",
    "Overlap",
    "RetryPolicy",
    "Run",
    "RunContext",
    "RunEnd",
    "RunRequest",
    "RunResult",
    "UnkeptReturn",
    "Upstream",
    "evolve",
    "make_job",
    "request_for",
]


class Catchup(str, enum.Enum):
    """Which runs execute when several fire times of a job are due at once (after downtime).

    ``LATEST`` (the default, APScheduler's ``coalesce=True``) runs once, for the most
    recent due fire time. ``EARLIEST`` runs once, for the oldest one still within the
    grace time. ``ALL`` (``coalesce=False``) runs every due fire time, oldest first,
    up to ``max_catchup`` of the most recent. ``NONE`` runs none of a backlog: only a
    fire time that is due alone is run. Runs not executed are reported as missed.
    """

    LATEST = "latest"
    EARLIEST = "earliest"
    ALL = "all"
    NONE = "none"


class Overlap(str, enum.Enum):
    """What a run does when it comes due while ``max_instances`` runs of its job are going.

    ``SKIP`` (default): it is skipped and reported. ``BUFFER_ONE``: it waits and starts
    when a running instance ends; further runs while one waits are skipped.
    ``BUFFER_ALL``: every such run waits, in order. ``ALLOW``: runs overlap freely up
    to ``max_instances`` (set ``max_instances`` above 1); beyond it they are skipped.
    """

    SKIP = "skip"
    BUFFER_ONE = "buffer_one"
    BUFFER_ALL = "buffer_all"
    ALLOW = "allow"


class ConflictPolicy(str, enum.Enum):
    """What ``add_job`` does when a job with the same id exists.

    ``RAISE`` (default) raises :class:`~tickwork.ConflictingIdError`; ``REPLACE``
    replaces it (``replace_existing=True``), keeping its next fire time when the trigger
    is unchanged; ``KEEP`` leaves the existing job alone and returns it.
    """

    RAISE = "raise"
    REPLACE = "replace"
    KEEP = "keep"


class ChainOn(str, enum.Enum):
    """Which ends of its upstream runs start a downstream job (``add_job(after=...)``).

    ``SUCCESS`` (the default): every upstream run of the slot succeeded. ``FAILURE``:
    every one failed for good (after its retries) or was interrupted. ``ANY``: every one
    ended, however.
    """

    SUCCESS = "success"
    FAILURE = "failure"
    ANY = "any"


class Outcome(str, enum.Enum):
    """How one scheduled run ended."""

    SUCCESS = "success"
    FAILURE = "failure"
    MISSED = "missed"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"


class _DefaultMaxDelay(float):
    """``RetryPolicy.max_delay`` not given (kept so, so that ``dataclasses.replace``
    works it out again): 300 s, or no cap below the policy's own longest delay when
    the first is longer than that."""


_DEFAULT_MAX_DELAY = _DefaultMaxDelay(300.0)


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How a failed run is retried, separately from the job's schedule.

    Attempt *n* (n >= 2) starts ``min(max_delay, delay * factor ** (n - 2))`` seconds
    after attempt *n - 1* failed, plus up to ``jitter`` (a fraction of that delay)
    derived from the job id, fire time and attempt, so it is the same everywhere.

    Args:
        attempts: total attempts including the first (>= 1).
        delay: seconds before the second attempt.
        factor: growth of the delay per attempt (>= 1).
        max_delay: cap on the delay, in seconds; not less than *delay*. Default: 300,
            or, for a *delay* longer than that, none below the longest delay the
            policy makes.
        jitter: fraction (0..1) of the delay added at most.
        retry_on: exception types that are retried; others fail at once.
    """

    attempts: int = 3
    delay: float = 1.0
    factor: float = 2.0
    max_delay: float = _DEFAULT_MAX_DELAY
    jitter: float = 0.1
    retry_on: tuple[type[BaseException], ...] = (Exception,)

    def __post_init__(self) -> None:
        whole(self.attempts, "retry attempts")
        for name in ("delay", "max_delay"):
            seconds(getattr(self, name), f"retry {name}")
        if isinstance(self.factor, bool) or not isinstance(self.factor, (int, float)):
            raise TypeError(f"retry factor must be a number, got {self.factor!r}")
        if not 1 <= self.factor < math.inf:  # NaN fails the comparison too
            raise ValueError(f"retry factor must be a finite number >= 1, got {self.factor!r}")
        if type(self.max_delay) is _DefaultMaxDelay:  # (not given)
            longest = 300.0
            if self.delay > longest:
                try:
                    longest = self.delay * self.factor ** max(self.attempts - 2, 0)
                except OverflowError:
                    longest = MAX_SECONDS
            cap = _DefaultMaxDelay(min(longest, MAX_SECONDS))
            object.__setattr__(self, "max_delay", cap)
        elif self.max_delay < self.delay:
            raise ValueError(
                f"retry max_delay {self.max_delay!r} s is less than delay {self.delay!r} s: it "
                f"caps every delay, the first too; give max_delay >= {self.delay!r}"
            )
        if isinstance(self.jitter, bool) or not isinstance(self.jitter, (int, float)):
            raise TypeError(f"retry jitter must be a number, got {self.jitter!r}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"retry jitter must be between 0 and 1, got {self.jitter!r}")
        types = self.retry_on
        if isinstance(types, type):
            types = (types,)
        if (
            not isinstance(types, (tuple, list, frozenset, set))
            or not types
            or not all(isinstance(kind, type) and issubclass(kind, BaseException) for kind in types)
        ):
            raise TypeError(f"retry_on must be exception types, got {self.retry_on!r}")
        if isinstance(types, (frozenset, set)):  # (in an order every process agrees on)
            types = sorted(types, key=lambda kind: (kind.__module__, kind.__qualname__))
        object.__setattr__(self, "retry_on", tuple(types))

    def retries(self, error: BaseException | None) -> bool:
        """Whether an attempt that ended with *error* is of a type :attr:`retry_on`
        retries. A failure that came back from a task queue's worker
        (:class:`~tickwork.RemoteJobError`) goes by the type it had there: its class, if
        this process has imported its module, else its name (and any remote error is
        retried when ``retry_on`` holds ``Exception``, or ``RemoteJobError`` itself)."""
        kinds = self.retry_on
        remote = error.error_type if isinstance(error, RemoteJobError) else ""
        if not remote or any(issubclass(kind, RemoteJobError) for kind in kinds):
            return isinstance(error, kinds)
        found = _remote_class(remote)
        if found is not None:
            return issubclass(found, kinds)
        names = {f"{kind.__module__}.{kind.__qualname__}" for kind in kinds}
        return remote in names or Exception in kinds or BaseException in kinds

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "delay": self.delay,
            "factor": self.factor,
            "max_delay": self.max_delay,
            "jitter": self.jitter,
            "retry_on": [f"{kind.__module__}:{kind.__qualname__}" for kind in self.retry_on],
        }


def _remote_class(name: str) -> type[BaseException] | None:
    """The exception class ``module.QualName`` names, from a module this process has
    imported already (a name from a worker imports nothing here), or None."""
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        found: object = sys.modules.get(".".join(parts[:cut]))
        if found is None:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute, None)
        if isinstance(found, type) and issubclass(found, BaseException):
            return found
        return None
    return None


class JobControl(Protocol):
    """What a :class:`Job` record's convenience methods call: the scheduler that
    returned it (a record knows nothing more of a scheduler than this)."""

    def pause_job(self, job_id: str, note: str | None = None) -> Job: ...

    def resume_job(self, job_id: str) -> Job: ...

    def remove_job(self, job_id: str) -> None: ...

    def modify_job(self, /, job_id: str, **changes: Any) -> Job: ...

    def next_fire_times(self, job_id: str, count: int = 5) -> list[datetime]: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class Job:
    """A snapshot of a scheduled job: its definition and its schedule state.

    Returned by ``add_job`` and the management methods. It is a value: changing a job
    goes through the scheduler (``modify_job``, ``pause_job``...), which returns a new
    snapshot. The convenience methods (:meth:`pause`, :meth:`remove`...) do exactly that.
    """

    id: str
    name: str
    func: Callable[..., Any] | None = field(repr=False, compare=False)
    func_ref: str | None
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    trigger: Trigger
    executor: str = "default"
    tags: frozenset[str] = frozenset()
    start: datetime | None = None
    end: datetime | None = None
    misfire_grace_time: timedelta | None = None
    catchup: Catchup = Catchup.LATEST
    max_catchup: int = 100
    overlap: Overlap = Overlap.SKIP
    max_instances: int = 1
    jitter: timedelta | None = None
    retry: RetryPolicy | None = None
    timeout: float | None = None
    max_consecutive_failures: int | None = None
    remaining_runs: int | None = None
    paused: bool = False
    pause_note: str | None = None
    next_fire: datetime | None = None
    consecutive_failures: int = 0
    after: tuple[str, ...] = ()
    on: ChainOn = ChainOn.SUCCESS
    _control: JobControl | None = field(default=None, repr=False, compare=False)

    @property
    def pending(self) -> bool:
        """True when the job has a next fire time and is not paused."""
        return self.next_fire is not None and not self.paused

    def pause(self, note: str | None = None) -> Job:
        """Pause this job; see ``Scheduler.pause_job``."""
        return self._require_control().pause_job(self.id, note=note)

    def resume(self) -> Job:
        """Resume this job; see ``Scheduler.resume_job``."""
        return self._require_control().resume_job(self.id)

    def remove(self) -> None:
        """Remove this job; see ``Scheduler.remove_job``."""
        self._require_control().remove_job(self.id)

    def modify(self, **changes: Any) -> Job:
        """Change options of this job; see ``Scheduler.modify_job``."""
        return self._require_control().modify_job(self.id, **changes)

    def next_fire_times(self, count: int = 5) -> list[datetime]:
        """Preview the next *count* fire times; see ``Scheduler.next_fire_times``."""
        return self._require_control().next_fire_times(self.id, count)

    def _require_control(self) -> JobControl:
        if self._control is None:
            raise RuntimeError(f"job {self.id!r} is not attached to a scheduler")
        return self._control


def _build_evolve() -> Callable[..., Job]:
    """Generate ``evolve``: straight-line code setting each slot, twice as fast as a loop.

    (``dataclasses`` generates its ``__init__`` the same way.)
    """
    names = Job.__slots__
    namespace: dict[str, Any] = {"_Job": Job, "_new": object.__new__, "_KEEP": _KEEP}
    lines = [f"def evolve(job, /, *, {', '.join(f'{n}=_KEEP' for n in names)}):"]
    lines.append("    new = _new(_Job)")
    for index, name in enumerate(names):
        namespace[f"_set{index}"] = Job.__dict__[name].__set__
        lines.append(f"    _set{index}(new, job.{name} if {name} is _KEEP else {name})")
    lines.append("    return new")
    exec("\n".join(lines), namespace)  # code built from our own field names only
    return namespace["evolve"]  # type: ignore[no-any-return]


_KEEP: Any = object()
_evolve = _build_evolve()


def _build_make() -> Callable[..., Job]:
    """Generate ``make_job``: ``Job(...)`` as straight-line code setting each slot (the
    frozen dataclass's ``__init__`` calls ``object.__setattr__`` for each field)."""
    namespace: dict[str, Any] = {"_Job": Job, "_new": object.__new__, "_KEEP": _KEEP}
    params, lines = [], []
    for index, item in enumerate(fields(Job)):
        name = item.name
        namespace[f"_set{index}"] = Job.__dict__[name].__set__
        if item.default is not MISSING:
            namespace[f"_default{index}"] = item.default
            params.append(f"{name}=_default{index}")
        elif item.default_factory is not MISSING:
            namespace[f"_factory{index}"] = item.default_factory
            params.append(f"{name}=_KEEP")
            lines.append(f"    if {name} is _KEEP: {name} = _factory{index}()")
        else:
            params.append(name)
        lines.append(f"    _set{index}(new, {name})")
    code = [f"def make_job(*, {', '.join(params)}):", "    new = _new(_Job)", *lines]
    exec("\n".join([*code, "    return new"]), namespace)  # our own field names only
    return namespace["make_job"]  # type: ignore[no-any-return]


#: ``Job(**fields)``, a third faster (``add_job`` builds one per call). Internal use
#: only: it checks nothing that ``Job`` would not check either.
make_job: Callable[..., Job] = _build_make()


def evolve(job: Job, **changes: Any) -> Job:
    """A copy of *job* with *changes*: ``dataclasses.replace`` without re-running
    ``__init__`` (several times cheaper). Internal use only: the field names are trusted."""
    return _evolve(job, **changes)


def counters_of(job: Job, stored: Job) -> Job:
    """*job* with the failure count and the pause of *stored* (the record another
    process may have changed since this one read it), for a change made here to go onto
    them instead of undoing them."""
    return evolve(
        job,
        consecutive_failures=stored.consecutive_failures,
        paused=stored.paused,
        pause_note=stored.pause_note,
    )


def with_counters(stored: Job, mine: Job, paused_here: bool) -> Job | None:
    """*stored* (a job as another process left it) with the counters of this process's
    copy *mine*: its failure count, and its pause when *paused_here*; None when it holds
    them already. Only those are this process's to write over another's change."""
    changes: dict[str, Any] = {}
    if stored.consecutive_failures != mine.consecutive_failures:
        changes["consecutive_failures"] = mine.consecutive_failures
    if paused_here and (not stored.paused or stored.pause_note != mine.pause_note):
        changes.update(paused=True, pause_note=mine.pause_note)
    return evolve(stored, **changes) if changes else None


# (No slots: a frozen dataclass with slots cannot be unpickled on Python 3.10, and a
# process executor pickles the run request that carries this.)
@dataclass(frozen=True, kw_only=True)
class EmittedEvent:
    """One emitted event (``scheduler.emit(name, payload)``), as a job started by it sees
    it in ``current_run().event``.

    ``id`` is unique (32 hex characters: 64 random bits drawn once per process, then
    a counter) and the same in every process: with
    ``job_id`` it is the key that makes each event run each job once. ``emitted_at``
    is when ``emit`` was called, by the emitting scheduler's clock, as stored (a
    store of events moves it on to keep events apart); it is also the run's
    ``scheduled_at`` unless a fire or another run of the job has that instant (then a
    microsecond or a few later). ``payload`` is the JSON data given to ``emit`` (as
    JSON gives it back: tuples become lists).
    """

    id: str
    name: str
    payload: Any
    emitted_at: datetime


@dataclass(frozen=True, slots=True)
class RunContext:
    """What ``tickwork.current_run()`` returns inside a running job.

    ``(job_id, scheduled_at)`` identifies one scheduled fire everywhere (threads,
    asyncio, processes, and across restarts): a natural idempotency key. ``attempt``
    counts retries from 1. ``upstream`` holds, for a job started after others
    (``add_job(after=...)``), each upstream job's run by job id (empty otherwise).
    """

    job_id: str
    scheduled_at: datetime
    attempt: int
    #: The event that started this run (an ``EventTrigger``'s job), else None.
    event: EmittedEvent | None = None
    #: A chained run's upstream runs by job id (``add_job(after=...)``), else empty.
    upstream: Mapping[str, Upstream] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        """This attempt of this fire, as one string: ``job_id@<fire time, UTC>#attempt``
        (``"report@2024-03-04T09:00:00Z#1"``), the same in every process and log record
        (the ``run_id`` of tickwork's log records and trace spans)."""
        return run_id(self.job_id, self.scheduled_at, self.attempt)


def run_id(job_id: str, scheduled_at: datetime, attempt: int) -> str:
    """The run id of attempt *attempt* of the fire of *job_id* at *scheduled_at*
    (see :attr:`RunContext.run_id`): the fire time as an instant in UTC, so a fire time
    written in any zone gives the same id."""
    utc = scheduled_at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return f"{job_id}@{utc}#{attempt}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Upstream:
    """One upstream run of a downstream job's run (``current_run().upstream[job_id]``).

    ``outcome`` is how it ended; ``return_value`` what it returned (``None`` when it
    failed, or when the value could not be kept as JSON across processes);
    ``run_id`` its :attr:`RunContext.run_id`; ``error`` the exception's
    ``"Type: message"`` text when it failed.
    """

    job_id: str
    run_id: str
    outcome: Outcome
    return_value: Any = None
    error: str | None = None


class RunRequest(NamedTuple):
    """One run handed to an executor. (A named tuple: it is built once per run.)"""

    run_id: int
    job_id: str
    func: Callable[..., Any] | None
    func_ref: str | None
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    scheduled_at: datetime
    attempt: int = 1
    timeout: float | None = None
    #: The event that started this run (an ``EventTrigger``'s job), else None.
    event: EmittedEvent | None = None
    #: Upstream runs of a chained run (see :class:`Upstream`), else None.
    upstream: Mapping[str, Upstream] | None = None
    #: The job's misfire grace time, for a run of a fire time (not a retry, nor a run
    #: asked for by ``run_job_now``/``backfill``, nor one that waited for a free
    #: instance): an executor does not start it later than this after its nominal
    #: time, and reports it ``MISSED`` instead (a task queue executor lets the task
    #: expire). None: no limit.
    misfire_grace: timedelta | None = None

    @property
    def context(self) -> RunContext:
        upstream = self.upstream
        if upstream is None:
            return RunContext(self.job_id, self.scheduled_at, self.attempt, self.event)
        return RunContext(
            self.job_id, self.scheduled_at, self.attempt, self.event, upstream=upstream
        )


class UnkeptReturn:
    """What a run returned, when only its type is known: a value JSON cannot hold,
    returned on a task queue's worker, stayed there. An executor reports it as the
    run's return value; the history records it as it records such a value returned
    locally: not kept (``Run.return_kept`` False), the run a success."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str) -> None:
        #: The ``__qualname__`` of the value's type (``"set"``).
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<a {self.type_name} returned on a worker, not kept: it is not JSON>"


class RunResult(NamedTuple):
    """What an executor reports when a run ends."""

    request: RunRequest
    outcome: Outcome
    return_value: Any = None
    exception: BaseException | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: Why an ``INTERRUPTED`` run ended, when its executor knows better than "never
    #: started" / "cut off" (a run still out on a task queue's worker at shutdown).
    reason: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Run:
    """One entry of a scheduler's run history (``scheduler.history()``).

    ``scheduled_at`` is the nominal fire time; ``started_at``/``finished_at`` are None
    for runs that never started (missed, skipped). ``attempt`` counts retries from 1.
    ``error_type`` is the exception's ``module.QualName`` and ``error_message`` its
    text (or why the run was missed, skipped or interrupted). ``process`` names the
    process that recorded it (``host:pid``). ``parent_ids`` are the run ids of the
    upstream runs that started it (a chained job), ``return_value`` what it returned
    when that could be kept as JSON (``return_kept`` is False when it returned a value
    that could not).
    """

    job_id: str
    scheduled_at: datetime
    attempt: int
    outcome: Outcome
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error_type: str | None = None
    error_message: str | None = None
    process: str = ""
    parent_ids: tuple[str, ...] = ()
    return_value: Any = None
    return_kept: bool = True

    @property
    def run_id(self) -> str:
        """This run's id, as :attr:`RunContext.run_id` (``job@<fire time UTC>#attempt``)."""
        return run_id(self.job_id, self.scheduled_at, self.attempt)

    @property
    def duration(self) -> timedelta | None:
        """How long the run took, when it ran."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


class RunEnd(NamedTuple):
    """How one run (or one scheduled fire that did not run) ended: the core's record
    for the store's history. ``final`` is True when no further attempt of this fire
    follows, so the store may release its claim on it."""

    job_id: str
    scheduled_at: datetime
    attempt: int
    outcome: Outcome
    at: datetime
    started_at: datetime | None = None
    error: BaseException | None = None
    reason: str | None = None
    final: bool = True
    #: What a successful run returned (a store keeps it as JSON when it can), or None.
    return_value: Any = None
    #: The run ids of the upstream runs of a chained run.
    parent_ids: tuple[str, ...] = ()


# Records made once per run, built as plain tuples are: a NamedTuple's own constructor
# is a Python function, slower than the tuple it makes (the core makes 10,000 at once).
_new = tuple.__new__


def request_for(
    run_id: int, job: Job, scheduled_at: datetime, attempt: int, *, of_fire: bool = True
) -> RunRequest:
    """The :class:`RunRequest` of one run of *job*: ``RunRequest(...)``, made faster.
    *of_fire*: a run of a fire time as it comes due, which the job's misfire grace
    bounds (see :attr:`RunRequest.misfire_grace`)."""
    request: RunRequest = _new(
        RunRequest,
        (
            run_id,
            job.id,
            job.func,
            job.func_ref,
            job.args,
            job.kwargs,
            scheduled_at,
            attempt,
            job.timeout,
            None,  # event
            None,  # upstream
            job.misfire_grace_time if of_fire else None,
        ),
    )
    return request
