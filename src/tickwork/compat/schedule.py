"""A drop-in replacement for the ``schedule`` package (version 1.2), on a due-time heap.

Switch an existing program with one import line::

    from tickwork.compat import schedule

    schedule.every(10).minutes.do(job)
    while True:
        schedule.run_pending()
        time.sleep(1)

Everything a ``schedule`` program can see behaves as in ``schedule`` 1.2.2: the names,
the fluent chain, the attributes of ``Job``, its ``repr`` and ``str``, the errors (types
and messages), the naive local datetimes in ``next_run``, the debug log lines (on the
``"schedule"`` logger), and the known bugs around daylight saving time, which are listed
in ``docs/migrating-from-schedule.md`` together with the native API that fixes them.
Nothing runs in the background: jobs run inside ``run_pending()``, called by your loop.

Theory of operation
-------------------
``schedule`` keeps its jobs in a plain list and, on every ``run_pending()``, asks each job
whether it is due and sorts the due ones. That costs time in proportion to the number of
jobs, on every call, even when nothing is due. Here ``Scheduler.jobs`` is a ``list``
subclass that keeps a min-heap of ``[next_run, seq, uid, job]`` entries beside its items:

- ``seq`` is the job's position in the list (it only grows while jobs are appended, and
  removals keep the order), so popping the heap yields due jobs in exactly the order of
  ``schedule``'s stable sort by ``next_run``.
- ``Job.next_run`` is a property: assigning it (as ``Job.run()`` does after each run, or a
  program forcing a run) kills the job's old entry in place and pushes a fresh one. Dead
  entries are skipped when they reach the top and swept out when they outnumber live ones
  (lazy invalidation), so cancelling and rescheduling are O(log n).
- Every list mutation (``append``, ``remove``, ``del jobs[:]``, slice assignment, ``sort``
  ...) keeps the heap in step, so programs that edit ``schedule.jobs`` directly still work.
- Lists the heap cannot describe exactly (a job listed twice, a ``next_run`` that is not a
  naive datetime) switch ``run_pending()`` back to ``schedule``'s own scan for as long as
  they last, so even odd programs see the same results.

``run_pending()`` with nothing due reads the clock once and compares it with the top of
the heap: O(1) whatever the number of jobs. Time is always read through
``datetime.datetime.now()`` at call time, so ``freezegun`` and similar tools keep working.

This module holds ``Scheduler``, ``Job`` and the module-level API. Beside it, private
modules hold the rest: ``_schedule_heap`` the job list and its heap, ``_schedule_time``
the time maths and the parsing of ``at()`` and ``until()``, ``_schedule_errors`` the
errors (re-exported here, where programs import them from).
"""

from __future__ import annotations

import datetime
import functools
import logging
import random
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any, cast

from ._schedule_errors import (
    IntervalError,
    ScheduleError,
    ScheduleValueError,
    UnknownTimeZoneError,
)
from ._schedule_heap import _HeapList
from ._schedule_time import (
    _UNITS,
    _WEEKDAYS,
    _ZERO,
    _at_time,
    _check_interval,
    _correct_offset,
    _later,
    _normalize,
    _period,
    _until_moment,
    _zone_named,
)

__all__ = [
    "CancelJob",
    "IntervalError",
    "Job",
    "ScheduleError",
    "ScheduleValueError",
    "Scheduler",
    "UnknownTimeZoneError",
    "cancel_job",
    "clear",
    "default_scheduler",
    "every",
    "get_jobs",
    "idle_seconds",
    "jobs",
    "logger",
    "next_run",
    "repeat",
    "run_all",
    "run_pending",
]

#: The logger ``schedule`` writes its debug lines to; programs often configure it by name.
logger = logging.getLogger("schedule")


class CancelJob:
    """Return this class (or an instance) from a job function to cancel the job."""


_MISSING = object()


def _wrapped(partial: functools.partial[Any], func: Callable[..., Any]) -> functools.partial[Any]:
    """``functools.update_wrapper(partial, func)``, a third faster (adding jobs is hot).

    A partial has no descriptors for the copied names, so writing its ``__dict__`` is
    the same as ``setattr``.
    """
    namespace = partial.__dict__
    for name in functools.WRAPPER_ASSIGNMENTS:
        value = getattr(func, name, _MISSING)
        if value is not _MISSING:
            namespace[name] = value
    namespace.update(getattr(func, "__dict__", {}))
    namespace["__wrapped__"] = func
    return partial


