"""Pure scheduling maths: first fire, catch-up after downtime, jitter, retry back-off.

Nothing here reads the clock or shared randomness: ``now`` is an argument, and the
"random" parts (jitter) are derived from a hash of the job id and the fire time, so
every process and every restart computes the same value.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple, Protocol

from ._errors import TriggerError
from ._instants import EPOCH as _EPOCH
from ._instants import US as _US
from ._instants import epoch_us, just_before
from ._model import Catchup, Job, RetryPolicy, Run, evolve
from .triggers import (
    CalendarIntervalTrigger,
    CronTrigger,
    DateTrigger,
    IntervalTrigger,
    Trigger,
    UpstreamTrigger,
)
from .triggers.event import EventTrigger, listens_for_events

logger = logging.getLogger("tickwork")

__all__ = [
    "Draft",
    "FirePlan",
    "Scheduled",
    "count_fires",
    "ended",
    "epoch_us",
    "jitter_offset",
    "job_first_fire",
    "job_next_fire",
    "job_previous_fire",
    "keep_schedule",
    "latest_fire_at_or_before",
    "next_job_fire",
    "not_again",
    "plan_due",
    "require_first_fire",
    "retry_delay",
    "startable",
    "trigger_failure",
    "upcoming_fires",
    "would_never_run",
]

#: Counting a backlog by walking its fire times stops here (interval and cron triggers
#: count theirs exactly: ``count_between``).
COUNT_LIMIT = 10_000


#: The triggers whose answers are trusted (tickwork's own, but for And/Or, which
#: combine others): a custom trigger's answer is checked (:func:`checked_fire`).
_TRUSTED = frozenset({CronTrigger, IntervalTrigger, DateTrigger, CalendarIntervalTrigger})


def checked_fire(trigger: Trigger, after: datetime, found: object) -> datetime | None:
    """*found*, ``trigger.next_after(after)``, if it keeps the trigger contract: None, or
    an aware datetime strictly later than *after*. Else ``TypeError`` or ``ValueError``
    (the callers turn it into a ``TriggerError`` naming the job, or pause the job): a
    naive time broke every later call on the job, and one not later looped for ever."""
    if found is None or type(trigger) in _TRUSTED:
        return found  # type: ignore[return-value]
    if not isinstance(found, datetime) or found.utcoffset() is None:
        raise TypeError(
            f"{type(trigger).__name__}.next_after must return an aware datetime or None, "
            f"got {found!r}"
        )
    if epoch_us(found) <= epoch_us(after):
        raise ValueError(
            f"{type(trigger).__name__}.next_after({after.isoformat()}) returned "
            f"{found.isoformat()}: a fire time must be strictly later"
        )
    return found


def next_job_fire(
    trigger: Trigger, after: datetime, start: datetime | None, end: datetime | None
) -> datetime | None:
    """The trigger's next fire strictly after *after*, inside the job's [start, end]."""
    if start is not None and epoch_us(start) > epoch_us(after):
        after = just_before(start)
    found = checked_fire(trigger, after, trigger.next_after(after))
    if found is not None and end is not None and epoch_us(found) > epoch_us(end):
        return None
    return found


class Scheduled(Protocol):
    """What the first-fire and next-fire rules read of a job: a :class:`Job`, or the
    draft of one that ``add_job`` has not built yet."""

    @property
    def id(self) -> str: ...

    @property
    def trigger(self) -> Trigger: ...

    @property
    def start(self) -> datetime | None: ...

    @property
    def end(self) -> datetime | None: ...


class Draft(NamedTuple):
    """A job's schedule before its record exists (``add_job`` finds the first fire
    first, to build the record once)."""

    id: str
    trigger: Trigger
    start: datetime | None
    end: datetime | None


def trigger_failure(job_id: str, after: datetime, error: BaseException) -> str:
    """Why a job's trigger could not say when it fires next, as a sentence."""
    return (
        f"the trigger of job {job_id!r} failed to give its fire time after "
        f"{after.isoformat()}: {type(error).__name__}: {error}"
    )


def job_next_fire(job: Scheduled, after: datetime) -> datetime | None:
    """:func:`next_job_fire` for *job*, for a call a user made: a trigger that raises
    raises :class:`~tickwork.TriggerError`, naming the job, from its error."""
    try:
        return next_job_fire(job.trigger, after, job.start, job.end)
    except Exception as error:  # a custom trigger may raise anything
        raise TriggerError(trigger_failure(job.id, after, error), job_id=job.id) from error


