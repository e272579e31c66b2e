"""The job store contract (see ``tickwork.stores._base``), checked for every store."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest

from tickwork._errors import ConflictingIdError, JobLookupError, TickworkError
from tickwork._model import Job
from tickwork.stores import JobStore
from tickwork.triggers import IntervalTrigger

UTC = timezone.utc
T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def make_job(job_id: str = "a", *, next_fire: datetime | None = T0, **changes: Any) -> Job:
    trigger = IntervalTrigger(seconds=10, start=T0, timezone="UTC")
    changes.setdefault("name", f"job {job_id}")
    return Job(
        id=job_id,
        func=None,
        func_ref="builtins:print",
        trigger=trigger,
        next_fire=next_fire,
        **changes,
    )


# -- add, get, update, remove --------------------------------------------------------


def test_added_job_is_returned_equal(store: JobStore) -> None:
    job = make_job(args=(1, "two"), kwargs={"k": [3]}, tags=frozenset({"x"}), remaining_runs=4)
    store.add_job(job)
    assert store.get_job("a") == job
    assert store.get_jobs() == [job]


def test_stored_record_has_no_scheduler_link(store: JobStore) -> None:
    engine = cast(Any, object())
    store.add_job(make_job(_control=engine))
    assert store.get_job("a")._control is None
    store.update_job(make_job(name="renamed", _control=engine))
    assert store.get_job("a")._control is None
    assert all(job._control is None for job in store.get_jobs())


def test_update_replaces_the_record(store: JobStore) -> None:
    store.add_job(make_job())
    changed = make_job(name="renamed", paused=True, next_fire=None, consecutive_failures=2)
    store.update_job(changed)
    assert store.get_job("a") == changed


def test_remove_deletes_the_job(store: JobStore) -> None:
    store.add_job(make_job("a"))
    store.add_job(make_job("b"))
    store.remove_job("a")
    assert [job.id for job in store.get_jobs()] == ["b"]
    with pytest.raises(JobLookupError):
        store.get_job("a")


def test_empty_store(store: JobStore) -> None:
    assert store.get_jobs() == []


# -- conflicts and replace -------------------------------------------------------------


def test_adding_an_existing_id_raises_and_keeps_the_old_job(store: JobStore) -> None:
    store.add_job(make_job(name="first"))
    with pytest.raises(ConflictingIdError, match="'a'") as caught:
        store.add_job(make_job(name="second"))
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, TickworkError)
    assert store.get_job("a").name == "first"


def test_replace_swaps_the_whole_job(store: JobStore) -> None:
    store.add_job(make_job(name="first", tags=frozenset({"old"})))
    second = make_job(name="second", next_fire=T0 + timedelta(hours=1))
    store.add_job(second, replace=True)
    assert store.get_job("a") == second
    assert len(store.get_jobs()) == 1


def test_replace_of_a_new_id_adds_it(store: JobStore) -> None:
    store.add_job(make_job(), replace=True)
    assert store.get_job("a") == make_job()


# -- unknown ids -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda store: store.get_job("missing"), id="get_job"),
        pytest.param(lambda store: store.remove_job("missing"), id="remove_job"),
        pytest.param(lambda store: store.update_job(make_job("missing")), id="update_job"),
    ],
)
def test_unknown_id_raises_lookup_error_naming_it(store: JobStore, call: Any) -> None:
    store.add_job(make_job("a"))
    with pytest.raises(JobLookupError, match="'missing'") as caught:
        call(store)
    assert isinstance(caught.value, LookupError)
    assert [job.id for job in store.get_jobs()] == ["a"]


def test_update_of_an_unknown_id_does_not_add_it(store: JobStore) -> None:
    with pytest.raises(JobLookupError):
        store.update_job(make_job())
    assert store.get_jobs() == []


# -- ordering --------------------------------------------------------------------------


def test_jobs_are_ordered_by_fire_time_then_id_with_none_last(store: JobStore) -> None:
    store.add_job(make_job("none-b", next_fire=None))
    store.add_job(make_job("late", next_fire=T0 + timedelta(minutes=5)))
    store.add_job(make_job("none-a", next_fire=None))
    store.add_job(make_job("early-b", next_fire=T0))
    store.add_job(make_job("early-a", next_fire=T0))
    ids = [job.id for job in store.get_jobs()]
    assert ids == ["early-a", "early-b", "late", "none-a", "none-b"]


def test_ordering_is_by_instant_across_zones(store: JobStore) -> None:
    # 10:00 in New York is 15:00 UTC; 12:00 in Berlin is 11:00 UTC. By wall clock
    # New York comes first; by instant Berlin does.
    store.add_job(make_job("new-york", next_fire=datetime(2024, 1, 1, 10, tzinfo=NEW_YORK)))
    store.add_job(make_job("berlin", next_fire=datetime(2024, 1, 1, 12, tzinfo=BERLIN)))
    store.add_job(make_job("utc", next_fire=datetime(2024, 1, 1, 13, tzinfo=UTC)))
    assert [job.id for job in store.get_jobs()] == ["berlin", "utc", "new-york"]


def test_ordering_is_by_instant_within_a_fall_back_overlap(store: JobStore) -> None:
    # 2024-11-03 in New York: 01:30 EDT (fold=0) is 05:30 UTC, 01:10 EST (fold=1) is
    # 06:10 UTC. Python compares the two by wall time and would put 01:10 first.
    first = datetime(2024, 11, 3, 1, 30, tzinfo=NEW_YORK)
    second = datetime(2024, 11, 3, 1, 10, fold=1, tzinfo=NEW_YORK)
    store.add_job(make_job("a-second", next_fire=second))
    store.add_job(make_job("b-first", next_fire=first))
    assert [job.id for job in store.get_jobs()] == ["b-first", "a-second"]


def test_equal_instants_in_different_zones_tie_on_id(store: JobStore) -> None:
    store.add_job(make_job("b", next_fire=T0))
    store.add_job(make_job("a", next_fire=T0.astimezone(BERLIN)))
    assert [job.id for job in store.get_jobs()] == ["a", "b"]


def test_get_jobs_returns_a_snapshot(store: JobStore) -> None:
    store.add_job(make_job("a"))
    store.add_job(make_job("b"))
    jobs = store.get_jobs()
    jobs.clear()
    assert [job.id for job in store.get_jobs()] == ["a", "b"]
    snapshot = store.get_jobs()
    store.remove_job("a")
    store.update_job(make_job("b", name="renamed"))
    assert [(job.id, job.name) for job in snapshot] == [("a", "job a"), ("b", "job b")]


# -- claim_fire ------------------------------------------------------------------------


def test_claim_fire_moves_the_fire_time(store: JobStore) -> None:
    store.add_job(make_job(next_fire=T0))
    later = T0 + timedelta(seconds=10)
    assert store.claim_fire("a", T0, later, now=T0) is True
    assert store.get_job("a") == make_job(next_fire=later)


def test_claim_fire_with_a_stale_expectation_changes_nothing(store: JobStore) -> None:
    store.add_job(make_job(next_fire=T0, remaining_runs=3))
    stale = T0 - timedelta(seconds=10)
    assert (
        store.claim_fire("a", stale, T0 + timedelta(seconds=10), now=T0, remaining_runs=2) is False
    )
    assert store.get_job("a") == make_job(next_fire=T0, remaining_runs=3)


def test_the_same_fire_is_claimed_once(store: JobStore) -> None:
    store.add_job(make_job(next_fire=T0))
    later = T0 + timedelta(seconds=10)
    assert store.claim_fire("a", T0, later, now=T0) is True
    assert store.claim_fire("a", T0, later, now=T0) is False
    assert store.get_job("a").next_fire == later


def test_claim_fire_of_an_unknown_id_returns_false(store: JobStore) -> None:
    assert store.claim_fire("missing", T0, T0 + timedelta(seconds=10), now=T0) is False
    assert store.get_jobs() == []


def test_claim_fire_compares_instants_not_zones(store: JobStore) -> None:
    store.add_job(make_job(next_fire=T0.astimezone(BERLIN)))
    later = T0 + timedelta(seconds=10)
    assert store.claim_fire("a", T0, later, now=T0) is True
    assert store.get_job("a").next_fire == later


def test_claim_fire_tells_the_two_passes_of_an_overlap_apart(store: JobStore) -> None:
    # Same wall time, an hour apart: a claim for the first pass is not one for the second.
    first = datetime(2024, 11, 3, 1, 30, tzinfo=NEW_YORK)
    second = first.replace(fold=1)
    store.add_job(make_job(next_fire=second))
    assert store.claim_fire("a", first, None, now=first) is False
    assert store.get_job("a").next_fire == second
    assert store.claim_fire("a", second, None, now=second) is True


@pytest.mark.parametrize(
    ("stored", "expected", "claimed"),
    [
        pytest.param(None, None, True, id="none-matches-none"),
        pytest.param(None, T0, False, id="stored-none"),
        pytest.param(T0, None, False, id="expected-none"),
    ],
)
def test_claim_fire_none_semantics(
    store: JobStore, stored: datetime | None, expected: datetime | None, claimed: bool
) -> None:
    store.add_job(make_job(next_fire=stored))
    new_next = T0 + timedelta(hours=1)
    assert store.claim_fire("a", expected, new_next, now=T0) is claimed
    assert store.get_job("a").next_fire == (new_next if claimed else stored)


def test_claim_fire_can_end_a_schedule(store: JobStore) -> None:
    store.add_job(make_job("a", next_fire=T0))
    store.add_job(make_job("b", next_fire=T0 + timedelta(seconds=1)))
    assert store.claim_fire("a", T0, None, now=T0) is True
    assert store.get_job("a").next_fire is None
    assert [job.id for job in store.get_jobs()] == ["b", "a"]


def test_claim_fire_stores_remaining_runs(store: JobStore) -> None:
    store.add_job(make_job(next_fire=T0, remaining_runs=3))
    later = T0 + timedelta(seconds=10)
    assert store.claim_fire("a", T0, later, now=T0, remaining_runs=2) is True
    assert store.get_job("a") == make_job(next_fire=later, remaining_runs=2)


def test_claim_fire_without_remaining_runs_keeps_them(store: JobStore) -> None:
    store.add_job(make_job(next_fire=T0, remaining_runs=3))
    later = T0 + timedelta(seconds=10)
    assert store.claim_fire("a", T0, later, now=T0) is True
    assert store.get_job("a").remaining_runs == 3


def test_claim_fire_changes_only_the_schedule_state(store: JobStore) -> None:
    job = make_job(next_fire=T0, tags=frozenset({"t"}), paused=False, consecutive_failures=1)
    store.add_job(job)
    later = T0 + timedelta(seconds=10)
    assert store.claim_fire("a", T0, later, now=T0, remaining_runs=5) is True
    assert store.get_job("a") == replace(job, next_fire=later, remaining_runs=5)


def _race(
    store: JobStore, threads_count: int, expected: datetime, new_next: datetime
) -> list[bool]:
    """Have *threads_count* threads claim the same fire at once; what each got."""
    barrier = threading.Barrier(threads_count)
    results: list[bool] = []
    lock = threading.Lock()

    def claim() -> None:
        barrier.wait()
        won = store.claim_fire("a", expected, new_next, now=expected)
        with lock:
            results.append(won)

    threads = [threading.Thread(target=claim) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return results


def test_concurrent_claims_of_one_fire_have_one_winner(store: JobStore) -> None:
    fire = T0
    store.add_job(make_job(next_fire=fire))
    for _ in range(20):
        following = fire + timedelta(seconds=10)
        results = _race(store, 8, fire, following)
        assert sorted(results) == [False] * 7 + [True]
        fire = following
    assert store.get_job("a").next_fire == fire


def test_sync_reports_nothing_when_nothing_else_changed_the_jobs(store: JobStore) -> None:
    store.sync()
    store.add_job(make_job())
    store.update_job(make_job(name="renamed"))
    # Its own writes are not news to the process that made them.
    assert store.sync() is None
    assert store.sync() is None


def test_add_jobs_stores_all_of_them(store: JobStore) -> None:
    jobs = [make_job(f"j{n}", next_fire=T0 + timedelta(seconds=n)) for n in range(50)]
    store.add_jobs(jobs)
    assert store.get_jobs() == jobs


def test_add_jobs_with_a_taken_id_stores_none_and_names_it(store: JobStore) -> None:
    store.add_job(make_job("taken"))
    with pytest.raises(ConflictingIdError, match="'taken'"):
        store.add_jobs([make_job("fresh"), make_job("taken", name="again")])
    assert [job.id for job in store.get_jobs()] == ["taken"]
    assert store.get_job("taken").name == "job taken"


def test_add_jobs_with_an_id_twice_stores_none(store: JobStore) -> None:
    with pytest.raises(ConflictingIdError, match="'twice'"):
        store.add_jobs([make_job("twice"), make_job("other"), make_job("twice")])
    assert store.get_jobs() == []


def test_add_jobs_replacing_overwrites(store: JobStore) -> None:
    store.add_job(make_job("a", name="old"))
    store.add_jobs([make_job("a", name="new"), make_job("b")], replace=True)
    assert [(job.id, job.name) for job in store.get_jobs()] == [("a", "new"), ("b", "job b")]


def test_update_without_schedule_keeps_the_claimed_fire_state(store: JobStore) -> None:
    store.add_job(make_job(remaining_runs=5))
    later = T0 + timedelta(seconds=10)
    assert store.claim_fire("a", T0, later, now=T0, remaining_runs=4)
    # A process that read the job before the claim saves a change of another field.
    store.update_job(make_job(name="renamed", remaining_runs=5), schedule=False)
    stored = store.get_job("a")
    assert stored.name == "renamed"
    assert stored.next_fire == later
    assert stored.remaining_runs == 4


def test_load_jobs_returns_every_job(store: JobStore) -> None:
    jobs = [make_job(f"j{n}", next_fire=T0 + timedelta(seconds=50 - n)) for n in range(20)]
    jobs.append(make_job("idle", next_fire=None))
    store.add_jobs(jobs)
    loaded = store.load_jobs()
    assert sorted(loaded, key=lambda job: job.id) == sorted(jobs, key=lambda job: job.id)


def test_remove_jobs_deletes_those_given_and_ignores_unknown_ids(store: JobStore) -> None:
    store.add_jobs([make_job("a"), make_job("b"), make_job("c")])
    store.remove_jobs(["a", "nope", "c"])
    assert [job.id for job in store.get_jobs()] == ["b"]


def test_claim_fires_returns_none_for_a_lost_claim_and_a_count_for_a_won_one(
    store: JobStore,
) -> None:
    store.add_jobs([make_job("a"), make_job("b")])
    later = T0 + timedelta(seconds=10)
    results = store.claim_fires(
        [
            ("a", T0, later, None, (T0,)),
            ("b", later, later, None, (later,)),  # b's next fire is T0, not later
            ("ghost", T0, later, None, (T0,)),
        ],
        now=T0,
    )
    assert results == [0, None, None]  # no other process holds runs of "a"


def test_a_handed_off_retry_comes_back_from_maintain_once_due(store: JobStore) -> None:
    # A store that can keep a retry at shutdown gives it, once due, to the next
    # process that looks; one that cannot says so (False) and keeps nothing.
    store.add_job(make_job())
    [claimed] = store.claim_fires([("a", T0, T0 + timedelta(seconds=10), None, (T0,))], now=T0)
    assert claimed == 0
    due = T0 + timedelta(seconds=30)
    [handed] = store.hand_off_retries([("a", T0, 2, due)], now=T0 + timedelta(seconds=1))
    if not handed:
        assert store.maintain(due + timedelta(seconds=1)).taken == []
        return
    assert store.maintain(due - timedelta(seconds=1)).taken == []
    [taken] = store.maintain(due + timedelta(microseconds=1)).taken
    assert (taken.job_id, taken.attempt, taken.handed_off) == ("a", 2, True)
    assert taken.scheduled_at == T0
    assert store.maintain(due + timedelta(seconds=2)).taken == []  # taken once