class _JobList(_HeapList["Job"]):
    """``Scheduler.jobs``: ``_schedule_heap``'s list, ordering this module's ``Job``.

    Pickles and copies of a ``Scheduler`` name this class, here as before the split.
    """

    __slots__ = ()

    def __init__(self, jobs: Iterable[Job] = ()) -> None:
        super().__init__(Job, jobs)


# ---------------------------------------------------------------------------------------
# Scheduler
# ---------------------------------------------------------------------------------------


class Scheduler:
    """A set of jobs, run by calling ``run_pending()`` from your own loop.

    The module-level functions (``every``, ``run_pending``...) use ``default_scheduler``;
    create more ``Scheduler`` objects to keep separate sets of jobs.
    """

    def __init__(self) -> None:
        self._jobs = _JobList()

    @property
    def jobs(self) -> list[Job]:
        """The jobs, in the order they were added (a ``list``; editing it is supported)."""
        return self._jobs

    @jobs.setter
    def jobs(self, value: Iterable[Job]) -> None:
        self._jobs = value if isinstance(value, _JobList) else _JobList(value)

    def run_pending(self) -> None:
        """Run every job that is due, earliest first (ties in the order they were added).

        Jobs that come due while others run wait for the next call. A job function's
        exception propagates; the jobs after it run on the next call.
        """
        jobs = self._jobs
        if jobs._irregular:
            self._run_pending_by_scan()
            return
        now = datetime.datetime.now()
        try:
            if jobs._heap[0][0] > now:
                return
        except IndexError:
            return
        due = jobs._pop_due(now)
        if not due:
            return
        try:
            # Like schedule, run every job found due, even one that an earlier job in
            # this batch cancelled or rescheduled.
            for _, job in due:
                self._run_job(job)
        finally:
            jobs._restore(due)

    def _run_pending_by_scan(self) -> None:
        # schedule's own algorithm, for lists the heap cannot describe exactly.
        runnable = [job for job in self.jobs if job.should_run]
        for job in sorted(runnable):
            self._run_job(job)

    def run_all(self, delay_seconds: int = 0) -> None:
        """Run every job now, due or not, sleeping *delay_seconds* after each one."""
        logger.debug(
            "Running *all* %i jobs with %is delay in between", len(self.jobs), delay_seconds
        )
        for job in self.jobs[:]:
            self._run_job(job)
            time.sleep(delay_seconds)

    def get_jobs(self, tag: Hashable | None = None) -> list[Job]:
        """A copy of the job list, or of the jobs that carry *tag*."""
        if tag is None:
            return self.jobs[:]
        return [job for job in self.jobs if tag in job.tags]

    def clear(self, tag: Hashable | None = None) -> None:
        """Cancel every job, or every job that carries *tag*."""
        if tag is None:
            logger.debug("Deleting *all* jobs")
            del self.jobs[:]
        else:
            logger.debug('Deleting all jobs tagged "%s"', tag)
            self._jobs._retain(lambda job: tag not in job.tags)

    def cancel_job(self, job: Job) -> None:
        """Remove *job*; a job that is not scheduled is ignored."""
        try:
            logger.debug('Cancelling job "%s"', job)
            self.jobs.remove(job)
        except ValueError:
            logger.debug('Cancelling not-scheduled job "%s"', job)

    def every(self, interval: int = 1) -> Job:
        """Start a job: ``every(10).minutes.do(func)``.

        Raises:
            ValueError: *interval* is NaN or infinite (schedule would fail later with an
                error that does not name it).
        """
        return Job(interval, self)

    def _run_job(self, job: Job) -> None:
        ret = job.run()
        if isinstance(ret, CancelJob) or ret is CancelJob:
            self.cancel_job(job)

    def get_next_run(self, tag: Hashable | None = None) -> datetime.datetime | None:
        """The earliest ``next_run`` of all jobs (or of those with *tag*); ``None`` if none."""
        jobs = self._jobs
        if not jobs:
            return None
        if tag is None and not jobs._irregular and not jobs._inflight:
            earliest = jobs._earliest()
            if earliest is not None:
                return earliest
        candidates = self.get_jobs(tag)
        if not candidates:
            return None
        return min(candidates).next_run

    @property
    def next_run(self) -> datetime.datetime | None:
        """``get_next_run()``: when the next job is due, a naive local datetime."""
        return self.get_next_run()

    @property
    def idle_seconds(self) -> float | None:
        """Seconds until the next job is due (negative when one is overdue); ``None`` if none."""
        upcoming = self.next_run
        if not upcoming:
            return None
        return (upcoming - datetime.datetime.now()).total_seconds()