#: How many fire times ``backfill`` queues at most in one call.
BACKFILL_LIMIT = 10_000


def backfill_fires(job: Job, first: datetime, last: datetime) -> list[datetime]:
    """The job's fire times in [*first*, *last*] for ``backfill``: of its trigger,
    within the job's own start and end, and before its next fire time (from there on,
    fires run on schedule). Raises ValueError for a job with no fire times of its own
    or more than :data:`BACKFILL_LIMIT` of them."""
    if type(job.trigger) is UpstreamTrigger or isinstance(job.trigger, EventTrigger):
        raise ValueError(
            f"job {job.id!r} has no fire times of its own to backfill ({job.trigger!r}); "
            f"run_job_now({job.id!r}) runs it once"
        )
    upto = epoch_us(last)
    if job.next_fire is not None:
        upto = min(upto, epoch_us(job.next_fire) - 1)
    times: list[datetime] = []
    moment = job_next_fire(job, just_before(first))
    while moment is not None and epoch_us(moment) <= upto:
        if len(times) >= BACKFILL_LIMIT:
            raise ValueError(
                f"backfill of {job.id!r} from {first} to {last} has more than "
                f"{BACKFILL_LIMIT} fire times; split the range"
            )
        times.append(moment)
        moment = job_next_fire(job, moment)
    return times


def upcoming_fires(
    job: Job, count: int, now: datetime, after: datetime | None = None
) -> list[datetime]:
    """The job's next *count* fire times: from its next fire time (a paused job's, or a
    job's with none: its first at or after *now*, as if resumed now), or those strictly
    after *after* when given; no more than its remaining runs."""
    if after is None:
        first = job.next_fire
        if job.paused or first is None:
            first = job_first_fire(job, now)
    else:
        first = job_next_fire(job, after)
    times: list[datetime] = []
    while first is not None and len(times) < count:
        times.append(first)
        first = job_next_fire(job, first)
    if job.remaining_runs is not None:
        times = times[: job.remaining_runs]
    return times


def job_previous_fire(job: Scheduled, before: datetime) -> datetime | None:
    """The job's latest fire time strictly before *before* inside its [start, end], or
    None; a trigger that raises raises :class:`~tickwork.TriggerError`, naming the job."""
    end = job.end
    if end is not None and epoch_us(end) < epoch_us(before):
        before = end.astimezone(timezone.utc) + _US  # at or before the end
    try:
        found = job.trigger.previous_before(before)
    except Exception as error:  # a custom trigger may raise anything
        reason = (
            f"the trigger of job {job.id!r} failed to give its fire time before "
            f"{before.isoformat()}: {type(error).__name__}: {error}"
        )
        raise TriggerError(reason, job_id=job.id) from error
    start = job.start
    if found is not None and start is not None and epoch_us(found) < epoch_us(start):
        return None
    return found


def job_first_fire(job: Scheduled, now: datetime, *, late_ok: bool = False) -> datetime | None:
    """The job's first fire time at or after *now* inside its [start, end], or None.

    With *late_ok* (a job given a new trigger: added, rescheduled), a one-off time
    (a :class:`~tickwork.DateTrigger`) already past counts when it lies inside
    [start, end]: it is due now, late, and the job's misfire grace decides whether it
    runs. Without it (a paused job resumed, a preview), a one-off time that has passed
    is gone. Raises :class:`~tickwork.TriggerError`, naming the job, when the trigger
    raises.
    """
    # (job_next_fire, inlined: add_job comes here for every job.)
    after = just_before(now)
    trigger = job.trigger
    try:
        found = next_job_fire(trigger, after, job.start, job.end)
    except Exception as error:  # a custom trigger may raise anything
        raise TriggerError(trigger_failure(job.id, after, error), job_id=job.id) from error
    if (
        found is None
        and late_ok
        and isinstance(trigger, DateTrigger)
        and within_window(job, trigger.run_at)
    ):
        return trigger.run_at
    return found


def not_again(old: Job, job: Job, first: datetime | None, now: datetime) -> datetime | None:
    """*first*, *job*'s first fire time at or after *now* (the job changed from *old*:
    rescheduled, resumed), moved on past *now* when a fire of *old* at this very instant
    came due already (ran, or was claimed: its next fire was after it): (job, fire
    time) names one run."""
    held = old.next_fire
    if first is None or first != now or held is None or not now < held:
        return first
    if job.trigger is not old.trigger and job_next_fire(old, just_before(now)) != now:
        return first
    return job_next_fire(job, now)


