"""The process listing contract: :meth:`ProcessListing.processes` of a shared store, as
pytest tests.

Part of ``tickwork.testing.SharedJobStoreContract`` (which subclasses this class): each
test here runs for a shared store that offers :class:`~tickwork.stores.ProcessListing`
and is skipped for one that does not. Two processes are stood for by two store objects
on the same data (the ``store`` and ``peer`` fixtures of the shared suite); a scheduler
is stood for by its calls to ``maintain`` and ``claim_fires``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

import pytest

from .._model import Outcome
from ._base import HandOff, LeaseInfo, ProcessInfo, ProcessListing, SharedJobStore
from ._contract import T0, make_job, run_end

__all__ = ["ProcessListingContract"]

LATER = T0 + timedelta(seconds=10)


def _listing(store: SharedJobStore) -> ProcessListing:
    if not isinstance(store, ProcessListing):
        pytest.skip(f"{type(store).__name__} does not list its processes (ProcessListing)")
    return store


def _claim(store: SharedJobStore, fire: datetime, job_id: str) -> None:
    following = fire + timedelta(seconds=10)
    assert store.claim_fires([(job_id, fire, following, None, (fire,))], now=fire) == [0]


def _aware(moment: datetime | None) -> bool:
    return moment is None or moment.utcoffset() is not None


class ProcessListingContract:
    """The :class:`~tickwork.stores.ProcessListing` tests of ``SharedJobStoreContract``."""

    lease_time: ClassVar[float]

    def expired(self, since: datetime = T0) -> datetime:  # (SharedJobStoreContract's)
        raise NotImplementedError

    def _one(self, store: SharedJobStore, now: datetime) -> ProcessInfo:
        [process] = _listing(store).processes(now=now)
        return process

    def test_a_store_no_scheduler_looks_after_lists_no_process(self, store: SharedJobStore) -> None:
        listing = _listing(store)
        store.add_job(make_job())
        store.get_jobs()
        assert listing.processes(now=T0) == []

    @pytest.mark.parametrize("now", [T0.replace(tzinfo=None), "2024"])
    def test_now_must_be_an_aware_datetime(self, store: SharedJobStore, now: object) -> None:
        with pytest.raises(TypeError, match="now"):
            _listing(store).processes(now=now)  # type: ignore[arg-type]

    def test_a_scheduler_is_listed_from_its_first_upkeep(self, store: SharedJobStore) -> None:
        listing = _listing(store)
        store.maintain(T0)
        [process] = listing.processes(now=T0)
        assert process.id
        assert process.alive is True
        assert process.last_seen == T0
        assert process.leases == ()
        assert all(_aware(moment) for moment in (process.started, process.last_seen))
        assert process.pid is None or process.pid > 0

    def test_the_heartbeat_moves_with_upkeep(self, store: SharedJobStore) -> None:
        _listing(store)
        store.maintain(T0)
        # Beats at the latest every third of the lease time (the renewal's cadence).
        now = T0 + timedelta(seconds=self.lease_time / 3 + 0.5)
        store.maintain(now)
        assert self._one(store, now).last_seen == now

    def test_a_lease_is_listed_with_its_run_until_the_run_ends(self, store: SharedJobStore) -> None:
        _listing(store)
        store.add_jobs([make_job("a"), make_job("b")])
        store.maintain(T0)
        _claim(store, T0, "b")
        _claim(store, T0, "a")
        expires = T0 + timedelta(seconds=self.lease_time)
        assert self._one(store, T0).leases == (
            LeaseInfo(job_id="a", scheduled_at=T0, attempt=1, expires=expires),
            LeaseInfo(job_id="b", scheduled_at=T0, attempt=1, expires=expires),
        )
        store.record_runs(
            [run_end("a", final=True), run_end("b", outcome=Outcome.FAILURE, final=False)],
            now=T0,
        )
        [lease] = self._one(store, T0).leases
        assert (lease.job_id, lease.attempt) == ("b", 2)  # the attempt that runs next

    def test_a_renewal_moves_the_listed_expiry(self, store: SharedJobStore) -> None:
        _listing(store)
        store.add_job(make_job())
        store.maintain(T0)
        _claim(store, T0, "a")
        now = T0 + timedelta(seconds=self.lease_time / 2)
        store.maintain(now)
        [lease] = self._one(store, now).leases
        assert lease.expires == now + timedelta(seconds=self.lease_time)

    def test_a_handed_off_retry_is_held_by_no_process(self, store: SharedJobStore) -> None:
        _listing(store)
        store.add_job(make_job())
        store.maintain(T0)
        _claim(store, T0, "a")
        assert store.hand_off_retries([HandOff("a", T0, 2, LATER)], now=T0) == [True]
        assert self._one(store, T0).leases == ()

    def test_each_process_lists_its_own_leases(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        listing = _listing(store)
        store.add_jobs([make_job("a"), make_job("b")])
        store.maintain(T0)
        peer.maintain(T0)
        _claim(store, T0, "a")
        _claim(peer, T0, "b")
        found = listing.processes(now=T0)
        assert len(found) == 2
        assert found[0].id != found[1].id
        held = {tuple(lease.job_id for lease in process.leases) for process in found}
        assert held == {("a",), ("b",)}
        # Both store objects see the same listing.
        assert _listing(peer).processes(now=T0) == found

    def test_a_run_taken_over_is_listed_under_its_new_holder(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        listing = _listing(store)
        store.add_job(make_job())
        store.maintain(T0)
        mine = self._one(store, T0).id
        _claim(store, T0, "a")
        store.record_runs([run_end(outcome=Outcome.FAILURE, final=False)], now=T0)
        now = self.expired()
        [taken] = peer.maintain(now).taken
        assert (taken.job_id, taken.attempt) == ("a", 2)
        found = {process.id: process for process in listing.processes(now=now)}
        [theirs] = set(found) - {mine}
        assert found[mine].leases == ()
        assert found[theirs].leases == (
            LeaseInfo(
                job_id="a",
                scheduled_at=T0,
                attempt=2,
                expires=now + timedelta(seconds=self.lease_time),
            ),
        )
        assert found[theirs].last_seen == now

    def test_a_process_that_closed_the_store_is_not_listed(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        listing = _listing(store)
        store.maintain(T0)
        mine = self._one(store, T0).id
        peer.maintain(T0)
        assert len(listing.processes(now=T0)) == 2
        peer.close()
        assert [process.id for process in listing.processes(now=T0)] == [mine]