# ---------------------------------------------------------------------------------------
# Job
# ---------------------------------------------------------------------------------------


class Job:
    """One recurring job, built with the fluent chain: ``every(2).hours.at(":30").do(f)``.

    Attributes programs read: ``interval``, ``latest``, ``unit``, ``at_time``,
    ``at_time_zone``, ``start_day``, ``job_func`` (a ``functools.partial``),
    ``last_run`` and ``next_run`` (naive local datetimes), ``cancel_after``, ``tags``,
    ``scheduler``, and ``period`` (the ``timedelta`` used for the last scheduling, as in
    ``schedule`` before 1.2; ``None`` until then).
    """

    def __init__(self, interval: int, scheduler: Scheduler | None = None) -> None:
        _check_interval(interval)
        # The job list(s) holding this job, told when next_run changes.
        self._owner: _JobList | tuple[_JobList, ...] | None = None
        self._period: datetime.timedelta | None = None
        self._next_run: datetime.datetime | None = None
        self.interval: int = interval
        self.latest: int | None = None
        self.job_func: functools.partial[Any] | None = None
        self.unit: str | None = None
        self.at_time: datetime.time | None = None
        self.at_time_zone: datetime.tzinfo | None = None
        self.last_run: datetime.datetime | None = None
        self.start_day: str | None = None
        self.cancel_after: datetime.datetime | None = None
        self.tags: set[Hashable] = set()
        self.scheduler: Scheduler | None = scheduler

    @property
    def next_run(self) -> datetime.datetime | None:
        """When the job is due next, a naive local datetime (``None`` before ``do()``)."""
        return self._next_run

    @next_run.setter
    def next_run(self, value: datetime.datetime | None) -> None:
        self._next_run = value
        owner = self._owner
        if owner is not None:
            if isinstance(owner, tuple):
                for one in owner:
                    one._moved(self, value)
            else:
                owner._moved(self, value)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_owner", None)  # the lists holding a copy re-register it themselves
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        owner = self.__dict__.get("_owner")  # set if a list took this job while copying
        self.__dict__.update(state)
        self._owner = owner
        if owner is not None:
            self.next_run = self._next_run  # tell that list the real next_run

    @property
    def period(self) -> datetime.timedelta | None:
        """The interval used for the last scheduling, as a ``timedelta``."""
        return self._period

    def __lt__(self, other: Job) -> bool:
        return cast(bool, cast(Any, self.next_run) < other.next_run)

    def __str__(self) -> str:
        func = self.job_func
        name = getattr(func, "__name__", None) if hasattr(func, "__name__") else repr(func)
        args = "()" if func is None else func.args
        kwargs = "{}" if func is None else func.keywords
        return (
            f"Job(interval={self.interval}, unit={self.unit}, do={name}, "
            f"args={args}, kwargs={kwargs})"
        )

    def __repr__(self) -> str:
        def stamp(moment: datetime.datetime | None) -> str:
            return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "[never]"

        times = f"(last run: {stamp(self.last_run)}, next run: {stamp(self.next_run)})"
        func = self.job_func
        if func is None:
            call = "[None]"
        else:
            name = getattr(func, "__name__", None) if hasattr(func, "__name__") else repr(func)
            shown = [str(arg) if isinstance(arg, Job) else repr(arg) for arg in func.args]
            shown += [f"{key}={value!r}" for key, value in func.keywords.items()]
            call = f"{name}({', '.join(shown)})"
        unit: Any = self.unit
        if self.interval == 1:
            unit = unit[:-1]
        if self.at_time is not None:
            return f"Every {self.interval} {unit} at {self.at_time} do {call} {times}"
        upper = f"to {self.latest} " if self.latest is not None else ""
        return f"Every {self.interval} {upper}{unit} do {call} {times}"

    # -- units -------------------------------------------------------------------------

    def _singular(self, unit: str) -> Job:
        if self.interval != 1:
            raise IntervalError(f"Use {unit}s instead of {unit}")
        self.unit = unit + "s"
        return self

    def _weekday(self, day: str) -> Job:
        if self.interval != 1:
            raise IntervalError(
                f"Scheduling .{day}() jobs is only allowed for weekly jobs. Using .{day}() "
                "on a job scheduled to run every 2 or more weeks is not supported."
            )
        self.start_day = day
        return self.weeks

    @property
    def second(self) -> Job:
        """Every second (only with ``every()`` or ``every(1)``)."""
        return self._singular("second")

    @property
    def seconds(self) -> Job:
        """The interval counts seconds."""
        self.unit = "seconds"
        return self

    @property
    def minute(self) -> Job:
        """Every minute (only with ``every()`` or ``every(1)``)."""
        return self._singular("minute")

    @property
    def minutes(self) -> Job:
        """The interval counts minutes."""
        self.unit = "minutes"
        return self

    @property
    def hour(self) -> Job:
        """Every hour (only with ``every()`` or ``every(1)``)."""
        return self._singular("hour")

    @property
    def hours(self) -> Job:
        """The interval counts hours."""
        self.unit = "hours"
        return self

    @property
    def day(self) -> Job:
        """Every day (only with ``every()`` or ``every(1)``)."""
        return self._singular("day")

    @property
    def days(self) -> Job:
        """The interval counts days."""
        self.unit = "days"
        return self

    @property
    def week(self) -> Job:
        """Every week (only with ``every()`` or ``every(1)``)."""
        return self._singular("week")

    @property
    def weeks(self) -> Job:
        """The interval counts weeks."""
        self.unit = "weeks"
        return self

    @property
    def monday(self) -> Job:
        """Every Monday (weekly only)."""
        return self._weekday("monday")

    @property
    def tuesday(self) -> Job:
        """Every Tuesday (weekly only)."""
        return self._weekday("tuesday")

    @property
    def wednesday(self) -> Job:
        """Every Wednesday (weekly only)."""
        return self._weekday("wednesday")

    @property
    def thursday(self) -> Job:
        """Every Thursday (weekly only)."""
        return self._weekday("thursday")

    @property
    def friday(self) -> Job:
        """Every Friday (weekly only)."""
        return self._weekday("friday")

    @property
    def saturday(self) -> Job:
        """Every Saturday (weekly only)."""
        return self._weekday("saturday")

    @property
    def sunday(self) -> Job:
        """Every Sunday (weekly only)."""
        return self._weekday("sunday")

    # -- modifiers -----------------------------------------------------------------------

    def tag(self, *tags: Hashable) -> Job:
        """Add tags for ``get_jobs(tag)`` and ``clear(tag)``; ``TypeError`` if one is unhashable."""
        if not all(isinstance(tag, Hashable) for tag in tags):
            raise TypeError("Tags must be hashable")
        self.tags.update(tags)
        return self

    def at(self, time_str: str, tz: str | datetime.tzinfo | None = None) -> Job:
        """Run at a time of day (``"HH:MM"``, ``"HH:MM:SS"``), of the hour (``"MM:SS"``,
        ``":MM"``) or of the minute (``":SS"``), optionally in zone *tz*.

        *tz* is a zone name (looked up with pytz when it is installed, else with
        ``zoneinfo``) or any ``tzinfo`` object. ``next_run`` is still a naive local datetime.

        Raises:
            ScheduleValueError: the unit is not days, hours, minutes or a weekday; the time
                does not fit the unit's format; the hour is over 23; *tz* is neither a
                string nor a tzinfo.
            UnknownTimeZoneError: *tz* names no zone (``pytz.UnknownTimeZoneError`` when
                pytz is installed); both are ``KeyError``.
            TypeError: *time_str* is not a string.
        """
        unit = self.unit
        if unit not in ("days", "hours", "minutes") and not self.start_day:
            raise ScheduleValueError(
                "Invalid unit (valid units are `days`, `hours`, and `minutes`)"
            )
        if tz is not None:
            if isinstance(tz, str):
                self.at_time_zone = _zone_named(tz)
            elif isinstance(tz, datetime.tzinfo):
                self.at_time_zone = tz
            else:
                raise ScheduleValueError("Timezone must be string or pytz.timezone object")
        self.at_time = _at_time(time_str, unit, self.start_day)
        return self

    def to(self, latest: int) -> Job:
        """Run at a random interval between ``every(n)`` and *latest* (drawn each time)."""
        self.latest = latest
        return self

    def until(
        self, until_time: datetime.datetime | datetime.timedelta | datetime.time | str
    ) -> Job:
        """Cancel the job once *until_time* has passed.

        Takes a datetime, a timedelta (from now), a time (today), or a string
        ``"YYYY-MM-DD HH:MM:SS"``, ``"YYYY-MM-DD HH:MM"``, ``"YYYY-MM-DD"``, ``"HH:MM:SS"``
        or ``"HH:MM"`` (the last two: today).

        Raises:
            ScheduleValueError: the moment is in the past, or the string has no such format.
            TypeError: *until_time* is of another type.
        """
        self.cancel_after = _until_moment(until_time)
        if self.cancel_after < datetime.datetime.now():
            raise ScheduleValueError("Cannot schedule a job to run until a time in the past")
        return self

    def do(self, job_func: Callable[..., Any], *args: Any, **kwargs: Any) -> Job:
        """Set the function to call (with *args* and *kwargs*) and add the job.

        Raises:
            ScheduleValueError: the chain has no unit, or another bad combination.
            ScheduleError: the job belongs to no scheduler.
        """
        self.job_func = _wrapped(functools.partial(job_func, *args, **kwargs), job_func)
        self._schedule_next_run()
        if self.scheduler is None:
            raise ScheduleError(
                "Unable to a add job to schedule. Job is not associated with an scheduler"
            )
        self.scheduler.jobs.append(self)
        return self

    @property
    def should_run(self) -> bool:
        """Whether the job is due now."""
        if self.next_run is None:
            raise AssertionError("must run _schedule_next_run before")
        return datetime.datetime.now() >= self.next_run

    def run(self) -> Any:
        """Call the job function and schedule the next run.

        Returns ``CancelJob`` when the job is past its ``until()``, otherwise what the
        function returned.
        """
        if self._is_overdue(datetime.datetime.now()):
            logger.debug("Cancelling job %s", self)
            return CancelJob
        logger.debug("Running job %s", self)
        ret = cast(Callable[[], Any], self.job_func)()
        self.last_run = datetime.datetime.now()
        self._schedule_next_run()
        if self._is_overdue(cast(datetime.datetime, self.next_run)):
            logger.debug("Cancelling job %s", self)
            return CancelJob
        return ret

    def _check_range(self, unit: str) -> None:
        """Refuse a ``.to()`` range whose draws may not do, whatever is drawn this time:
        a lower bound of no time (schedule hangs when it draws it), an upper bound too
        large (a draw past the year 9999). Each draw is checked again when made: one
        failing after a run left that run's next_run as it was (run twice at once)."""
        chain = f"every({self.interval!r}).to({self.latest!r})"
        assert self.latest is not None  # (asked only for a range)
        if not all(float(bound).is_integer() for bound in (self.interval, self.latest)):
            # (schedule's random.randint raises a bare "non-integer arg 1 for randrange()";
            # whole numbers written as floats, every(5.0).to(10), it takes.)
            raise ScheduleValueError(f"{chain}.{unit}: a random interval takes whole numbers")
        if _period(unit, self.interval, chain) <= _ZERO:
            raise ScheduleValueError(
                f"Invalid interval ({chain}.{unit}): a draw of {self.interval!r} would "
                "never come due again; use a range above zero"
            )
        _later(datetime.datetime.now(), _period(unit, self.latest, chain), None, unit, chain)

    def _is_overdue(self, when: datetime.datetime) -> bool:
        return self.cancel_after is not None and when > self.cancel_after

    def _schedule_next_run(self) -> None:
        """Compute ``next_run`` from now, exactly as schedule 1.2.2 does."""
        unit = self.unit
        if unit not in _UNITS:
            raise ScheduleValueError(
                "Invalid unit (valid units are `seconds`, `minutes`, `hours`, `days`, and `weeks`)"
            )
        if self.latest is not None:
            if not (self.latest >= self.interval):
                # (sic: the message says the opposite of the problem, as schedule's does)
                raise ScheduleError("`latest` is greater than `interval`")
            self._check_range(unit)
            interval: Any = random.randint(int(self.interval), int(self.latest))
        else:
            interval = self.interval
        zone = self.at_time_zone
        if zone is None and self.start_day is None and self.at_time is None:
            # The common case, `every(n).<unit>`: one step from now.
            now = datetime.datetime.now()
            period = _period(unit, interval)
            if period > _ZERO:
                self._period = period
                due = _later(now, period, interval, unit)
                if self._owner is None:
                    self._next_run = due  # nobody to tell (the usual case in do())
                else:
                    self.next_run = due
                return
        elif zone is None:
            now = datetime.datetime.now()
        else:
            # schedule asks for now(zone); the same instant, read in UTC, is immune to
            # freezegun losing `fold` (see _normalize).
            now = _normalize(datetime.datetime.now(datetime.timezone.utc), zone)
        moment = now
        if self.start_day is not None:
            if unit != "weeks":
                raise ScheduleValueError("`unit` should be 'weeks'")
            if self.start_day not in _WEEKDAYS:
                raise ScheduleValueError(f"Invalid start day (valid start days are {_WEEKDAYS})")
            ahead = _WEEKDAYS.index(self.start_day) - moment.weekday()
            moment += datetime.timedelta(days=ahead + 7 if ahead < 0 else ahead)
        if self.at_time is not None:
            moment = self._move_to_at_time(moment)
        period = _period(unit, interval)
        if period <= _ZERO:
            # schedule loops forever once the moment has passed (at once, or after the
            # first run when an .at() time is still ahead today); failing now is the
            # only useful equivalent.
            least = "greater than zero" if interval <= 0 else "of at least one microsecond"
            raise ScheduleValueError(
                f"Invalid interval ({interval!r} {unit}): the job would never "
                f"come due again; use an interval {least}"
            )
        if interval != 1:
            moment = _later(moment, period, interval, unit)
        while moment <= now:
            moment += period
        if zone is not None:
            moment = _correct_offset(moment, zone, self.at_time is not None)
            moment = moment.astimezone().replace(tzinfo=None)
        self._period = period
        self.next_run = moment

    def _move_to_at_time(self, moment: datetime.datetime) -> datetime.datetime:
        at_time = cast(datetime.time, self.at_time)
        daily = self.unit == "days" or self.start_day is not None
        fields: dict[str, int] = {"second": at_time.second, "microsecond": 0}
        if daily:
            fields["hour"] = at_time.hour
        if daily or self.unit == "hours":
            fields["minute"] = at_time.minute
        moment = moment.replace(**fields)  # type: ignore[arg-type]
        if self.at_time_zone is not None:
            moment = _correct_offset(moment, self.at_time_zone, keep_wall_time=True)
        return moment


