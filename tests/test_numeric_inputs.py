"""Every numeric parameter of the public API, fed awkward numbers.

Each call either accepts the number, with a sane result (a finite value, stored as
given or rounded as documented), or raises ``ValueError`` / ``TypeError`` whose message
names the parameter. Never another exception type (``OverflowError`` from deep inside
``timedelta``), and never a silent NaN or infinity that breaks the schedule later.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tickwork
from tickwork import (
    AsyncScheduler,
    CalendarIntervalTrigger,
    IntervalTrigger,
    RetryPolicy,
    Scheduler,
)
from tickwork.compat import schedule as compat
from tickwork.executors import InlineExecutor
from tickwork.stores import SQLiteStore
from tickwork.testing import FakeClock

T0 = datetime(2024, 1, 1, 12, tzinfo=timezone.utc)

SPECIAL = [
    math.nan,
    math.inf,
    -math.inf,
    1e300,
    -1e300,
    1e12,
    1e6,
    5e-324,
    -5e-324,
    1e-7,
    0.0,
    -0.0,
    -1.0,
    0.5,
    1.5,
    2.0,
    30.0,
]
FLOATS = st.one_of(st.sampled_from(SPECIAL), st.floats())


def job() -> None:
    pass


def scheduler() -> Scheduler:
    return Scheduler(clock=FakeClock(T0), executors={"default": InlineExecutor()}, timezone="UTC")


def add(**options: Any) -> tickwork.Job:
    return scheduler().add_job(job, "interval", seconds=10, **options)


def finite_seconds(value: object) -> bool:
    if isinstance(value, timedelta):
        return True  # a timedelta is finite by construction
    return isinstance(value, float) and math.isfinite(value)


#: name -> (the call, the names its message must contain, a check of what was accepted)
Target = tuple[Callable[[Any], Any], tuple[str, ...], Callable[[Any, Any], bool]]


def _store(name: str) -> Target:
    def call(value: Any) -> SQLiteStore:
        return SQLiteStore(":memory:", **{name: value})

    def sane(store: SQLiteStore, value: Any) -> bool:
        kept = getattr(store, name)
        return math.isfinite(kept) and kept > 0

    return call, (name,), sane


def _option(name: str) -> Target:
    def sane(found: tickwork.Job, value: Any) -> bool:
        kept = getattr(found, name)
        return kept is None or finite_seconds(kept) or isinstance(kept, int)

    return lambda value: add(**{name: value}), (name,), sane


def _retry(name: str) -> Target:
    def sane(policy: RetryPolicy, value: Any) -> bool:
        return math.isfinite(getattr(policy, name))

    return lambda value: RetryPolicy(**{name: value}), (name,), sane


def _interval(name: str) -> Target:
    def sane(trigger: IntervalTrigger, value: Any) -> bool:
        return trigger.interval > timedelta(0)

    return (
        lambda value: IntervalTrigger(**{name: value}, start=T0, timezone="UTC"),
        (name,),
        sane,
    )


def _interval_job(name: str) -> Target:
    def sane(found: tickwork.Job, value: Any) -> bool:
        return found.next_fire is not None

    return lambda value: scheduler().add_job(job, "interval", **{name: value}), (name,), sane


def _calendar(name: str) -> Target:
    return (
        lambda value: CalendarIntervalTrigger(**{name: value}, start=T0, timezone="UTC"),
        (name,),
        lambda trigger, value: True,
    )


def _fluent(unit: str) -> Target:
    def call(value: Any) -> tickwork.Job:
        return getattr(scheduler().every(value), unit).do(job)

    return call, ("every(",), lambda found, value: found.next_fire is not None


def _to(value: Any) -> tickwork.Job:
    return scheduler().every(1).to(value).minutes.do(job)


def _compat(unit: str) -> Target:
    def call(value: Any) -> compat.Job:
        return getattr(compat.Scheduler().every(value), unit).do(job)

    return call, ("every(", "interval"), lambda found, value: found.next_run is not None


def _shutdown(value: Any) -> None:
    runner = scheduler()
    try:
        runner.shutdown(timeout=value)
    finally:
        if runner.state is not tickwork.SchedulerState.SHUTDOWN:
            runner.shutdown()


def _async_shutdown(value: Any) -> None:
    async def go() -> None:
        runner = AsyncScheduler(clock=FakeClock(T0), timezone="UTC")
        try:
            await runner.shutdown(timeout=value)
        finally:
            if runner.state is not tickwork.SchedulerState.SHUTDOWN:
                await runner.shutdown()

    asyncio.run(go())


def _next_fire_times(value: Any) -> list[datetime]:
    runner = scheduler()
    runner.add_job(job, "interval", seconds=10, id="j")
    return runner.next_fire_times("j", value)


TARGETS: dict[str, Target] = {
    **{f"SQLiteStore({name})": _store(name) for name in (
        "lease_time", "poll_interval", "history_days", "lock_timeout", "history_per_job"
    )},
    **{f"add_job({name})": _option(name) for name in (
        "timeout", "jitter", "misfire_grace_time", "max_instances", "max_catchup",
        "remaining_runs", "max_consecutive_failures",
    )},
    "add_job(retry)": (
        lambda value: add(retry=value), ("retry",), lambda found, value: True
    ),
    "add_job(trigger jitter)": (
        lambda value: scheduler().add_job(job, "interval", seconds=10, jitter=value),
        ("jitter",),
        lambda found, value: found.jitter is None or finite_seconds(found.jitter),
    ),
    **{f"RetryPolicy({name})": _retry(name) for name in (
        "attempts", "delay", "factor", "max_delay", "jitter"
    )},
    **{f"IntervalTrigger({name})": _interval(name) for name in (
        "weeks", "days", "hours", "minutes", "seconds"
    )},
    **{f"add_job(interval {name})": _interval_job(name) for name in (
        "weeks", "days", "hours", "minutes", "seconds"
    )},
    **{f"CalendarIntervalTrigger({name})": _calendar(name) for name in (
        "years", "months", "weeks", "days"
    )},
    **{f"every(n).{unit}": _fluent(unit) for unit in ("seconds", "minutes", "days", "weeks")},
    "every(1).to(n)": (_to, ("to(",), lambda found, value: found.next_fire is not None),
    "tickwork.every(n)": (tickwork.every, ("every(",), lambda builder, value: True),
    **{f"compat every(n).{unit}": _compat(unit) for unit in ("seconds", "hours", "days")},
    "Scheduler(max_wait)": (
        lambda value: Scheduler(max_wait=value), ("max_wait",), lambda found, value: True
    ),
    "AsyncScheduler(max_wait)": (
        lambda value: AsyncScheduler(max_wait=value), ("max_wait",), lambda found, value: True
    ),
    "shutdown(timeout)": (_shutdown, ("timeout",), lambda found, value: True),
    "AsyncScheduler.shutdown(timeout)": (_async_shutdown, ("timeout",), lambda f, v: True),
    "next_fire_times(count)": (_next_fire_times, ("count",), lambda found, value: True),
    "history(limit)": (
        lambda value: scheduler().history(limit=value), ("limit",), lambda found, value: True
    ),
}  # fmt: skip


def check(target: str, value: Any) -> None:
    call, names, sane = TARGETS[target]
    # The schedule drop-in raises schedule's own errors for a zero or negative interval.
    refused = (ValueError, TypeError, compat.ScheduleError)
    try:
        result = call(value)
    except refused as error:
        message = str(error)
        assert any(name in message for name in names), f"{target}: {message!r}"
        assert not isinstance(error, OverflowError)
        return
    # Accepted: never a NaN or an infinity, and what was kept makes sense.
    if isinstance(value, float):
        assert math.isfinite(value), f"{target} accepted {value!r}"
    assert sane(result, value), f"{target} accepted {value!r} as {result!r}"


@pytest.mark.parametrize("target", sorted(TARGETS))
@given(value=FLOATS)
def test_floats_are_accepted_sanely_or_refused_naming_the_parameter(
    target: str, value: float
) -> None:
    check(target, value)


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("value", [True, False, 10**30, -(10**30)])
def test_bools_and_huge_ints(target: str, value: object) -> None:
    """A bool is not a number: refused wherever a number is expected, except by the
    ``schedule`` drop-in, which keeps schedule's behaviour (``every(True)`` works)."""
    if isinstance(value, bool) and not target.startswith("compat"):
        call, names, _ = TARGETS[target]
        with pytest.raises(TypeError) as raised:
            call(value)
        assert any(name in str(raised.value) for name in names)
        return
    check(target, value)


