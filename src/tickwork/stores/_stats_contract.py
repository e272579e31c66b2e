"""The stats contract: :class:`StatsListing` (``schedules`` and ``run_counts``), as pytest
tests.

Part of ``tickwork.testing.JobStoreContract`` (which subclasses this class): each test
here runs for a store that offers :class:`~tickwork.stores.StatsListing` and is skipped
for one that does not. Each checks that the cheap reading says what the full one
(``get_jobs``, ``history``) says.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from .._instants import epoch_us
from .._model import Job, Outcome, RunEnd
from ..triggers import IntervalTrigger
from ._base import JobStore, StatsListing

__all__ = ["StatsListingContract"]

UTC = timezone.utc
T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def _job(job_id: str, next_fire: datetime | None, *, paused: bool = False) -> Job:
    return Job(
        id=job_id,
        name=f"job {job_id}",
        func=None,
        func_ref="builtins:print",
        trigger=IntervalTrigger(seconds=10, start=T0, timezone="UTC"),
        next_fire=next_fire,
        paused=paused,
    )


def _stats(store: JobStore) -> StatsListing:
    if not isinstance(store, StatsListing):
        pytest.skip(f"{type(store).__name__} does not count cheaply (StatsListing)")
    return store


def _instant(moment: datetime | None) -> int | None:
    return None if moment is None else epoch_us(moment)


class StatsListingContract:
    """The :class:`~tickwork.stores.StatsListing` tests of ``JobStoreContract``."""

    def test_schedules_say_what_get_jobs_says(self, store: JobStore) -> None:
        stats = _stats(store)
        assert stats.schedules() == []
        store.add_jobs(
            [
                _job("b", T0),
                _job("a", T0.astimezone(BERLIN) + timedelta(hours=1)),
                _job("c", None),
                _job("d", T0, paused=True),
                _job('\u00e9t\u00e9 "q"\n', T0),
            ]
        )
        # A claim moves a job's next fire without rewriting its record.
        assert store.claim_fires([("b", T0, T0 + timedelta(seconds=10), None, ())], now=T0) == [0]
        expected = sorted((job.id, _instant(job.next_fire), job.paused) for job in store.get_jobs())
        listed = stats.schedules()
        assert [(s.job_id, _instant(s.next_fire), s.paused) for s in listed] == expected
        assert [s.job_id for s in listed] == sorted(s.job_id for s in listed)
        assert all(s.next_fire is None or s.next_fire.utcoffset() is not None for s in listed)
        store.remove_job("c")
        assert "c" not in {s.job_id for s in stats.schedules()}

    def test_run_counts_count_the_history(self, store: JobStore) -> None:
        stats = _stats(store)
        assert stats.run_counts() == []
        ends = [
            RunEnd("a", T0, 1, Outcome.SUCCESS, T0 + timedelta(seconds=1), T0),
            RunEnd("a", T0 + timedelta(minutes=1), 1, Outcome.SUCCESS,
                   T0 + timedelta(minutes=1, seconds=3), T0 + timedelta(minutes=1)),
            RunEnd("a", T0 + timedelta(minutes=2), 1, Outcome.FAILURE,
                   T0 + timedelta(minutes=2, seconds=2), T0 + timedelta(minutes=2),
                   RuntimeError("boom"), None, False),
            RunEnd("b", T0, 1, Outcome.MISSED, T0 + timedelta(minutes=5), None, None, "late"),
            RunEnd("gone", T0, 1, Outcome.SKIPPED, T0 + timedelta(minutes=5), None, None, "busy"),
        ]  # fmt: skip
        store.record_runs(ends, now=T0 + timedelta(minutes=5))
        counted = Counter((run.job_id, run.outcome) for run in store.history(limit=1000))
        listed = stats.run_counts()
        assert {(c.job_id, c.outcome): c.runs for c in listed} == dict(counted)
        assert [(c.job_id, c.outcome.value) for c in listed] == sorted(
            (c.job_id, c.outcome.value) for c in listed
        )
        last = {(c.job_id, c.outcome): c.last for c in listed}
        # The newest end of each (a run that ran: when it finished).
        assert last["a", Outcome.SUCCESS] == T0 + timedelta(minutes=1, seconds=3)
        assert last["a", Outcome.FAILURE] == T0 + timedelta(minutes=2, seconds=2)
