"""``add_jobs``: what it takes, and errors that name the item at fault (all or none).

Everything runs on a FakeClock: no threads, no sleeps.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tickwork import (
    AsyncScheduler,
    ConflictingIdError,
    InvalidExpression,
    Scheduler,
    UnknownTimezone,
)
from tickwork.testing import FakeClock

from .jobs_for_tests import T0, noop


def make() -> Scheduler:
    return Scheduler(clock=FakeClock(T0), timezone="UTC")


def item(job_id: str | None = None, **arguments: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"func": noop, "trigger": "interval", "seconds": 5, **arguments}
    if job_id is not None:
        entry["id"] = job_id
    return entry


def test_an_id_given_twice_in_one_batch_is_named_as_such_and_nothing_is_added() -> None:
    scheduler = make()
    with pytest.raises(
        ConflictingIdError,
        match=r"^jobs\[2\] \(id 'd'\): the id 'd' is given twice in the batch \(jobs\[0\] and "
        r"jobs\[2\]\)",
    ):
        scheduler.add_jobs([item("d"), item("e"), item("d", seconds=6)])
    assert scheduler.get_jobs() == []


def test_an_id_that_exists_already_still_says_so() -> None:
    scheduler = make()
    scheduler.add_job(noop, "interval", seconds=5, id="d")
    with pytest.raises(ConflictingIdError, match=r"^jobs\[1\] \(id 'd'\): a job with id 'd' "):
        scheduler.add_jobs([item("c"), item("d")])
    assert [job.id for job in scheduler.get_jobs()] == ["d"]


def test_a_later_item_may_still_replace_an_earlier_one_when_it_says_so() -> None:
    scheduler = make()
    added = scheduler.add_jobs([item("d"), item("d", seconds=7, replace_existing=True)])
    assert [job.id for job in added] == ["d", "d"]
    (job,) = scheduler.get_jobs()
    assert job.trigger.interval.total_seconds() == 7  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("jobs", "got"),
    [(5, "int"), (item("x"), "dict"), ("jobs", "str"), (None, "NoneType")],
    ids=["int", "one dict", "str", "None"],
)
def test_anything_but_a_sequence_of_dicts_is_a_type_error_saying_what_add_jobs_takes(
    jobs: Any, got: str
) -> None:
    scheduler = make()
    with pytest.raises(
        TypeError,
        match=rf"^add_jobs takes a list of dicts, each the arguments of one add_job call; "
        rf"got {got}",
    ):
        scheduler.add_jobs(jobs)
    assert scheduler.get_jobs() == []


def test_a_single_dict_is_pointed_to_add_job() -> None:
    with pytest.raises(TypeError, match=r"for one job, call add_job\(\*\*item\) or pass \[item\]"):
        make().add_jobs(item("x"))


def test_an_item_that_is_not_a_mapping_is_named() -> None:
    with pytest.raises(TypeError, match=r"^jobs\[1\] must be a mapping of add_job arguments"):
        make().add_jobs([item("a"), ("func", noop)])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("entry", "named"),
    [({"trigger": "interval", "seconds": 5}, r"jobs\[3\]"),
     ({"trigger": "interval", "seconds": 5, "id": "late"}, r"jobs\[3\] \(id 'late'\)")],
    ids=["without id", "with id"],
)  # fmt: skip
def test_an_item_without_func_is_named(entry: dict[str, Any], named: str) -> None:
    scheduler = make()
    with pytest.raises(TypeError, match=rf"^{named}: no 'func' given"):
        scheduler.add_jobs([item(), item(), item(), entry])
    assert scheduler.get_jobs() == []


def test_an_error_of_one_item_names_it_and_keeps_its_type_and_details() -> None:
    scheduler = make()
    zones = ["Europe/Berlin"] * 40 + ["Europe/Berln"] + ["UTC"] * 9
    entries = [
        {"func": noop, "trigger": "cron", "hour": 7, "timezone": zone, "id": f"office-{n}"}
        for n, zone in enumerate(zones)
    ]
    with pytest.raises(UnknownTimezone, match=r"^jobs\[40\] \(id 'office-40'\): .*'Europe/Berln'"):
        scheduler.add_jobs(entries)
    assert scheduler.get_jobs() == []
    with pytest.raises(InvalidExpression, match=r"^jobs\[1\]: invalid cron expression") as caught:
        scheduler.add_jobs([item(), {"func": noop, "trigger": "cron", "expression": "61 * * * *"}])
    assert caught.value.expression == "61 * * * *"
    with pytest.raises(ValueError, match=r"^jobs\[0\] \(id 'm'\): max_instances"):
        scheduler.add_jobs([item("m", max_instances=0)])
    assert scheduler.get_jobs() == []


def test_add_job_with_on_failure_keeps_its_own_messages() -> None:
    scheduler = make()
    with pytest.raises(ValueError, match=r"^max_instances"):
        scheduler.add_job(noop, "interval", seconds=5, max_instances=0, on_failure=noop)


@pytest.mark.parametrize(("jobs", "got"), [(5, "int"), (item("x"), "dict")], ids=["int", "dict"])
def test_the_asyncio_driver_says_what_add_jobs_takes_too(jobs: Any, got: str) -> None:
    async def main() -> None:
        scheduler = AsyncScheduler(clock=FakeClock(T0), timezone="UTC")
        with pytest.raises(TypeError, match=rf"^add_jobs takes a list of dicts.*; got {got}"):
            await scheduler.add_jobs(jobs)
        with pytest.raises(TypeError, match=r"^jobs\[0\]: no 'func' given"):
            await scheduler.add_jobs([{"trigger": "interval", "seconds": 5}])
        with pytest.raises(ConflictingIdError, match=r"^jobs\[1\] \(id 'd'\): .* given twice"):
            await scheduler.add_jobs([item("d"), item("d")])
        assert await scheduler.get_jobs() == []

    asyncio.run(main())