# -- the examples of the tester's report, one by one ------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: SQLiteStore(":memory:", history_days=math.inf), ValueError, "history_days=inf"),
        (lambda: SQLiteStore(":memory:", lease_time=math.nan), ValueError, "lease_time=nan"),
        (lambda: SQLiteStore(":memory:", poll_interval=math.inf), ValueError, "poll_interval"),
        (lambda: SQLiteStore(":memory:", history_per_job=True), TypeError, "history_per_job"),
        (lambda: add(timeout=math.nan), ValueError, "timeout=nan"),
        (lambda: RetryPolicy(delay=math.nan), ValueError, "delay=nan"),
        (lambda: add(jitter=math.nan), ValueError, "jitter=nan"),
        (lambda: add(misfire_grace_time=math.inf), ValueError, "misfire_grace_time=inf"),
        (
            lambda: scheduler().add_job(job, "interval", weeks=1e6),
            ValueError,
            "weeks=1000000.0 is too large",
        ),
        (
            lambda: IntervalTrigger(weeks=1e6, start=T0),
            ValueError,
            "weeks=1000000.0 is too large",
        ),
        (lambda: compat.Scheduler().every(math.nan), ValueError, "every(nan)"),
    ],
)
def test_reported_cases(call: Callable[[], object], error: type[Exception], message: str) -> None:
    with pytest.raises(error) as raised:
        call()
    assert type(raised.value) is not OverflowError
    assert message in str(raised.value)