def within_window(job: Scheduled, moment: datetime) -> bool:
    """Whether *moment* lies inside the job's [start, end] (both inclusive)."""
    at = epoch_us(moment)
    start, end = job.start, job.end
    return (start is None or at >= epoch_us(start)) and (end is None or at <= epoch_us(end))


def ended(job: Scheduled, now: datetime) -> bool:
    """Whether the job's ``end`` has passed at *now*."""
    return job.end is not None and epoch_us(job.end) < epoch_us(now)


def startable(job: Job, now: datetime) -> bool:
    """Whether *job*, with no fire time of its own left, may still run: it runs after
    other jobs (``after=``) or on events, and its ``end`` has not passed (events and
    upstream runs start it only within its [start, end]). Such a job is not done for
    lack of fire times."""
    return (bool(job.after) or listens_for_events(job.trigger)) and not ended(job, now)


def would_never_run(job: Scheduled, now: datetime, *, changing: bool = False) -> ValueError:
    """The error for *job* having no fire time at or after *now* (see
    :func:`job_first_fire`); *changing*: the call changes an existing job, and nothing was
    changed."""
    if job.end is not None and isinstance(job.trigger, (EventTrigger, UpstreamTrigger)):
        return ValueError(
            f"job {job.id!r} would never run{' again' if changing else ''}: its "
            f"end={job.end.isoformat()} is before {now.isoformat()} (events and upstream "
            "runs start it only within its start and end)"
            + ("; nothing was changed" if changing else "")
        )
    window = ""
    if job.start is not None and job.end is not None:
        window = f" within the job's start={job.start.isoformat()} and end={job.end.isoformat()}"
    elif job.start is not None:
        window = f" within the job's start={job.start.isoformat()}"
    elif job.end is not None:
        window = f" within the job's end={job.end.isoformat()}"
    return ValueError(
        f"job {job.id!r} would never run{' again' if changing else ''}: {job.trigger!r} has "
        f"no fire time at or after {now.isoformat()}{window}"
        + ("; nothing was changed" if changing else "")
    )


def check_asked_fire(job: Scheduled, when: datetime | None, *, now: bool) -> None:
    """A first fire time ``add_job`` was given (*now*: ``run_immediately=True``; else
    ``first_fire=``) must lie inside the job's [start, end]: ``ValueError`` otherwise."""
    if when is None or within_window(job, when):
        return
    asked = "run_immediately=True runs it now" if now else "first_fire is"
    bounds = [f"{name}={moment.isoformat()}" for name, moment in (("start", job.start),
              ("end", job.end)) if moment is not None]  # fmt: skip
    raise ValueError(
        f"job {job.id!r}: {asked} {when.isoformat()}, outside its {' and '.join(bounds)} "
        "(it fires only within them)"
    )


def start_held_back(before: Job, after: Job) -> bool:
    """Whether *before*'s next fire time was where its ``start`` put it (the first fire
    at or after that start) and *after* has an earlier start, or none: the job then
    fires from the new start (``modify_job``). A next fire time set otherwise (an
    explicit ``first_fire``, a ``run-now``) is left alone."""
    old, fire = before.start, before.next_fire
    if old is None or fire is None:
        return False
    if after.start is not None and epoch_us(after.start) >= epoch_us(old):
        return False
    put = job_first_fire(before, old)
    return put is not None and epoch_us(put) == epoch_us(fire)


def require_first_fire(
    job: Scheduled, now: datetime, *, late_ok: bool = False, changing: bool = False
) -> datetime | None:
    """:func:`job_first_fire`, or ``ValueError`` (:func:`would_never_run`) when there is
    none; ``TriggerError`` when the trigger raises. None for a job that waits for
    events (an ``EventTrigger``, alone or in an ``OrTrigger``) or for its upstreams (an
    ``UpstreamTrigger``) and has no fire time, unless its ``end`` has passed."""
    found = job_first_fire(job, now, late_ok=late_ok)
    if found is None and (
        not (listens_for_events(job.trigger) or isinstance(job.trigger, UpstreamTrigger))
        or ended(job, now)
    ):
        raise would_never_run(job, now, changing=changing)
    return found