# ---------------------------------------------------------------------------------------
# The default scheduler and the module-level API
# ---------------------------------------------------------------------------------------

#: The scheduler the module-level functions use.
default_scheduler = Scheduler()

#: ``default_scheduler.jobs`` (the same list object).
jobs = default_scheduler.jobs


def every(interval: int = 1) -> Job:
    """Start a job on the default scheduler: ``every(10).minutes.do(func)``."""
    return default_scheduler.every(interval)


def run_pending() -> None:
    """Run the default scheduler's due jobs (see ``Scheduler.run_pending``)."""
    default_scheduler.run_pending()


def run_all(delay_seconds: int = 0) -> None:
    """Run all of the default scheduler's jobs now, *delay_seconds* apart."""
    default_scheduler.run_all(delay_seconds=delay_seconds)


def get_jobs(tag: Hashable | None = None) -> list[Job]:
    """The default scheduler's jobs, or those that carry *tag*."""
    return default_scheduler.get_jobs(tag)


def clear(tag: Hashable | None = None) -> None:
    """Cancel all of the default scheduler's jobs, or those that carry *tag*."""
    default_scheduler.clear(tag)


def cancel_job(job: Job) -> None:
    """Remove *job* from the default scheduler."""
    default_scheduler.cancel_job(job)


def next_run(tag: Hashable | None = None) -> datetime.datetime | None:
    """When the default scheduler's next job (with *tag*) is due; ``None`` if none."""
    return default_scheduler.get_next_run(tag)


def idle_seconds() -> float | None:
    """Seconds until the default scheduler's next job is due; ``None`` if none."""
    return default_scheduler.idle_seconds


def repeat(job: Job, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
    """Decorator: schedule the decorated function with *job*, and return it unchanged.

    Example::

        @repeat(every(10).minutes, "argument")
        def poll(argument): ...
    """

    def schedule_it(func: Callable[..., Any]) -> Callable[..., Any]:
        job.do(func, *args, **kwargs)
        return func

    return schedule_it
