"""The job store contract suite, shipped for stores written anywhere.

Exposed as ``tickwork.testing.JobStoreContract`` (``SharedJobStoreContract``, for
stores shared between processes, builds on it), and imported only when asked for: it
needs pytest (and Hypothesis for its model test), which importing
:mod:`tickwork.testing` does not. A store passes by subclassing::

    import pytest
    from tickwork.testing import JobStoreContract

    class TestMyStore(JobStoreContract):
        @pytest.fixture
        def store(self, tmp_path):  # a new, unopened store with no data
            return MyStore(tmp_path / "jobs")

Each test checks one promise of the docstrings in :mod:`tickwork.stores._base` (the
:class:`~tickwork.stores.JobStore` and :class:`~tickwork.stores.SharedJobStore`
protocols). Nothing here sleeps or reads the clock: times are passed in as ``now``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest

from .._errors import ConflictingIdError, JobLookupError, TickworkError
from .._instants import epoch_us
from .._model import Catchup, Job, Outcome, Overlap, RetryPolicy, RunEnd
from ..triggers import IntervalTrigger
from ._base import Claim, JobStore, SharedJobStore
from ._chain_contract import ChainStoreContract
from ._stats_contract import StatsListingContract
from ._window_contract import WindowedJobStoreContract
from .memory import MemoryStore

__all__ = ["JobStoreContract", "make_job", "run_end"]

UTC = timezone.utc
T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
#: An importable function: stores that keep jobs as data keep it by reference.
FUNC_REF = "builtins:print"


def make_job(job_id: str = "a", *, next_fire: datetime | None = T0, **changes: Any) -> Job:
    """A job with a 10-second interval trigger, its function by reference only."""
    changes.setdefault("name", f"job {job_id}")
    return Job(
        id=job_id,
        func=None,
        func_ref=FUNC_REF,
        trigger=IntervalTrigger(seconds=10, start=T0, timezone="UTC"),
        next_fire=next_fire,
        **changes,
    )


def run_end(
    job_id: str = "a",
    scheduled_at: datetime = T0,
    *,
    attempt: int = 1,
    outcome: Outcome = Outcome.SUCCESS,
    final: bool = True,
    **changes: Any,
) -> RunEnd:
    """How one run ended, as the scheduler reports it to ``record_runs``."""
    started = changes.pop("started_at", scheduled_at if outcome is Outcome.SUCCESS else None)
    at = changes.pop("at", scheduled_at + timedelta(seconds=1))
    return RunEnd(job_id, scheduled_at, attempt, outcome, at, started, final=final, **changes)


class JobStoreContract(StatsListingContract, WindowedJobStoreContract, ChainStoreContract):
    """The :class:`~tickwork.stores.JobStore` contract as a pytest test class (with
    those of :class:`~tickwork.stores.WindowedJobStore` and
    :class:`~tickwork.stores.StatsListing`, for a store that offers them).

    Subclass it (with a name pytest collects, ``Test...``) and define the ``store``
    fixture: a new, unopened store holding no data. The suite opens it before each
    test and closes it after. Optionally:

    * set :attr:`history_retention` to the number of runs of one job the store keeps,
      to check that it keeps the newest that many;
    * override :meth:`break_job` to run the tests of records the store cannot load.
    """

    #: How many of the newest runs of one job the store under test keeps (after
    #: ``maintain`` for a shared store); None leaves retention unchecked.
    history_retention: ClassVar[int | None] = None

    @pytest.fixture
    def store(self) -> JobStore:
        """Override: a new, unopened store with no data."""
        pytest.fail(
            f"{type(self).__name__} must define a `store` fixture returning a new, unopened store",
            pytrace=False,
        )

    @pytest.fixture(autouse=True)
    def _opened(self, store: JobStore) -> Iterator[None]:
        store.open()
        yield
        store.close()

    def break_job(self, store: JobStore, job_id: str) -> None:
        """Override: make the stored record of *job_id* one the store cannot decode (as
        corrupt data, or a newer program, would), so that a store object on the same
        data sees it as changed. The default skips the tests that need it."""
        del store, job_id
        pytest.skip("break_job is not defined for this store")

    # -- the protocol ---------------------------------------------------------------

    def test_it_is_a_job_store(self, store: JobStore) -> None:
        assert isinstance(store, JobStore)
        assert store.persistent is isinstance(store, SharedJobStore)

    def test_closing_is_harmless_and_a_closed_store_opens_when_used(self, store: JobStore) -> None:
        store.close()
        store.close()
        store.add_job(make_job())
        assert store.get_job("a") == make_job()
        store.open()
        store.open()
        assert [job.id for job in store.get_jobs()] == ["a"]

    def test_the_with_block_opens_and_closes_it(self, store: JobStore) -> None:
        store.close()
        with store as same:
            assert same is store
            same.add_job(make_job())
            assert same.get_job("a") == make_job()

    # -- add, get, update, remove -----------------------------------------------------

    def test_added_job_is_returned_equal(self, store: JobStore) -> None:
        job = make_job(args=(1, "two"), kwargs={"k": [3]}, tags=frozenset({"x"}), remaining_runs=4)
        store.add_job(job)
        assert store.get_job("a") == job
        assert store.get_jobs() == [job]

    def test_every_field_comes_back_equal(self, store: JobStore) -> None:
        # 01:10 EST, the second pass of a fall-back overlap: Python calls it equal only
        # to a datetime in the same zone, so the store must keep the zone.
        job = make_job(
            next_fire=datetime(2024, 11, 3, 1, 10, fold=1, tzinfo=NEW_YORK),
            executor="other",
            tags=frozenset({"a", "b"}),
            start=datetime(2024, 1, 1, 9, tzinfo=BERLIN),
            end=datetime(2030, 1, 1, tzinfo=UTC),
            misfire_grace_time=timedelta(seconds=30),
            catchup=Catchup.ALL,
            max_catchup=7,
            overlap=Overlap.BUFFER_ALL,
            max_instances=3,
            jitter=timedelta(milliseconds=1500),
            retry=RetryPolicy(attempts=4, delay=2.5, factor=3, max_delay=60, jitter=0.2),
            timeout=12.5,
            max_consecutive_failures=5,
            consecutive_failures=2,
            paused=True,
            pause_note="maintenance",
            remaining_runs=9,
            args=([1, 2.5, None, True], {"nested": {"deep": "yes"}}),
            kwargs={"when": "2024-01-01", "count": 10**20},
        )
        store.add_job(job)
        assert store.get_job("a") == job
        assert store.get_jobs() == [job]
        assert store.load_jobs() == [job]

    def test_floats_come_back_as_the_floats_given(self, store: JobStore) -> None:
        # 1e20 == 10**20 and -0.0 == 0.0, so equality cannot tell: the reprs can. (A
        # jsonb column gave back exponent floats as ints, -0.0 as 0.0.)
        floats = [1e16, 1e20, 1.5e17, 1e300, 123456789012345678.0, -0.0, 2.5e-8, 5e-324]
        job = make_job(args=(floats,), kwargs={"amount": 1e16, "zero": -0.0})
        store.add_job(job)
        for found in (store.get_job("a"), *store.load_jobs()):
            assert repr(found.args) == repr(job.args)
            assert repr(dict(found.kwargs)) == repr(dict(job.kwargs))

    def test_update_replaces_the_record(self, store: JobStore) -> None:
        store.add_job(make_job())
        changed = make_job(name="renamed", paused=True, next_fire=None, consecutive_failures=2)
        store.update_job(changed)
        assert store.get_job("a") == changed

    def test_remove_deletes_the_job(self, store: JobStore) -> None:
        store.add_job(make_job("a"))
        store.add_job(make_job("b"))
        store.remove_job("a")
        assert [job.id for job in store.get_jobs()] == ["b"]
        with pytest.raises(JobLookupError):
            store.get_job("a")

    def test_empty_store(self, store: JobStore) -> None:
        assert store.get_jobs() == []
        assert store.load_jobs() == []
        assert store.broken_jobs() == {}

    # -- conflicts and replace --------------------------------------------------------

    def test_adding_an_existing_id_raises_and_keeps_the_old_job(self, store: JobStore) -> None:
        store.add_job(make_job(name="first"))
        with pytest.raises(ConflictingIdError, match="'a'") as caught:
            store.add_job(make_job(name="second"))
        assert isinstance(caught.value, ValueError)
        assert isinstance(caught.value, TickworkError)
        assert store.get_job("a").name == "first"

    def test_replace_swaps_the_whole_job(self, store: JobStore) -> None:
        store.add_job(make_job(name="first", tags=frozenset({"old"})))
        second = make_job(name="second", next_fire=T0 + timedelta(hours=1))
        store.add_job(second, replace=True)
        assert store.get_job("a") == second
        assert len(store.get_jobs()) == 1

    def test_replace_of_a_new_id_adds_it(self, store: JobStore) -> None:
        store.add_job(make_job(), replace=True)
        assert store.get_job("a") == make_job()

    # -- unknown ids --------------------------------------------------------------------

    @pytest.mark.parametrize(
        "call",
        [
            pytest.param(lambda store: store.get_job("missing"), id="get_job"),
            pytest.param(lambda store: store.remove_job("missing"), id="remove_job"),
            pytest.param(lambda store: store.update_job(make_job("missing")), id="update_job"),
        ],
    )
    def test_unknown_id_raises_lookup_error_naming_it(
        self, store: JobStore, call: Callable[[JobStore], object]
    ) -> None:
        store.add_job(make_job("a"))
        with pytest.raises(JobLookupError, match="'missing'") as caught:
            call(store)
        assert isinstance(caught.value, LookupError)
        assert [job.id for job in store.get_jobs()] == ["a"]

    def test_update_of_an_unknown_id_does_not_add_it(self, store: JobStore) -> None:
        with pytest.raises(JobLookupError):
            store.update_job(make_job())
        assert store.get_jobs() == []

    # -- ordering -----------------------------------------------------------------------

    def test_jobs_are_ordered_by_fire_time_then_id_with_none_last(self, store: JobStore) -> None:
        store.add_job(make_job("none-b", next_fire=None))
        store.add_job(make_job("late", next_fire=T0 + timedelta(minutes=5)))
        store.add_job(make_job("none-a", next_fire=None))
        store.add_job(make_job("early-b", next_fire=T0))
        store.add_job(make_job("early-a", next_fire=T0))
        ids = [job.id for job in store.get_jobs()]
        assert ids == ["early-a", "early-b", "late", "none-a", "none-b"]

    def test_ordering_is_by_instant_across_zones(self, store: JobStore) -> None:
        # 10:00 in New York is 15:00 UTC; 12:00 in Berlin is 11:00 UTC. By wall clock
        # New York comes first; by instant Berlin does.
        store.add_job(make_job("new-york", next_fire=datetime(2024, 1, 1, 10, tzinfo=NEW_YORK)))
        store.add_job(make_job("berlin", next_fire=datetime(2024, 1, 1, 12, tzinfo=BERLIN)))
        store.add_job(make_job("utc", next_fire=datetime(2024, 1, 1, 13, tzinfo=UTC)))
        assert [job.id for job in store.get_jobs()] == ["berlin", "utc", "new-york"]

    def test_ordering_is_by_instant_within_a_fall_back_overlap(self, store: JobStore) -> None:
        # 2024-11-03 in New York: 01:30 EDT (fold=0) is 05:30 UTC, 01:10 EST (fold=1) is
        # 06:10 UTC. Python compares the two by wall time and would put 01:10 first.
        first = datetime(2024, 11, 3, 1, 30, tzinfo=NEW_YORK)
        second = datetime(2024, 11, 3, 1, 10, fold=1, tzinfo=NEW_YORK)
        store.add_job(make_job("a-second", next_fire=second))
        store.add_job(make_job("b-first", next_fire=first))
        assert [job.id for job in store.get_jobs()] == ["b-first", "a-second"]

    def test_equal_instants_in_different_zones_tie_on_id(self, store: JobStore) -> None:
        store.add_job(make_job("b", next_fire=T0))
        store.add_job(make_job("a", next_fire=T0.astimezone(BERLIN)))
        assert [job.id for job in store.get_jobs()] == ["a", "b"]

    def test_get_jobs_returns_a_snapshot(self, store: JobStore) -> None:
        store.add_job(make_job("a"))
        store.add_job(make_job("b"))
        jobs = store.get_jobs()
        jobs.clear()
        assert [job.id for job in store.get_jobs()] == ["a", "b"]
        snapshot = store.get_jobs()
        store.remove_job("a")
        store.update_job(make_job("b", name="renamed"))
        assert [(job.id, job.name) for job in snapshot] == [("a", "job a"), ("b", "job b")]

    # -- several jobs at once -----------------------------------------------------------

    def test_add_jobs_stores_all_of_them(self, store: JobStore) -> None:
        jobs = [make_job(f"j{n}", next_fire=T0 + timedelta(seconds=n)) for n in range(50)]
        store.add_jobs(jobs)
        assert store.get_jobs() == jobs

    def test_add_jobs_with_a_taken_id_stores_none_and_names_it(self, store: JobStore) -> None:
        store.add_job(make_job("taken"))
        with pytest.raises(ConflictingIdError, match="'taken'"):
            store.add_jobs([make_job("fresh"), make_job("taken", name="again")])
        assert [job.id for job in store.get_jobs()] == ["taken"]
        assert store.get_job("taken").name == "job taken"

    def test_add_jobs_with_an_id_twice_stores_none(self, store: JobStore) -> None:
        with pytest.raises(ConflictingIdError, match="'twice'"):
            store.add_jobs([make_job("twice"), make_job("other"), make_job("twice")])
        assert store.get_jobs() == []

    def test_add_jobs_replacing_overwrites(self, store: JobStore) -> None:
        store.add_job(make_job("a", name="old"))
        store.add_jobs([make_job("a", name="new"), make_job("b")], replace=True)
        assert [(job.id, job.name) for job in store.get_jobs()] == [("a", "new"), ("b", "job b")]

    def test_add_jobs_replacing_keeps_the_last_of_an_id_given_twice(self, store: JobStore) -> None:
        store.add_jobs([make_job("a", name="first"), make_job("a", name="last")], replace=True)
        assert [(job.id, job.name) for job in store.get_jobs()] == [("a", "last")]

    def test_load_jobs_returns_every_job(self, store: JobStore) -> None:
        jobs = [make_job(f"j{n}", next_fire=T0 + timedelta(seconds=50 - n)) for n in range(20)]
        jobs.append(make_job("idle", next_fire=None))
        store.add_jobs(jobs)
        loaded = store.load_jobs()
        assert sorted(loaded, key=lambda job: job.id) == sorted(jobs, key=lambda job: job.id)

    def test_remove_jobs_deletes_those_given_and_ignores_unknown_ids(self, store: JobStore) -> None:
        store.add_jobs([make_job("a"), make_job("b"), make_job("c")])
        store.remove_jobs(["a", "nope", "c"])
        assert [job.id for job in store.get_jobs()] == ["b"]

    def test_remove_jobs_forgets_claimed_fire_times(self, store: JobStore) -> None:
        # A job done firing is removed right after its last claim: an id added again
        # must start from its own record, not from the fire state claimed before.
        later = T0 + timedelta(seconds=10)
        store.add_jobs([make_job("a", next_fire=T0), make_job("b", next_fire=T0)])
        claims = [("a", T0, None, None, (T0,)), ("b", T0, later, None, (T0,))]
        assert store.claim_fires(claims, now=T0) == [0, 0]
        store.remove_jobs(["a", "b"])
        assert store.claim_fires([("b", later, None, None, (later,))], now=T0) == [None]
        again = T0 + timedelta(seconds=30)
        store.add_job(make_job("a", next_fire=again))
        assert store.get_job("a").next_fire == again
        assert store.claim_fires([("a", again, None, None, (again,))], now=T0) == [0]

    def test_calls_in_a_transaction_are_all_kept(self, store: JobStore) -> None:
        store.add_job(make_job("gone"))
        with store.transaction():
            store.add_job(make_job("a"))
            with store.transaction():  # nested: joins the outer one
                store.update_job(make_job("a", name="renamed"))
                store.remove_jobs(["gone"])
            store.add_jobs([make_job("b")])
        assert [(job.id, job.name) for job in store.get_jobs()] == [
            ("a", "renamed"),
            ("b", "job b"),
        ]

    # -- claims -------------------------------------------------------------------------

    def test_claim_fire_moves_the_fire_time(self, store: JobStore) -> None:
        store.add_job(make_job(next_fire=T0))
        later = T0 + timedelta(seconds=10)
        assert store.claim_fire("a", T0, later, now=T0) is True
        assert store.get_job("a") == make_job(next_fire=later)

    def test_claim_fire_with_a_stale_expectation_changes_nothing(self, store: JobStore) -> None:
        store.add_job(make_job(next_fire=T0, remaining_runs=3))
        stale = T0 - timedelta(seconds=10)
        later = T0 + timedelta(seconds=10)
        assert store.claim_fire("a", stale, later, now=T0, remaining_runs=2) is False
        assert store.get_job("a") == make_job(next_fire=T0, remaining_runs=3)

    def test_the_same_fire_is_claimed_once(self, store: JobStore) -> None:
        store.add_job(make_job(next_fire=T0))
        later = T0 + timedelta(seconds=10)
        assert store.claim_fire("a", T0, later, now=T0) is True
        assert store.claim_fire("a", T0, later, now=T0) is False
        assert store.get_job("a").next_fire == later

    def test_a_paused_job_is_not_claimed(self, store: JobStore) -> None:
        # (Only the Hypothesis model test caught a store that claimed one: a process
        # would run a job another process paused.)
        store.add_jobs([make_job("a", paused=True), make_job("b")])
        later = T0 + timedelta(seconds=10)
        assert store.claim_fire("a", T0, later, now=T0) is False
        claims = [("a", T0, later, None, (T0,)), ("b", T0, later, None, (T0,))]
        assert store.claim_fires(claims, now=T0) == [None, 0]
        assert [(job.id, job.next_fire) for job in store.get_jobs()] == [("a", T0), ("b", later)]

    def test_claim_fire_of_an_unknown_id_returns_false(self, store: JobStore) -> None:
        assert store.claim_fire("missing", T0, T0 + timedelta(seconds=10), now=T0) is False
        assert store.get_jobs() == []

    def test_claim_fire_compares_instants_not_zones(self, store: JobStore) -> None:
        store.add_job(make_job(next_fire=T0.astimezone(BERLIN)))
        later = T0 + timedelta(seconds=10)
        assert store.claim_fire("a", T0, later, now=T0) is True
        assert store.get_job("a").next_fire == later

    def test_claim_fire_tells_the_two_passes_of_an_overlap_apart(self, store: JobStore) -> None:
        # Same wall time, an hour apart: a claim for the first pass is not one for the
        # second.
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
        self, store: JobStore, stored: datetime | None, expected: datetime | None, claimed: bool
    ) -> None:
        store.add_job(make_job(next_fire=stored))
        new_next = T0 + timedelta(hours=1)
        assert store.claim_fire("a", expected, new_next, now=T0) is claimed
        assert store.get_job("a").next_fire == (new_next if claimed else stored)

    def test_claim_fire_can_end_a_schedule(self, store: JobStore) -> None:
        store.add_job(make_job("a", next_fire=T0))
        store.add_job(make_job("b", next_fire=T0 + timedelta(seconds=1)))
        assert store.claim_fire("a", T0, None, now=T0) is True
        assert store.get_job("a").next_fire is None
        assert [job.id for job in store.get_jobs()] == ["b", "a"]

    def test_claim_fire_stores_remaining_runs(self, store: JobStore) -> None:
        store.add_job(make_job(next_fire=T0, remaining_runs=3))
        later = T0 + timedelta(seconds=10)
        assert store.claim_fire("a", T0, later, now=T0, remaining_runs=2) is True
        assert store.get_job("a") == make_job(next_fire=later, remaining_runs=2)

    def test_claim_fire_without_remaining_runs_keeps_them(self, store: JobStore) -> None:
        store.add_job(make_job(next_fire=T0, remaining_runs=3))
        later = T0 + timedelta(seconds=10)
        assert store.claim_fire("a", T0, later, now=T0) is True
        assert store.get_job("a").remaining_runs == 3

    def test_claim_fire_changes_only_the_schedule_state(self, store: JobStore) -> None:
        job = make_job(next_fire=T0, tags=frozenset({"t"}), paused=False, consecutive_failures=1)
        store.add_job(job)
        later = T0 + timedelta(seconds=10)
        assert store.claim_fire("a", T0, later, now=T0, remaining_runs=5) is True
        assert store.get_job("a") == replace(job, next_fire=later, remaining_runs=5)

    def test_claim_fires_answers_each_claim_in_order(self, store: JobStore) -> None:
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
        assert [job.next_fire for job in store.get_jobs()] == [T0, later]

    def test_a_later_claim_in_one_call_sees_an_earlier_one(self, store: JobStore) -> None:
        store.add_job(make_job(remaining_runs=5))
        first, second = T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)
        results = store.claim_fires(
            [Claim("a", T0, first, 4, (T0,)), Claim("a", first, second, None, (first,))],
            now=T0,
        )
        assert results == [0, 0]
        assert store.get_job("a") == make_job(next_fire=second, remaining_runs=4)

    def test_a_batch_decides_each_claim_after_the_ones_before_it(self, store: JobStore) -> None:
        # One job claimed three times in a batch (won, stale, won), another lost then won.
        store.add_jobs([make_job("a", remaining_runs=5), make_job("b")])
        first, second = T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)
        results = store.claim_fires(
            [
                ("a", T0, first, 4, (T0,)),
                ("b", first, second, None, (first,)),  # stale: b fires at T0
                ("a", T0, second, 3, (T0,)),  # stale: the first claim moved a's fire
                ("a", first, second, None, (first,)),
                ("b", T0, None, 0, (T0,)),
            ],
            now=T0,
        )
        assert results == [0, None, None, 0, 0]
        assert store.get_job("a") == make_job("a", next_fire=second, remaining_runs=4)
        assert store.get_job("b") == make_job("b", next_fire=None, remaining_runs=0)

    def test_a_job_claimed_twice_in_a_batch_keeps_its_last_fires_zone(
        self, store: JobStore
    ) -> None:
        # The second pass of 01:30 on a fall-back night: only its zone (its offset) tells
        # it from the first.
        first = datetime(2024, 11, 3, 1, 30, tzinfo=NEW_YORK)
        second = first.replace(fold=1)
        store.add_job(make_job(next_fire=T0))
        utc = first.astimezone(UTC) - timedelta(hours=1)
        claims = [  # (a zone kept, a zone changed, a zone kept)
            ("a", T0, utc, None, ()),
            ("a", utc, first, None, ()),
            ("a", first, second, None, ()),
        ]
        assert store.claim_fires(claims, now=T0) == [0, 0, 0]
        stored = store.get_job("a").next_fire
        assert stored is not None
        assert (epoch_us(stored), stored.utcoffset()) == (epoch_us(second), second.utcoffset())

    def test_large_batches_of_claims_and_removals(self, store: JobStore) -> None:
        count = 1100  # more than a store may put in one statement
        ids = [f"j{n:04}" for n in range(count)]
        store.add_jobs([make_job(job_id) for job_id in ids])
        later = T0 + timedelta(seconds=10)
        # Every third claim is stale (each job still fires at T0).
        claims = [
            (job_id, later if n % 3 == 0 else T0, later, None, ()) for n, job_id in enumerate(ids)
        ]
        assert store.claim_fires(claims, now=T0) == [
            None if n % 3 == 0 else 0 for n in range(count)
        ]
        # Removals: every other job, an id that is not stored, an id given twice.
        store.remove_jobs([*ids[::2], "missing", ids[1], ids[1]])
        kept = {job.id: job.next_fire for job in store.get_jobs()}
        assert kept == {
            job_id: T0 if n % 3 == 0 else later for n, job_id in enumerate(ids) if n % 2 and n != 1
        }

    def test_concurrent_claims_of_one_fire_have_one_winner(self, store: JobStore) -> None:
        fire = T0
        store.add_job(make_job(next_fire=fire))
        for _ in range(20):
            following = fire + timedelta(seconds=10)
            results = race([store] * 8, fire, following)
            assert sorted(results) == [False] * 7 + [True]
            fire = following
        assert store.get_job("a").next_fire == fire

    def test_update_without_schedule_keeps_the_claimed_fire_state(self, store: JobStore) -> None:
        store.add_job(make_job(remaining_runs=5))
        later = T0 + timedelta(seconds=10)
        assert store.claim_fire("a", T0, later, now=T0, remaining_runs=4)
        # A process that read the job before the claim saves a change of another field.
        store.update_job(make_job(name="renamed", remaining_runs=5), schedule=False)
        stored = store.get_job("a")
        assert stored.name == "renamed"
        assert stored.next_fire == later
        assert stored.remaining_runs == 4

    # -- run history ------------------------------------------------------------------

    def test_history_is_newest_first_per_job_and_limited(self, store: JobStore) -> None:
        ends = [
            run_end(job_id, T0 + timedelta(minutes=n))
            for n, job_id in enumerate(["a", "b", "a", "a", "b"])
        ]
        store.record_runs(ends[:2], now=T0)
        store.record_runs(ends[2:], now=T0 + timedelta(minutes=5))
        newest_first = [(run.job_id, run.scheduled_at) for run in store.history()]
        assert newest_first == [(end.job_id, end.scheduled_at) for end in reversed(ends)]
        assert [run.scheduled_at for run in store.history("a", limit=2)] == [
            T0 + timedelta(minutes=3),
            T0 + timedelta(minutes=2),
        ]
        assert len(store.history(limit=3)) == 3
        assert store.history(limit=0) == []
        assert store.history("nobody") == []

    @pytest.mark.parametrize("limit", [-1, 2.5, "10"])
    def test_history_refuses_a_bad_limit(self, store: JobStore, limit: Any) -> None:
        with pytest.raises(ValueError, match="limit"):
            store.history(limit=limit)

    def test_history_keeps_what_each_run_reported(self, store: JobStore) -> None:
        error = RuntimeError("the disk is on fire")
        failed = run_end(
            "a", T0, attempt=2, outcome=Outcome.FAILURE, started_at=T0, error=error, final=False
        )
        skipped = run_end("a", T0 + timedelta(minutes=1), outcome=Outcome.SKIPPED,
                          reason="1 run(s) in progress, max_instances=1")  # fmt: skip
        interrupted = run_end("b", T0, outcome=Outcome.INTERRUPTED, started_at=T0,
                              error=JobLookupError("gone"))  # fmt: skip
        store.record_runs([failed, skipped, interrupted], now=T0 + timedelta(minutes=2))
        third, second, first = store.history()
        assert (first.job_id, first.scheduled_at, first.attempt) == ("a", T0, 2)
        assert first.outcome is Outcome.FAILURE
        assert (first.started_at, first.finished_at) == (T0, failed.at)
        assert (first.error_type, first.error_message) == ("RuntimeError", "the disk is on fire")
        assert first.process
        assert second.outcome is Outcome.SKIPPED
        assert (second.started_at, second.finished_at, second.error_type) == (None, None, None)
        assert second.error_message == "1 run(s) in progress, max_instances=1"
        assert third.outcome is Outcome.INTERRUPTED
        assert third.error_type == "tickwork.JobLookupError"

    def test_history_outlives_the_job(self, store: JobStore) -> None:
        store.add_job(make_job())
        store.record_runs([run_end()], now=T0)
        store.remove_job("a")
        assert [run.job_id for run in store.history("a")] == ["a"]

    def test_history_keeps_the_newest_runs(self, store: JobStore) -> None:
        keep = self.history_retention
        if keep is None:
            pytest.skip("history_retention is not set for this store")
        ends = [run_end("a", T0 + timedelta(seconds=n)) for n in range(keep + 5)]
        for first in range(0, len(ends), 50):
            store.record_runs(ends[first : first + 50], now=T0)
        if isinstance(store, SharedJobStore):
            store.maintain(T0 + timedelta(seconds=1))
        kept = [run.scheduled_at for run in store.history("a", limit=len(ends))]
        assert kept == [end.scheduled_at for end in reversed(ends)][:keep]

    # -- broken jobs --------------------------------------------------------------------

    def test_a_marked_job_is_reported_and_kept(self, store: JobStore) -> None:
        store.add_jobs([make_job("b"), make_job("a")])
        store.mark_broken("b", "its function cannot be imported: no module 'gone'")
        store.mark_broken("a", "another reason")
        store.mark_broken("nobody", "not stored: nothing to mark")
        assert list(store.broken_jobs().items()) == [
            ("a", "another reason"),
            ("b", "its function cannot be imported: no module 'gone'"),
        ]
        with pytest.raises(ConflictingIdError):
            store.add_job(make_job("b"))

    @pytest.mark.parametrize(
        "clear",
        [
            pytest.param(lambda store: store.remove_job("a"), id="remove"),
            pytest.param(lambda store: store.remove_jobs(["a"]), id="remove_jobs"),
            pytest.param(lambda store: store.update_job(make_job("a")), id="update"),
            pytest.param(lambda store: store.add_job(make_job("a"), replace=True), id="replace"),
        ],
    )
    def test_a_mark_lasts_until_the_job_is_changed(
        self, store: JobStore, clear: Callable[[JobStore], object]
    ) -> None:
        store.add_job(make_job("a"))
        store.mark_broken("a", "its function cannot be imported")
        clear(store)
        assert store.broken_jobs() == {}

    def test_a_record_that_cannot_load_is_kept_and_reported(self, store: JobStore) -> None:
        store.add_jobs([make_job("good"), make_job("bad", next_fire=T0 + timedelta(seconds=1))])
        self.break_job(store, "bad")
        assert [job.id for job in store.get_jobs()] == ["good"]
        assert [job.id for job in store.load_jobs()] == ["good"]
        broken = store.broken_jobs()
        assert list(broken) == ["bad"]
        assert broken["bad"]  # a reason
        with pytest.raises(JobLookupError, match="'bad'"):
            store.get_job("bad")
        with pytest.raises(ConflictingIdError, match="'bad'"):
            store.add_job(make_job("bad"))  # still stored: never dropped
        assert store.claim_fire("bad", T0 + timedelta(seconds=1), None, now=T0) is False
        assert list(store.broken_jobs()) == ["bad"]

    @pytest.mark.parametrize(
        "repair",
        [
            pytest.param(lambda store: store.add_job(make_job("bad"), replace=True), id="replace"),
            pytest.param(lambda store: store.update_job(make_job("bad")), id="update"),
        ],
    )
    def test_a_record_that_cannot_load_is_repaired_by_writing_it(
        self, store: JobStore, repair: Callable[[JobStore], object]
    ) -> None:
        store.add_job(make_job("bad"))
        self.break_job(store, "bad")
        repair(store)
        assert store.get_jobs() == [make_job("bad")]
        assert store.broken_jobs() == {}

    def test_a_record_that_cannot_load_can_be_removed(self, store: JobStore) -> None:
        store.add_job(make_job("bad"))
        self.break_job(store, "bad")
        store.remove_job("bad")
        assert store.broken_jobs() == {}
        store.add_job(make_job("bad"))
        assert store.get_jobs() == [make_job("bad")]

    # -- against the model ------------------------------------------------------------

    def test_behaves_as_the_memory_store_does(self, store: JobStore) -> None:
        """A Hypothesis state machine drives this store and a :class:`MemoryStore` (the
        model: a dict behind a lock, simple enough to be obviously right) with the same
        adds, replacements, updates, removals, batches and claims, and checks after
        every step that they hold the same jobs and gave the same answers."""
        pytest.importorskip("hypothesis")
        from hypothesis import HealthCheck, settings
        from hypothesis.stateful import run_state_machine_as_test

        from ._contract_model import same_answers

        # Bounded, and without a deadline (a store on disk is slow now and then),
        # whatever the profile in use; the profile's other choices (derandomize...) hold.
        current = settings()
        bounded = settings(
            current,
            max_examples=min(current.max_examples, 40),
            stateful_step_count=min(current.stateful_step_count, 25),
            deadline=None,
            suppress_health_check=[*current.suppress_health_check, HealthCheck.too_slow],
        )
        run_state_machine_as_test(same_answers(store, MemoryStore), settings=bounded)


def race(stores: list[Any], expected: datetime, new_next: datetime) -> list[bool]:
    """Have one thread per store claim the same fire at once; what each got."""
    barrier = threading.Barrier(len(stores))
    results: list[bool] = []
    lock = threading.Lock()

    def claim(store: JobStore) -> None:
        barrier.wait()
        won = store.claim_fire("a", expected, new_next, now=expected)
        with lock:
            results.append(won)

    threads = [threading.Thread(target=claim, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results