def count_fires(
    trigger: Trigger,
    after: datetime,
    until: datetime,
    start: datetime | None,
    end: datetime | None,
    limit: int = COUNT_LIMIT,
) -> int:
    """How many fire times lie in (after, until], counting at most *limit*.

    Interval and cron triggers are counted exactly, however many there are, by their
    ``count_between`` (the job's *start* and *end* narrow the span: a fire outside them
    is no fire of the job); others are walked.
    """
    exact = getattr(trigger, "count_between", None)
    if exact is not None:
        if start is not None and epoch_us(start) > epoch_us(after):
            after = just_before(start)
        if end is not None and epoch_us(end) < epoch_us(until):
            until = end
        return int(exact(after, until))
    count = 0
    until_us = epoch_us(until)
    moment: datetime | None = after
    while count < limit:
        assert moment is not None
        moment = next_job_fire(trigger, moment, start, end)
        if moment is None or epoch_us(moment) > until_us:
            break
        count += 1
    return count


def latest_fire_at_or_before(
    trigger: Trigger,
    moment: datetime,
    lower: datetime,
    start: datetime | None,
    end: datetime | None,
) -> datetime:
    """The latest fire time <= *moment*, given that *lower* is a fire time <= *moment*.

    One :meth:`~tickwork.Trigger.previous_before` call for a trigger that answers it
    directly (every built-in one); otherwise a binary search on "the first fire at or
    after x": about 40 trigger calls for a backlog of weeks, instead of walking every
    missed fire time.
    """
    if type(trigger).previous_before is not Trigger.previous_before:
        ceiling = moment if end is None or epoch_us(end) > epoch_us(moment) else end
        found = trigger.previous_before(ceiling.astimezone(timezone.utc) + _US)
        if found is None or epoch_us(found) < epoch_us(lower):
            return lower
        return found
    low, high = epoch_us(lower), epoch_us(moment) + 1
    limit = epoch_us(moment)
    best = lower
    while high - low > 1:
        middle = (low + high) // 2
        found = next_job_fire(trigger, _EPOCH + (middle - 1) * _US, start, end)
        if found is not None and epoch_us(found) <= limit:
            low, best = middle, found
        else:
            high = middle
    return best


class FirePlan(NamedTuple):
    """What to do with a job whose next fire time has come.

    ``runs``: the nominal fire times to run now, oldest first. ``missed``: how many due
    fire times will not run. ``next_fire``: the first fire time after *now*.
    ``first_missed``: the oldest due fire time that will not run (None when
    ``missed`` is 0): what ``JOB_MISSED`` reports, never a fire time in ``runs``.
    """

    runs: tuple[datetime, ...]
    missed: int
    next_fire: datetime | None
    first_missed: datetime | None = None


