"""The chain contract: :class:`~tickwork.stores._chains.ChainStore` (edges, hand-overs,
claims), as pytest tests.

Part of ``tickwork.testing.JobStoreContract`` (which subclasses this class): each test
runs for a store that keeps chains and is skipped for one that does not. The test of
two store objects on one store needs the ``peer`` fixture of
``SharedJobStoreContract`` and is skipped without it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from .._model import ChainOn, Job, Outcome, RunEnd
from ..triggers import IntervalTrigger
from ..triggers.upstream import UpstreamTrigger
from ._base import JobStore
from ._chains import ChainStore, upstream_of

__all__ = ["ChainStoreContract"]

UTC = timezone.utc
T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def _job(job_id: str, after: tuple[str, ...] = (), on: ChainOn = ChainOn.SUCCESS) -> Job:
    trigger = UpstreamTrigger() if after else IntervalTrigger(seconds=10, start=T0)
    return Job(
        id=job_id,
        name=f"job {job_id}",
        func=None,
        func_ref="builtins:print",
        trigger=trigger,
        next_fire=None if after else T0,
        after=after,
        on=on,
    )


def _end(
    job_id: str,
    outcome: Outcome = Outcome.SUCCESS,
    *,
    at: datetime = T0,
    final: bool = True,
    value: object = None,
    error: BaseException | None = None,
    attempt: int = 1,
) -> RunEnd:
    return RunEnd(
        job_id, at, attempt, outcome, at + timedelta(seconds=1), at, error, None, final, value
    )


def _chains(store: JobStore) -> ChainStore:
    if not isinstance(store, ChainStore) or not callable(getattr(store, "claim_chain", None)):
        pytest.skip(f"{type(store).__name__} does not keep chains (ChainStore)")
    return store


class ChainStoreContract:
    """The :class:`~tickwork.stores._chains.ChainStore` tests of ``JobStoreContract``."""

    def test_edges_follow_the_jobs(self, store: JobStore) -> None:
        chains = _chains(store)
        store.add_jobs([_job("a"), _job("b"), _job("c", ("a", "b"), ChainOn.ANY)])
        store.add_job(_job("d", ("c",)))
        assert chains.chain_edges() == {
            "c": (("a", "b"), ChainOn.ANY),
            "d": (("c",), ChainOn.SUCCESS),
        }
        store.update_job(_job("c", ("b",), ChainOn.FAILURE))
        store.add_job(_job("d"), replace=True)  # no longer chained
        assert chains.chain_edges() == {"c": (("b",), ChainOn.FAILURE)}
        store.remove_job("c")
        assert chains.chain_edges() == {}

    def test_a_hand_over_is_written_for_matching_final_ends_only(self, store: JobStore) -> None:
        chains = _chains(store)
        store.add_jobs([_job("a"), _job("ok", ("a",)), _job("bad", ("a",), ChainOn.FAILURE)])
        minute = timedelta(minutes=1)
        store.record_runs(
            [
                _end("a", at=T0),  # success: "ok"
                _end("a", Outcome.FAILURE, at=T0 + minute, final=False),  # a retry follows
                _end("a", Outcome.MISSED, at=T0 + 2 * minute),  # never ran
                _end("a", Outcome.INTERRUPTED, at=T0 + 3 * minute),  # counts as failed
            ],
            now=T0 + 4 * minute,
        )
        ready = chains.ready_chains()
        assert [(job, slot) for job, slot in ready] == [("ok", T0), ("bad", T0 + 3 * minute)]

    def test_upstream_ends_hand_over_among_many_unchained_ends(self, store: JobStore) -> None:
        # A batch as a backlog writes it: hundreds of ends of unchained jobs (more than
        # one IN list of ids) around the few that start downstream runs, the job that
        # ends last in the batch among them.
        chains = _chains(store)
        plain = [_job(f"p{i:04}") for i in range(700)]
        store.add_jobs([*plain, _job("a"), _job("z"), _job("b", ("a",)), _job("y", ("z",))])
        ends = [_end(job.id) for job in plain]
        store.record_runs([*ends[:350], _end("a"), *ends[350:], _end("z")], now=T0)
        assert sorted(chains.ready_chains()) == [("b", T0), ("y", T0)]
        assert [run.job_id for run in store.history("p0699")] == ["p0699"]

    def test_a_fan_in_is_ready_once_every_upstream_ended_and_is_claimed_once(
        self, store: JobStore
    ) -> None:
        chains = _chains(store)
        store.add_jobs([_job("a"), _job("b"), _job("c", ("a", "b"))])
        slot = T0.astimezone(BERLIN)
        store.record_runs([_end("a", at=slot, value={"rows": [1, 2]})], now=T0)
        assert chains.ready_chains() == []
        assert chains.claim_chain("c", slot, now=T0) is None  # not complete
        store.record_runs([_end("b", at=slot, value="b done", attempt=2)], now=T0)
        [(job, ready_slot)] = chains.ready_chains()
        assert (job, ready_slot) == ("c", slot)
        rows = chains.claim_chain("c", slot, now=T0)
        assert rows is not None
        got = {(r.upstream, r.run_id, r.outcome, r.return_json) for r in rows}
        assert got == {
            ("a", "a@2024-01-01T12:00:00Z#1", Outcome.SUCCESS, '{"value":{"rows":[1,2]}}'),
            ("b", "b@2024-01-01T12:00:00Z#2", Outcome.SUCCESS, '{"value":"b done"}'),
        }
        assert all(row.slot == slot and row.downstream == "c" for row in rows)
        assert chains.claim_chain("c", slot, now=T0) is None  # taken
        assert chains.ready_chains() == []

    def test_a_failed_upstream_hands_over_its_error(self, store: JobStore) -> None:
        chains = _chains(store)
        store.add_jobs([_job("a"), _job("alert", ("a",), ChainOn.FAILURE)])
        store.record_runs([_end("a", Outcome.FAILURE, error=ValueError("no input"))], now=T0)
        rows = chains.claim_chain("alert", T0, now=T0)
        assert rows is not None
        assert [(r.outcome, r.error, r.return_json) for r in rows] == [
            (Outcome.FAILURE, "ValueError: no input", None)
        ]

    def test_a_value_json_cannot_hold_is_handed_over_as_not_kept(self, store: JobStore) -> None:
        chains = _chains(store)
        store.add_jobs([_job("a"), _job("b", ("a",))])
        store.record_runs([_end("a", value=object())], now=T0)
        (run,) = store.history("a")
        assert (run.return_value, run.return_kept) == (None, False)
        rows = chains.claim_chain("b", T0, now=T0)
        assert rows is not None
        assert [r.return_json for r in rows] == ['{"unkept":"object"}']

    def test_a_claimed_hand_over_given_back_is_ready_again_with_its_upstream_runs(
        self, store: JobStore
    ) -> None:
        chains = _chains(store)
        release = getattr(store, "release_chain", None)
        if release is None:
            pytest.skip(f"{type(store).__name__} gives no hand-over back (release_chain)")
        store.add_jobs([_job("a"), _job("b", ("a",))])
        slot = T0.astimezone(BERLIN)
        store.record_runs([_end("a", at=slot, value={"rows": [1, 2]})], now=T0)
        rows = chains.claim_chain("b", slot, now=T0)
        assert rows is not None
        upstream = upstream_of(rows)
        assert release("b", slot, upstream, now=T0) is True
        assert release("b", slot, upstream, now=T0) is False  # (not this store's any more)
        assert chains.ready_chains() == [("b", slot)]
        again = chains.claim_chain("b", slot, now=T0)
        assert again is not None
        assert upstream_of(again) == upstream
        assert [(r.slot, r.return_json) for r in again] == [(slot, '{"value":{"rows":[1,2]}}')]

    def test_two_store_objects_claim_a_hand_over_once(
        self, store: JobStore, request: pytest.FixtureRequest
    ) -> None:
        chains = _chains(store)
        if not hasattr(self, "peer_store"):  # (not a SharedJobStoreContract)
            pytest.skip("no peer: a second store object on the same data")
        peer = request.getfixturevalue("peer")
        store.add_jobs([_job("a"), _job("b", ("a",))])
        store.record_runs([_end("a")], now=T0)
        assert [job for job, _ in peer.ready_chains()] == ["b"]  # written by the other
        first = peer.claim_chain("b", T0, now=T0)
        assert first is not None
        assert chains.claim_chain("b", T0, now=T0) is None
