"""The windowed store contract: :meth:`WindowedJobStore.due_jobs`, as pytest tests.

Part of ``tickwork.testing.JobStoreContract`` (which subclasses this class): each test
here runs for a store that offers :class:`~tickwork.stores.WindowedJobStore` and is
skipped for one that does not. Each checks one promise of the docstring of
:meth:`~tickwork.stores.WindowedJobStore.due_jobs`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from .._model import Job
from ..triggers import IntervalTrigger
from ._base import JobStore, SharedJobStore, WindowedJobStore

__all__ = ["WindowedJobStoreContract"]

UTC = timezone.utc
T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def _job(job_id: str, next_fire: datetime | None, **changes: Any) -> Job:
    changes.setdefault("name", f"job {job_id}")
    return Job(
        id=job_id,
        func=None,
        func_ref="builtins:print",
        trigger=IntervalTrigger(seconds=10, start=T0, timezone="UTC"),
        next_fire=next_fire,
        **changes,
    )


def _ids(jobs: list[Job]) -> list[str]:
    return [job.id for job in jobs]


def _key(job: Job) -> tuple[datetime, str]:
    assert job.next_fire is not None
    return (job.next_fire, job.id)


class WindowedJobStoreContract:
    """The :class:`~tickwork.stores.WindowedJobStore` tests of ``JobStoreContract``."""

    def break_job(self, store: JobStore, job_id: str) -> None:
        """(Defined by ``JobStoreContract``.)"""
        raise NotImplementedError

    @staticmethod
    def windowed(store: JobStore) -> WindowedJobStore:
        """*store*, if it offers pages in due order; else the test is skipped."""
        if not isinstance(store, WindowedJobStore):
            pytest.skip("the store does not list jobs in due order (no due_jobs)")
        return store

    def test_due_jobs_are_ordered_by_instant_then_id(self, store: JobStore) -> None:
        window = self.windowed(store)
        # 12:00 in Berlin is 11:00 UTC: an earlier instant, whatever the wall time says.
        store.add_jobs(
            [
                _job("b", T0),
                _job("a", T0 + timedelta(minutes=5)),
                _job("c", T0),
                _job("z", datetime(2024, 1, 1, 12, tzinfo=BERLIN)),
                _job("A", T0),
            ]
        )
        assert _ids(window.due_jobs(after=None, limit=10)) == ["z", "A", "b", "c", "a"]
        assert window.due_jobs(after=None, limit=10) == sorted(
            store.get_jobs(), key=lambda job: (job.next_fire, job.id)
        )

    def test_pages_from_a_key_list_every_job_once_however_many_share_an_instant(
        self, store: JobStore
    ) -> None:
        window = self.windowed(store)
        ids = [f"job-{n:03d}" for n in range(25)]
        # 20 jobs due at one instant, a page holding 3: the key, not the time, pages on.
        store.add_jobs([_job(job_id, T0 if n < 20 else T0 + timedelta(hours=n)) for n, job_id
                        in enumerate(reversed(ids))])  # fmt: skip
        seen: list[str] = []
        after = None
        while True:
            page = window.due_jobs(after=after, limit=3)
            assert len(page) <= 3
            seen += _ids(page)
            if len(page) < 3:
                break
            after = _key(page[-1])
        assert sorted(seen) == ids
        assert len(set(seen)) == len(seen)

    def test_a_page_starts_strictly_after_its_key(self, store: JobStore) -> None:
        window = self.windowed(store)
        store.add_jobs([_job("a", T0), _job("b", T0), _job("c", T0), _job("d", T0 + timedelta(1))])
        assert _ids(window.due_jobs(after=(T0, "b"), limit=10)) == ["c", "d"]
        assert _ids(window.due_jobs(after=(T0, "a0"), limit=1)) == ["b"]
        # The key is an instant: the same instant in another zone pages the same way.
        assert _ids(window.due_jobs(after=(T0.astimezone(BERLIN), "c"), limit=10)) == ["d"]
        assert window.due_jobs(after=(T0 + timedelta(2), ""), limit=10) == []

    def test_a_short_page_is_the_last(self, store: JobStore) -> None:
        window = self.windowed(store)
        store.add_jobs([_job("a", T0), _job("b", T0 + timedelta(seconds=1))])
        assert _ids(window.due_jobs(after=None, limit=2)) == ["a", "b"]
        assert _ids(window.due_jobs(after=None, limit=3)) == ["a", "b"]
        assert window.due_jobs(after=(T0 + timedelta(seconds=1), "b"), limit=2) == []

    def test_paused_jobs_and_jobs_with_no_fire_time_are_never_due(self, store: JobStore) -> None:
        window = self.windowed(store)
        store.add_jobs(
            [_job("paused", T0, paused=True), _job("done", None), _job("due", T0 + timedelta(1))]
        )
        assert _ids(window.due_jobs(after=None, limit=10)) == ["due"]

    def test_a_page_shows_the_jobs_as_they_are_now(self, store: JobStore) -> None:
        window = self.windowed(store)
        store.add_jobs([_job("a", T0), _job("b", T0 + timedelta(1)), _job("c", T0 + timedelta(2))])
        assert _ids(window.due_jobs(after=None, limit=1)) == ["a"]
        store.update_job(_job("a", T0 + timedelta(3)))  # it fired: now last
        store.remove_job("b")
        store.update_job(_job("c", T0 + timedelta(1), name="renamed"))
        page = window.due_jobs(after=(T0, "a"), limit=10)
        assert page == [_job("c", T0 + timedelta(1), name="renamed"), _job("a", T0 + timedelta(3))]
        store.claim_fires([("c", T0 + timedelta(1), T0 + timedelta(4), None, ())], now=T0)
        assert _ids(window.due_jobs(after=None, limit=10)) == ["a", "c"]
        store.update_job(_job("c", T0 + timedelta(4), paused=True))
        assert _ids(window.due_jobs(after=None, limit=10)) == ["a"]

    def test_a_broken_record_is_left_out_and_the_page_is_still_full(self, store: JobStore) -> None:
        window = self.windowed(store)
        store.add_jobs([_job(job_id, T0 + timedelta(seconds=n)) for n, job_id in enumerate("abcd")])
        self.break_job(store, "b")
        assert _ids(window.due_jobs(after=None, limit=2)) == ["a", "c"]
        assert _ids(window.due_jobs(after=(T0, "a"), limit=3)) == ["c", "d"]
        assert list(store.broken_jobs()) == ["b"]

    @pytest.mark.parametrize("limit", [0, -1, 1.5, True])
    def test_a_limit_below_one_is_refused(self, store: JobStore, limit: Any) -> None:
        window = self.windowed(store)
        with pytest.raises((ValueError, TypeError), match="limit"):
            window.due_jobs(after=None, limit=limit)

    def test_sync_counts_from_the_first_page_and_later_reads_do_not_move_it(
        self, store: JobStore, request: pytest.FixtureRequest
    ) -> None:
        window = self.windowed(store)
        if not isinstance(store, SharedJobStore):
            pytest.skip("not a shared store: there is no sync")
        peer: SharedJobStore = request.getfixturevalue("peer")
        store.add_jobs([_job("a", T0), _job("z", T0 + timedelta(1))])
        window.due_jobs(after=None, limit=1)  # where a scheduler starts
        assert store.sync() is None
        peer.add_job(_job("b", T0 + timedelta(seconds=1)))
        # Neither a later page nor a read of every job takes the news from sync: a
        # scheduler learns of changes below its window from sync alone.
        assert _ids(window.due_jobs(after=(T0, "a"), limit=1)) == ["b"]
        assert _ids(store.get_jobs()) == ["a", "b", "z"]
        changed = store.sync()
        assert changed is not None
        assert _ids(changed[0]) == ["b"]
        assert store.sync() is None