def plan_due(
    trigger: Trigger,
    first: datetime,
    now: datetime,
    *,
    grace: timedelta | None,
    catchup: Catchup,
    max_catchup: int,
    start: datetime | None = None,
    end: datetime | None = None,
    now_us: int | None = None,
    planned_us: int | None = None,
    offset_us: Callable[[datetime], int] | None = None,
) -> FirePlan:
    """Decide the runs for a job whose fire time *first* (<= *now*) has come.

    The common case, one fire time due, costs one trigger call. A backlog (after
    downtime, a suspend, a clock jump) is resolved by the catch-up policy without
    enumerating every missed fire time: the next fire is found straight from *now*.
    *now_us* may pass ``epoch_us(now)`` when the caller already has it; *planned_us*
    is when the run was meant to start (the fire time plus its jitter): lateness for
    the grace time counts from there, so jitter is never a misfire; *offset_us* gives
    a jittered job's offset (µs) of any fire time, for a backlog.
    """
    if now_us is None:
        now_us = epoch_us(now)
    eligible_us = None if grace is None else now_us - grace // _US
    if start is None and end is None:
        following = checked_fire(trigger, first, trigger.next_after(first))
    else:
        following = next_job_fire(trigger, first, start, end)
    if following is None or epoch_us(following) > now_us:
        if eligible_us is not None:
            start_us = epoch_us(first) if planned_us is None else planned_us
            if start_us < eligible_us:
                return FirePlan((), 1, following, first)
        return FirePlan((first,), 0, following)

    # A backlog: *first* and *following* are both due. Every policy but "earliest"
    # leaves *first* out (catch-up keeps the newest fires), so the oldest missed fire
    # is *first*, or *following* when *first* is the one that runs.
    upcoming = next_job_fire(trigger, now, start, end)
    before_first = just_before(first)
    total = count_fires(trigger, before_first, now, start, end)
    # *first* may be off the trigger's times (another process's run-now, first_fire=):
    # a fire time all the same, counted, run or missed by the policy as the others are.
    on_grid = next_job_fire(trigger, before_first, start, end)
    off_grid = on_grid is None or epoch_us(on_grid) != epoch_us(first)  # (instants: folds)
    total += off_grid
    if catchup is Catchup.NONE:
        return FirePlan((), total, upcoming, first)
    earliest_ok = first if eligible_us is None or epoch_us(first) >= eligible_us else None
    if earliest_ok is None and offset_us is not None:
        assert eligible_us is not None
        # Jittered: the last fire time before the grace window may start within it (its
        # offset stays before the next fire time, so no older one can).
        cutoff = _EPOCH + (eligible_us - 1) * _US
        prior = latest_fire_at_or_before(trigger, min(cutoff, now), first, start, end)
        if epoch_us(prior) + offset_us(prior) >= eligible_us:
            earliest_ok = prior
    if earliest_ok is None:
        assert eligible_us is not None
        candidate = next_job_fire(trigger, _EPOCH + (eligible_us - 1) * _US, start, end)
        if candidate is not None and epoch_us(candidate) <= now_us:
            earliest_ok = candidate
    if earliest_ok is None:
        return FirePlan((), total, upcoming, first)
    if catchup is Catchup.EARLIEST:
        oldest_missed = following if earliest_ok is first else first
        return FirePlan((earliest_ok,), max(total - 1, 0), upcoming, oldest_missed)
    latest = latest_fire_at_or_before(trigger, now, first, start, end)
    if catchup is Catchup.LATEST:
        return FirePlan((latest,), max(total - 1, 0), upcoming, first)
    runs = _last_fires(trigger, earliest_ok, now, max_catchup, start, end)
    if off_grid and earliest_ok is first and len(runs) < max_catchup:
        runs = (first, *runs)
    missed = max(total - len(runs), 0)
    return FirePlan(runs, missed, upcoming, first if missed else None)


def _last_fires(
    trigger: Trigger,
    earliest: datetime,
    now: datetime,
    count: int,
    start: datetime | None,
    end: datetime | None,
) -> tuple[datetime, ...]:
    """The last *count* fire times in [earliest, now], oldest first."""
    now_us = epoch_us(now)
    low = epoch_us(earliest)
    # Narrow the window from below until it holds at most `count` fire times.
    if count_fires(trigger, just_before(earliest), now, start, end, count + 1) > count:
        high = now_us
        while high - low > 1:
            middle = (low + high) // 2
            within = count_fires(trigger, _EPOCH + (middle - 1) * _US, now, start, end, count + 1)
            if within > count:
                low = middle
            else:
                high = middle
        low = high
    kept: deque[datetime] = deque(maxlen=count)
    moment: datetime | None = _EPOCH + (low - 1) * _US
    while True:
        assert moment is not None
        moment = next_job_fire(trigger, moment, start, end)
        if moment is None or epoch_us(moment) > now_us:
            return tuple(kept)
        kept.append(moment)