def test_an_interval_whose_first_run_is_past_year_9999_names_the_amount() -> None:
    # Shorter than the calendar's span, so IntervalTrigger(start=...) takes it; but
    # add_job's first run is one interval from now, after the year 9999.
    with pytest.raises(ValueError, match=r"weeks=500000 is too large"):
        scheduler().add_job(job, "interval", weeks=500_000)
    assert IntervalTrigger(weeks=500_000, start=T0).next_after(T0) is None


def test_a_memory_store_history_too_large_names_it() -> None:
    from tickwork.stores import MemoryStore

    with pytest.raises(ValueError, match=r"history=10+ is too large"):
        MemoryStore(history=10**30)
    with pytest.raises(TypeError, match="history"):
        MemoryStore(history=True)


def test_a_retry_delay_past_float_range_is_max_delay() -> None:
    # factor ** (attempt - 1) overflows a float after ~1000 doublings: the delay has
    # long reached max_delay by then.
    from tickwork._planning import retry_delay

    policy = RetryPolicy(attempts=3000, delay=1, factor=2, max_delay=60, jitter=0)
    assert retry_delay(policy, "j", T0, 1500) == 60


def test_a_utc_offset_takes_ascii_digits_only() -> None:
    from tickwork import UnknownTimezone
    from tickwork._tz import coerce_timezone

    assert coerce_timezone("UTC+05").utcoffset(None) == timedelta(hours=5)
    with pytest.raises(UnknownTimezone):
        coerce_timezone("UTC+\u0665")  # ARABIC-INDIC DIGIT FIVE
