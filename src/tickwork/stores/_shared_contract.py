"""The shared job store contract suite: leases, hand-off and sync, on top of the jobs.

Exposed as ``tickwork.testing.SharedJobStoreContract``; see :mod:`tickwork.stores._contract`.
Two processes sharing a store are stood for by two store objects on the same data (the
``store`` and ``peer_store`` fixtures), each with a lease owner of its own. Lease expiry
is driven by the ``now`` passed in, so nothing waits.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, ClassVar

import pytest

from .._model import Outcome, evolve
from ._base import HandOff, SharedJobStore
from ._contract import T0, JobStoreContract, make_job, race, run_end
from ._event_contract import EventLogContract
from ._outcomes_contract import QueueOutcomesContract
from ._process_contract import ProcessListingContract

__all__ = ["SharedJobStoreContract"]

LATER = T0 + timedelta(seconds=10)  # the fire after T0 of make_job()'s trigger
#: A function no process of the tests can import (code another deploy brings).
MISSING = "tickwork_contract_new_code:job"
LAST = T0 + timedelta(seconds=20)


def claim_run(store: SharedJobStore, fire: datetime = T0, *, job_id: str = "a") -> int | None:
    """Claim the fire of *job_id* at *fire*, starting (and leasing) its run."""
    following = fire + timedelta(seconds=10)
    return store.claim_fires([(job_id, fire, following, None, (fire,))], now=fire)[0]


def start_retries(store: SharedJobStore) -> Any:
    """The store's optional ``start_retries``, or skip the test (a store without it does
    not tell a retry waiting from one going)."""
    start = getattr(store, "start_retries", None)
    if start is None:
        pytest.skip(f"{type(store).__name__} has no start_retries (optional)")
    return start


def held(store: SharedJobStore, fire: datetime = T0, *, job_id: str = "a") -> bool:
    """Whether *store* holds the lease of the run at *fire*, told by trying to hand it
    off (which it does only for a run it holds): a check that ends the lease."""
    return store.hand_off_retries([HandOff(job_id, fire, 2, fire)], now=fire) == [True]


class SharedJobStoreContract(
    EventLogContract, QueueOutcomesContract, ProcessListingContract, JobStoreContract
):
    """The :class:`~tickwork.stores.SharedJobStore` contract as a pytest test class:
    every test of :class:`JobStoreContract`, and those of leases, hand-off and sync
    (and of :class:`~tickwork.stores.ProcessListing`, of the event log and of queued
    runs' outcomes, for a store that offers them).

    Besides the ``store`` fixture, define:

    * ``peer_store``: a second new, unopened store object on the same data, as another
      process would open it (the tests of two processes use it; without it, or when
      it returns None, they are skipped);
    * :attr:`lease_time`: the seconds the leases of the stores under test last.
    """

    #: Seconds a lease of the store under test lasts without renewal.
    lease_time: ClassVar[float] = 30.0

    @pytest.fixture
    def peer_store(self) -> SharedJobStore | None:
        """Override: a second, unopened store object on the data of ``store``."""
        return None

    @pytest.fixture
    def peer(self, _opened: None, peer_store: SharedJobStore | None) -> Iterator[SharedJobStore]:
        if peer_store is None:
            pytest.skip("no peer_store: a second store object on the same data")
        peer_store.open()
        yield peer_store
        peer_store.close()

    def expired(self, since: datetime = T0) -> datetime:
        """A moment just after a lease taken or renewed at *since* has expired."""
        return since + timedelta(seconds=self.lease_time + 1)

    # -- one store object -------------------------------------------------------------

    def test_it_is_a_shared_job_store(self, store: SharedJobStore) -> None:
        assert isinstance(store, SharedJobStore)
        assert store.persistent is True
        interval = store.poll_interval
        assert interval is None or interval > 0

    def test_its_own_writes_are_no_news_to_sync(self, store: SharedJobStore) -> None:
        store.sync()
        store.add_job(make_job())
        store.update_job(make_job(name="renamed"))
        assert store.sync() is None
        assert store.sync() is None

    def test_a_claimed_run_is_held_until_its_final_record(self, store: SharedJobStore) -> None:
        store.add_jobs([make_job("a"), make_job("b"), make_job("c")])
        for job_id in "abc":
            assert claim_run(store, job_id=job_id) == 0
        store.record_runs([run_end("a", final=True)], now=T0)
        store.record_runs(
            [run_end("b", outcome=Outcome.FAILURE, final=False)],
            now=T0,  # a retry follows
        )
        assert not held(store, job_id="a")
        assert held(store, job_id="b")
        assert held(store, job_id="c")

    def test_a_claim_that_loses_or_starts_no_run_leases_nothing(
        self, store: SharedJobStore
    ) -> None:
        store.add_jobs([make_job("a"), make_job("b")])
        assert store.claim_fires([("a", T0, LATER, None, ())], now=T0) == [0]
        assert store.claim_fires([("b", LATER, LAST, None, (LATER,))], now=T0) == [None]
        assert not held(store, job_id="a")
        assert not held(store, LATER, job_id="b")

    def test_one_record_of_many_runs_releases_the_final_ones(self, store: SharedJobStore) -> None:
        count = 1100  # more than a store may put in one statement
        ids = [f"j{n:04}" for n in range(count)]
        store.add_jobs([make_job(job_id) for job_id in ids])
        assert store.claim_fires([(i, T0, LATER, None, (T0,)) for i in ids], now=T0) == [0] * count
        ends = [
            run_end(
                job_id, final=n % 2 == 0, outcome=Outcome.SUCCESS if n % 2 == 0 else Outcome.FAILURE
            )
            for n, job_id in enumerate(ids)
        ]
        store.record_runs([*ends, ends[0]], now=T0)  # a run recorded twice: released once
        assert [held(store, job_id=ids[n]) for n in (0, 1, 2, 1098, 1099)] == [
            False,
            True,
            False,
            False,
            True,
        ]

    def test_maintain_says_when_to_call_it_again(self, store: SharedJobStore) -> None:
        upkeep = store.maintain(T0)
        assert (upkeep.lost, upkeep.taken) == ([], [])
        assert upkeep.next_at is None or upkeep.next_at > T0
        store.add_job(make_job())
        claim_run(store)
        now = T0 + timedelta(seconds=1)
        upkeep = store.maintain(now)
        assert (upkeep.lost, upkeep.taken) == ([], [])
        # Leases held: renewed at the latest a third of the lease time from now.
        assert upkeep.next_at is not None
        assert now < upkeep.next_at <= now + timedelta(seconds=self.lease_time / 3)

    def test_a_handed_off_retry_comes_back_from_maintain_once_due(
        self, store: SharedJobStore
    ) -> None:
        store.add_job(make_job())
        assert claim_run(store) == 0
        due = T0 + timedelta(seconds=30)
        retry = HandOff("a", T0, 2, due)
        assert store.hand_off_retries([retry], now=T0 + timedelta(seconds=1)) == [True]
        assert store.maintain(due - timedelta(seconds=1)).taken == []
        [taken] = store.maintain(due + timedelta(microseconds=1)).taken
        assert (taken.job_id, taken.attempt, taken.handed_off, taken.owner) == ("a", 2, True, "")
        assert taken.scheduled_at == T0
        assert store.maintain(due + timedelta(seconds=2)).taken == []  # taken once

    def test_a_retry_of_a_run_it_does_not_hold_is_not_kept(self, store: SharedJobStore) -> None:
        store.add_job(make_job())
        due = T0 + timedelta(seconds=30)
        kept = store.hand_off_retries(
            [("a", T0, 2, due), ("ghost", T0, 2, due)], now=T0 + timedelta(seconds=1)
        )
        assert kept == [False, False]
        assert store.maintain(self.expired(due)).taken == []

    def test_a_hand_off_keeps_each_retry_it_holds_a_lease_for(self, store: SharedJobStore) -> None:
        store.add_jobs([make_job("a"), make_job("b")])
        claim_run(store, job_id="a")
        due = T0 + timedelta(seconds=5)
        kept = store.hand_off_retries([HandOff("a", T0, 3, due), HandOff("b", T0, 2, due)], now=T0)
        assert kept == [True, False]
        [taken] = store.maintain(self.expired(due)).taken
        assert (taken.job_id, taken.attempt, taken.handed_off) == ("a", 3, True)

    # -- two store objects on the same data -----------------------------------------

    def test_a_change_by_another_is_read_at_once(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        store.get_jobs()
        peer.add_job(make_job("theirs"))
        assert store.get_job("theirs") == make_job("theirs")
        peer.update_job(make_job("theirs", name="renamed"))
        assert [job.name for job in store.get_jobs()] == ["renamed"]

    def test_sync_reports_what_another_changed(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        store.add_jobs([make_job("a"), make_job("c")])
        store.load_jobs()  # where sync counts from
        assert store.sync() is None
        peer.add_job(make_job("b"))
        peer.remove_job("a")
        peer.update_job(make_job("c", name="renamed"))
        changed = store.sync()
        assert changed is not None
        jobs, removed = changed
        expected = [make_job("b"), make_job("c", name="renamed")]
        assert sorted(jobs, key=lambda job: job.id) == expected
        assert removed == ["a"]
        assert store.sync() is None

    def test_sync_reports_every_job_another_removed_in_one_batch(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        # More than one statement's worth (a store writes the removals in batches).
        ids = [f"j{n:04}" for n in range(1100)]
        store.add_jobs([make_job(job_id) for job_id in ids])
        store.load_jobs()
        peer.remove_jobs(ids[:-1])
        changed = store.sync()
        assert changed is not None
        assert sorted(changed[1]) == ids[:-1]
        assert [job.id for job in store.get_jobs()] == ids[-1:]

    def test_sync_reports_a_claim_by_another(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        store.add_job(make_job())
        store.load_jobs()
        assert claim_run(peer) == 0
        changed = store.sync()
        assert changed is not None
        assert changed[0] == [make_job(next_fire=LATER)]

    def test_sync_reports_a_record_that_broke_as_removed(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        store.add_jobs([make_job("a"), make_job("b")])
        store.load_jobs()
        self.break_job(peer, "a")
        changed = store.sync()
        assert changed is not None
        assert changed[1] == ["a"]
        assert list(store.broken_jobs()) == ["a"]

    def test_a_fire_claimed_by_another_cannot_be_claimed(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        store.add_job(make_job())
        assert claim_run(peer) == 0
        assert claim_run(store) is None
        assert store.get_job("a").next_fire == LATER

    def test_a_job_paused_by_another_is_not_claimed(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        store.add_job(make_job())
        store.load_jobs()  # where sync counts from
        peer.update_job(make_job(paused=True))
        assert claim_run(store) is None  # no run started, no lease taken
        assert peer.get_job("a").next_fire == T0
        assert not held(store)
        # The scheduler behind *store* learns of the pause at its next sync.
        changed = store.sync()
        assert changed is not None
        assert [(job.id, job.paused) for job in changed[0]] == [("a", True)]

    def test_two_store_objects_racing_for_a_fire_claim_it_once(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        fire = T0
        store.add_job(make_job(next_fire=fire))
        for _ in range(10):
            following = fire + timedelta(seconds=10)
            results = race([store, peer] * 3, fire, following)
            assert sorted(results) == [False] * 5 + [True]
            fire = following
        assert peer.get_job("a").next_fire == fire

    def test_a_claim_counts_the_runs_another_holds(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        store.add_job(make_job())
        assert claim_run(store, T0) == 0  # its run goes on
        assert claim_run(peer, LATER) == 1  # one run of "a" held elsewhere
        assert claim_run(store, LAST) == 1  # its own run is not counted, the peer's is
        peer.record_runs([run_end("a", LATER)], now=LATER)
        assert claim_run(store, LAST + timedelta(seconds=10)) == 0

    def test_a_batch_leases_the_runs_of_its_winning_claims_only(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        store.add_jobs([make_job("a"), make_job("b"), make_job("c")])
        assert claim_run(peer, job_id="a") == 0  # a's run at T0 goes on in the peer
        results = store.claim_fires(
            [
                ("a", LATER, LAST, None, (LATER,)),  # one run of a held elsewhere
                ("b", LATER, LAST, None, (LATER,)),  # stale: b fires at T0
                ("c", T0, LATER, None, (T0,)),
                ("c", LATER, LAST, None, (LATER,)),  # c again: its own run is not counted
            ],
            now=T0,
        )
        assert results == [1, None, 0, 0]
        assert held(store, LATER, job_id="a")
        assert not held(store, LATER, job_id="b")
        assert held(store, T0, job_id="c")
        assert held(store, LATER, job_id="c")
        assert held(peer, job_id="a")  # untouched by the batch

    def test_a_handed_off_retry_is_no_run_in_progress(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        store.add_job(make_job())
        claim_run(store)
        due = T0 + timedelta(minutes=5)
        assert store.hand_off_retries([HandOff("a", T0, 2, due)], now=T0) == [True]
        assert claim_run(peer, LATER) == 0

    def test_another_takes_over_a_handed_off_retry_once_due(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        store.add_job(make_job())
        claim_run(store)
        due = T0 + timedelta(minutes=5)
        assert store.hand_off_retries([HandOff("a", T0, 2, due)], now=T0) == [True]
        assert peer.maintain(due - timedelta(seconds=1)).taken == []
        [taken] = peer.maintain(due + timedelta(seconds=1)).taken
        assert (taken.job_id, taken.scheduled_at, taken.attempt) == ("a", T0, 2)
        assert (taken.owner, taken.handed_off) == ("", True)
        upkeep = store.maintain(due + timedelta(seconds=2))
        assert (upkeep.taken, upkeep.lost) == ([], [])  # left for good: not lost
        assert held(peer)

    def test_an_expired_lease_is_taken_over_once(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        store.add_job(make_job())
        claim_run(store)
        before = T0 + timedelta(seconds=self.lease_time - 1)
        assert peer.maintain(before).taken == []
        [taken] = peer.maintain(self.expired()).taken
        assert (taken.job_id, taken.scheduled_at, taken.attempt) == ("a", T0, 1)
        assert not taken.handed_off
        assert taken.owner != ""
        assert peer.maintain(self.expired() + timedelta(seconds=1)).taken == []
        assert held(peer)

    def test_runs_of_a_job_that_does_not_load_here_are_left_for_a_process_where_it_does(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        # A rolling deploy: the store's process has the new code; the peer's, old code,
        # cannot import the job's function. A run left at shutdown ("a") and a run cut
        # off ("b") stay in the store, untouched, until a process that can run them
        # looks; the run of a job no longer stored ("gone") is taken over as ever.
        new_code = [evolve(make_job(job_id), func_ref=MISSING) for job_id in ("a", "b")]
        store.add_jobs([*new_code, make_job("gone")])
        for job_id in ("a", "b", "gone"):
            claim_run(store, job_id=job_id)
        assert store.hand_off_retries([HandOff("a", T0, 1, T0)], now=T0) == [True]
        store.remove_job("gone")
        now = self.expired()
        assert [taken.job_id for taken in peer.maintain(now).taken] == ["gone"]
        assert peer.maintain(now + timedelta(seconds=1)).taken == []
        # The code deployed where the peer runs (here: the jobs changed to a function
        # that imports): it takes them over.
        store.update_job(make_job("a"), schedule=False)
        store.update_job(make_job("b"), schedule=False)
        taken = peer.maintain(now + timedelta(seconds=2)).taken
        assert sorted((t.job_id, t.attempt, t.handed_off) for t in taken) == [
            ("a", 1, True),
            ("b", 1, False),
        ]

    def test_runs_for_an_executor_a_process_lacks_are_left_for_one_that_has_it(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        tell = getattr(peer, "dispatching", None)
        if tell is None:
            pytest.skip(f"{type(peer).__name__} has no dispatching (optional)")
        store.add_jobs([make_job("a", executor="special"), make_job("b", executor="special")])
        claim_run(store, job_id="a")
        claim_run(store, job_id="b")
        assert store.hand_off_retries([HandOff("a", T0, 1, T0)], now=T0) == [True]
        tell(["default"])  # no "special" here: a run there would not start
        assert peer.maintain(self.expired()).taken == []
        tell(["default", "special"])
        taken = peer.maintain(self.expired() + timedelta(seconds=1)).taken
        assert sorted((t.job_id, t.handed_off) for t in taken) == [("a", True), ("b", False)]

    def test_a_mark_by_a_process_that_cannot_load_a_job_stops_no_claim(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        # The peer's process could not import the job's function (old code); this one
        # loaded the job and claims its fires all the same, which clears the mark. The
        # peer, reading the job again, does not write the same mark again.
        store.add_job(make_job())
        store.load_jobs()
        reason = "its function cannot be imported: no module named 'new_code'"
        peer.mark_broken("a", reason)
        assert store.broken_jobs() == {"a": reason}
        assert claim_run(store) == 0
        assert peer.broken_jobs() == {}
        peer.mark_broken("a", reason)
        assert store.broken_jobs() == {}
        assert claim_run(store, LATER) == 0

    def test_a_paused_scheduler_takes_over_nothing(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        store.add_job(make_job())
        claim_run(store)
        assert peer.maintain(self.expired(), take_over=False).taken == []
        assert [taken.job_id for taken in peer.maintain(self.expired()).taken] == ["a"]

    def test_renewed_leases_are_not_taken_over(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        store.add_job(make_job())
        claim_run(store)
        third = timedelta(seconds=self.lease_time / 3)
        now = T0
        for _ in range(9):  # three lease times, renewed every third of one
            now += third
            assert store.maintain(now).lost == []
            assert peer.maintain(now).taken == []
        assert [taken.job_id for taken in peer.maintain(self.expired(now)).taken] == ["a"]

    def test_a_failed_attempt_leaves_the_next_attempt_to_whoever_takes_over(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        store.add_job(make_job())
        claim_run(store)
        store.record_runs([run_end(outcome=Outcome.FAILURE, final=False)], now=T0)
        [taken] = peer.maintain(self.expired()).taken
        assert (taken.job_id, taken.attempt) == ("a", 2)
        if hasattr(store, "start_retries"):  # (it tells a retry waiting from one going)
            assert taken.handed_off  # attempt 2 never started: the taker runs it

    def test_a_retry_started_and_cut_off_is_taken_over_as_cut_off(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        start = start_retries(store)
        store.add_job(make_job())
        claim_run(store)
        store.record_runs([run_end(outcome=Outcome.FAILURE, final=False)], now=T0)
        assert start([("a", T0, 2), ("b", T0, 2)]) == [True, True]  # ("b": no lease)
        [taken] = peer.maintain(self.expired()).taken
        assert (taken.job_id, taken.attempt, taken.handed_off) == ("a", 2, False)
        # A retry whose lease was taken over meanwhile is the taker's: not started here.
        assert start([("a", T0, 3)]) == [False]

    def test_a_retry_started_before_its_failure_is_written_stays_started(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        # A retry due at once starts in the step that took the failure in, before the
        # failure (and "the next attempt waits") is written: the lease keeps "started",
        # so the process's death cuts it off, and it is not run again as if never begun.
        start = start_retries(store)
        store.add_job(make_job())
        claim_run(store)
        assert start([("a", T0, 2)]) == [True]
        store.record_runs([run_end(outcome=Outcome.FAILURE, final=False)], now=T0)
        assert [run.attempt for run in store.history("a")] == [1]  # (recorded, not fenced)
        [taken] = peer.maintain(self.expired()).taken
        assert (taken.job_id, taken.attempt, taken.handed_off) == ("a", 2, False)

    def test_the_holder_learns_it_lost_a_lease_and_cannot_release_the_new_one(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        store.add_job(make_job())
        claim_run(store)
        assert len(peer.maintain(self.expired()).taken) == 1
        upkeep = store.maintain(self.expired() + timedelta(seconds=1))
        assert upkeep.lost == [("a", T0)]
        assert upkeep.taken == []
        assert store.maintain(self.expired() + timedelta(seconds=2)).lost == []  # told once
        # Its run "ends" late: fenced, its row is not written (the taker records the run
        # cut off, and may run it again), and the peer's lease is not touched.
        store.record_runs([run_end()], now=self.expired())
        assert claim_run(store, LATER) == 1
        assert not held(store)
        assert held(peer)
        assert [run.scheduled_at for run in store.history("a")] == []

    def test_a_run_ended_after_its_lease_was_taken_over_is_not_recorded(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        # Before the holder's own upkeep found the lease gone (a process frozen for
        # longer than its lease, which records its run the moment it wakes), and for a
        # failed attempt with another to come as for a last one.
        store.add_job(make_job("a"))
        store.add_job(make_job("b"))
        claim_run(store, job_id="a")
        claim_run(store, job_id="b")
        assert len(peer.maintain(self.expired()).taken) == 2
        ends = [
            run_end("a", outcome=Outcome.FAILURE, final=False),
            run_end("b"),
            run_end("c"),  # (a run of no lease: recorded as ever)
        ]
        store.record_runs(ends, now=self.expired())
        assert [run.job_id for run in store.history()] == ["c"]
        assert held(peer, job_id="a")
        assert held(peer, job_id="b")

    def test_an_attempt_whose_lease_this_store_took_back_later_is_not_recorded(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        # A frozen holder's run is taken over (cut off, to retry); its taker dies before
        # the retry; the holder wakes and takes the retry's lease: it holds the run's key
        # again, but the end of its old attempt is still not its to record.
        store.add_job(make_job())
        claim_run(store)
        first = self.expired()
        assert [taken.attempt for taken in peer.maintain(first).taken] == [1]
        peer.record_runs([run_end(outcome=Outcome.INTERRUPTED, final=False)], now=first)
        upkeep = store.maintain(self.expired(first))
        assert upkeep.lost == [("a", T0)]
        assert [(taken.job_id, taken.attempt) for taken in upkeep.taken] == [("a", 2)]
        store.record_runs([run_end()], now=self.expired(first))  # (attempt 1's end)
        assert [run.attempt for run in store.history("a")] == [1]  # (the taker's row)
        assert [run.outcome for run in store.history("a")] == [Outcome.INTERRUPTED]
        store.record_runs([run_end(attempt=2)], now=self.expired(first))
        assert [run.attempt for run in store.history("a")] == [2, 1]
        assert not held(store)  # (attempt 2's end released it)

    def test_history_holds_the_runs_of_every_store_object(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        store.record_runs([run_end("a", T0)], now=T0)
        peer.record_runs([run_end("b", T0)], now=T0)
        store.record_runs([run_end("a", LATER)], now=LATER)
        assert [(run.job_id, run.scheduled_at) for run in store.history()] == [
            ("a", LATER),
            ("b", T0),
            ("a", T0),
        ]
        assert peer.history() == store.history()