def _fraction(*parts: object) -> float:
    """A number in [0, 1) derived from *parts*: the same in every process and restart."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def jitter_offset(
    job_id: str,
    nominal: datetime,
    jitter: timedelta,
    following: datetime | None,
    end: datetime | None = None,
) -> timedelta:
    """How far after *nominal* a jittered run starts.

    Stable for a (job, fire time) pair, in [0, jitter), and always before the next
    nominal fire time *following*, so jitter never reorders or moves the schedule; the
    last fire of a job with an *end* starts no later than the end (inclusive).
    """
    span_us = jitter // _US
    if following is not None:
        span_us = min(span_us, epoch_us(following) - epoch_us(nominal) - 1)
    elif end is not None:
        span_us = min(span_us, epoch_us(end) - epoch_us(nominal) + 1)
    if span_us <= 0:
        return timedelta(0)
    nominal_key = nominal.astimezone(timezone.utc).isoformat()
    return int(_fraction(job_id, nominal_key) * span_us) * _US


def retry_delay(policy: RetryPolicy, job_id: str, scheduled_at: datetime, attempt: int) -> float:
    """Seconds to wait after attempt *attempt* failed, before attempt ``attempt + 1``."""
    try:
        grown = policy.delay * policy.factor ** (attempt - 1)
    except OverflowError:  # a factor > 1 after many attempts: past any max_delay
        grown = math.inf
    base = min(policy.max_delay, grown)
    key = scheduled_at.astimezone(timezone.utc).isoformat()
    return float(base + base * policy.jitter * _fraction(job_id, key, attempt))


def within_remaining(plan: FirePlan, remaining: int) -> FirePlan:
    """*plan* cut to the job's *remaining* runs: the newest of them run (as with
    ``max_catchup``), the older ones it cannot run are counted missed, and a job
    with no run left has no next fire."""
    runs = plan.runs
    if len(runs) < remaining:
        return plan
    if len(runs) == remaining:
        return plan._replace(next_fire=None)
    kept = runs[len(runs) - remaining :]
    dropped = runs[: len(runs) - remaining]
    oldest = plan.first_missed
    if oldest is None or epoch_us(dropped[0]) < epoch_us(oldest):
        oldest = dropped[0]
    return FirePlan(kept, plan.missed + len(dropped), None, oldest)


def missed_count(job: Job, missed: int, runs: tuple[datetime, ...]) -> str:
    """*missed*, as the history's missed row says it: a trigger counted by walking its
    fire times (one without ``count_between``: a calendar interval, And/Or, a trigger of
    one's own) stops at :data:`COUNT_LIMIT` of them, so a backlog that reached it is "at
    least" so many."""
    if missed + len(runs) >= COUNT_LIMIT and getattr(job.trigger, "count_between", None) is None:
        return f"at least {missed:,}"
    return str(missed)


def missed_reason(job: Job, runs: tuple[datetime, ...]) -> str:
    """Why fire times of *job* were missed (*runs*: those that run), in the words of its
    options."""
    if not runs:
        if job.misfire_grace_time is not None:
            return f"later than misfire_grace_time={job.misfire_grace_time}"
        return f"catchup={job.catchup.value!r} runs none of a backlog"
    reason = f"catchup={job.catchup.value!r} ran {len(runs)} of the due fire times"
    if job.misfire_grace_time is not None:
        reason += f" within misfire_grace_time={job.misfire_grace_time}"
    return reason


def asked_fire_ran(
    job: Job, first_fire: object, now: Callable[[], datetime], history: Callable[[], Sequence[Run]]
) -> bool:
    """Whether *job*, declared again (start-up code at each start, in each worker) with
    a fire of its own asking that is due at *now()* (a one-off date job, or a
    ``first_fire``), asks for a fire its *history* records (a run, or a missed fire):
    each fire of a job id starts once. Reads the history only for such a fire."""
    fire = job.next_fire
    if fire is None or (first_fire is None and type(job.trigger) is not DateTrigger):
        return False
    fire_us = epoch_us(fire)
    if fire_us > epoch_us(now()):
        return False
    if any(epoch_us(run.scheduled_at) == fire_us for run in history()):
        logger.info(
            "tickwork: job %r: its fire at %s is in the history already; not run again",
            job.id,
            fire.isoformat(),
        )
        return True
    return False


def _loose(like: Trigger, data: dict[str, Any]) -> dict[str, Any]:
    """*data*, the ``to_dict()`` of a trigger shaped as *like*, without the starts that
    *like* took from "now" (its own, or those of the triggers it combines): declared
    again later, they differ, and the schedule is the same."""
    if getattr(like, "_from_now", False):
        return {**data, "start": None}
    parts, given = getattr(like, "triggers", None), data.get("triggers")
    if isinstance(parts, tuple) and isinstance(given, list) and len(parts) == len(given):
        return {**data, "triggers": [_loose(p, d) for p, d in zip(parts, given, strict=True)]}
    return data


def keep_schedule(
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
    if not same and type(existing.trigger) is type(job.trigger):
        old, new = existing.trigger.to_dict(), job.trigger.to_dict()
        if defaulted_start:
            old, new = {**old, "start": None}, {**new, "start": None}
        same = _loose(job.trigger, old) == _loose(job.trigger, new)
    if not same:
        return job
    # The runs left of a count (remaining_runs) are the schedule too: a count declared
    # again goes on from where it was, not from the top at each start (None lifts it).
    remaining = job.remaining_runs
    if remaining is not None and existing.remaining_runs is not None:
        remaining = min(remaining, existing.remaining_runs)
    return evolve(
        job,
        trigger=existing.trigger,
        next_fire=existing.next_fire,
        consecutive_failures=existing.consecutive_failures,
        remaining_runs=remaining,
    )
