"""Bad input found by a black-box sweep of the public API: each is refused at the call
that caused it, with the type the docs give and a message naming the value."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tickwork import CronTrigger, IntervalTrigger, Scheduler
from tickwork.stores import SQLiteStore
from tickwork.testing import FakeClock

from .jobs_for_tests import T0, noop


@pytest.fixture
def scheduler() -> Scheduler:
    return Scheduler(clock=FakeClock(T0), timezone="UTC")


@pytest.mark.parametrize("fields", [{"hour": None}, {"hour": None, "minute": None}])
def test_cron_keywords_that_are_all_none_are_refused_as_no_fields(
    scheduler: Scheduler, fields: dict[str, None]
) -> None:
    # A value from a config file that came through empty made a daily job fire every
    # second.
    with pytest.raises(TypeError, match="needs an expression or field keywords") as caught:
        scheduler.add_job(noop, "cron", **fields)  # type: ignore[arg-type]
    assert "hour" in str(caught.value)
    assert scheduler.get_jobs() == []


def test_a_none_cron_keyword_beside_a_real_one_is_left_out(scheduler: Scheduler) -> None:
    job = scheduler.add_job(noop, "cron", hour=None, minute=30)
    assert job.next_fire == T0.replace(minute=30)
    assert scheduler.next_fire_times(job.id, 2)[1] == T0.replace(minute=30) + timedelta(hours=1)


@pytest.mark.parametrize("value", [True, 9.5])
def test_a_cron_keyword_of_the_wrong_type_is_a_type_error(
    scheduler: Scheduler, value: object
) -> None:
    with pytest.raises(TypeError, match=f"hour={value!r}"):
        scheduler.add_job(noop, "cron", hour=value)  # type: ignore[arg-type]


def test_a_pause_note_for_a_job_not_added_paused_is_refused(scheduler: Scheduler) -> None:
    with pytest.raises(ValueError, match=r"pause_note='why'.*paused=True"):
        scheduler.add_job(noop, "interval", minutes=5, pause_note="why")
    assert scheduler.get_jobs() == []
    job = scheduler.add_job(noop, "interval", minutes=5, paused=True, pause_note="why")
    assert job.pause_note == "why"


@pytest.mark.parametrize("value", [-5, -0.5, timedelta(seconds=-1)])
def test_a_negative_misfire_grace_time_says_it_must_be_positive(
    scheduler: Scheduler, value: object
) -> None:
    with pytest.raises(ValueError, match="must be a positive duration") as caught:
        scheduler.add_job(noop, "interval", minutes=5, misfire_grace_time=value)  # type: ignore[arg-type]
    assert repr(value) in str(caught.value)
    assert ">= 0" not in str(caught.value)


def test_a_sqlite_path_holding_a_nul_is_refused_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "a\x00.db")
    with pytest.raises(ValueError, match="NUL") as caught:
        SQLiteStore(path)
    assert repr(path) in str(caught.value)


@pytest.mark.parametrize("value", ["false", 0, None])
def test_scheduler_daemon_must_be_a_bool(value: object) -> None:
    with pytest.raises(TypeError, match="daemon must be a bool"):
        Scheduler(clock=FakeClock(T0), daemon=value)  # type: ignore[arg-type]


def test_fake_clock_subscribe_refuses_what_is_not_callable() -> None:
    clock = FakeClock(T0)
    with pytest.raises(TypeError, match="callable, got int"):
        clock.subscribe(5)  # type: ignore[arg-type]
    clock.advance(1)  # nothing bad was kept
    assert clock.now() == T0 + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("wrong", "meant"),
    [
        ("retries", "retry"),
        ("max_instance", "max_instances"),
        ("replace_exisiting", "replace_existing"),  # (an option add_job alone takes)
    ],
)
def test_a_misspelt_job_option_beside_a_shortcut_is_named_with_what_was_meant(
    scheduler: Scheduler, wrong: str, meant: str
) -> None:
    with pytest.raises(TypeError, match=f"{wrong}: did you mean {meant}\\?") as caught:
        scheduler.add_job(noop, "interval", minutes=5, **{wrong: 2})
    assert "or a job option of add_job" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("next_run_time", r"here first_fire=.*paused=True"),
        ("jobstore", r"here .*Scheduler\(store="),
    ],
)
def test_apschedulers_add_job_arguments_say_what_they_are_here(
    scheduler: Scheduler, name: str, says: str
) -> None:
    for trigger, fields in (("interval", {"minutes": 5}), (IntervalTrigger(minutes=5), {})):
        with pytest.raises(TypeError, match=f"{name} is APScheduler's: {says}"):
            scheduler.add_job(noop, trigger, **fields, **{name: None})


def test_from_crontab_reads_the_line_as_cron_does() -> None:
    monday = CronTrigger.from_crontab("0 9 * * 1", timezone="UTC")
    assert monday == CronTrigger("0 9 * * 1", timezone="UTC")
    fire = monday.next_after(T0)
    assert fire is not None
    assert fire.strftime("%a %H:%M") == "Mon 09:00"  # (APScheduler 3: Tuesday)


def test_a_misspelt_job_option_on_a_decorator_is_named_with_what_was_meant(
    scheduler: Scheduler,
) -> None:
    with pytest.raises(TypeError, match=r"retries: did you mean retry\?"):
        scheduler.interval(minutes=5, retries=3)


def test_memory_store_processes_wants_an_aware_now() -> None:
    from tickwork.stores import MemoryStore

    with pytest.raises(TypeError, match="now"):
        MemoryStore().processes(now=T0.replace(tzinfo=None))
