"""How far ahead a process claims while others share its store (``tickwork._pace``)."""

from __future__ import annotations

import pytest

from tickwork._pace import AHEAD_AT_FIRST, AHEAD_PER_WORKER, CLAIM_LEAST, ClaimPace

MS = 1_000


def test_until_the_rate_is_known_a_few_runs_per_worker() -> None:
    pace = ClaimPace()
    assert pace.room(10_000, 0, 10, 0, 0) == 10 * AHEAD_AT_FIRST
    assert pace.room(10_000, 0, 10, 20, 0) == 20  # claims of at least half of 40
    assert pace.room(10_000, 0, 10, 21, 0) == 0
    assert pace.room(10_000, 0, 10, 9, 0) == 31  # a worker is idle: no waiting for more
    assert pace.room(5, 0, 10, 0, 0) == 5  # never more than asked


@pytest.mark.parametrize(
    ("ended", "span_ms", "in_flight", "expected"),
    [
        # Fast runs (no-op jobs): capped at AHEAD_PER_WORKER per worker.
        (2_000, 100, 0, 10 * AHEAD_PER_WORKER),
        # 0.2 s jobs on 10 threads: 50 a second, so 10 + 50 held at most.
        (5, 100, 10, 60 - 10),
        # Slow jobs (10 s): one per worker, claimed as workers become idle.
        (0, 100, 5, 10 - 5),
        (0, 100, 9, 1),
        (0, 100, 10, 0),
    ],
)
def test_what_is_held_is_a_second_of_the_measured_rate_beyond_a_run_per_worker(
    ended: int, span_ms: int, in_flight: int, expected: int
) -> None:
    pace = ClaimPace()
    pace.room(10_000, 0, 10, 40, 0)  # the measure starts
    assert pace.room(10_000, span_ms * MS, 10, in_flight, ended) == expected


def test_claims_wait_until_half_of_what_may_be_held_or_claim_least_has_ended() -> None:
    pace = ClaimPace()
    pace.room(10_000, 0, 10, 40, 0)
    most = 10 * AHEAD_PER_WORKER
    assert pace.room(10_000, 100 * MS, 10, most - CLAIM_LEAST + 1, 10_000) == 0
    assert pace.room(10_000, 101 * MS, 10, most - CLAIM_LEAST, 10_000) == CLAIM_LEAST


def test_the_rate_is_smoothed_and_an_idle_span_does_not_count() -> None:
    pace = ClaimPace()
    pace.room(10_000, 0, 4, 8, 0)
    pace.room(10_000, 1_000 * MS, 4, 8, 40)  # 40 a second
    pace.room(10_000, 2_000 * MS, 4, 8, 40 + 20)  # 20 a second: now (40 + 20) / 2 = 30
    assert pace.room(10_000, 2_000 * MS, 4, 0, 60) == 4 + 30
    pace.room(10_000, 60_000 * MS, 4, 0, 60)  # idle a minute: nothing in flight, none ended
    assert pace.room(10_000, 60_000 * MS, 4, 0, 60) == 4 + 30
    pace.room(10_000, 61_000 * MS, 4, 0, 60)  # a span of a second, still idle: kept
    assert pace.room(10_000, 61_000 * MS, 4, 0, 60) == 4 + 30


def test_with_no_one_racing_for_the_same_fires_only_the_rate_caps_the_claims() -> None:
    # Alone on a store, or given a share of a split backlog: fast runs are claimed in
    # chunks as big as asked; slow ones, a second's worth beyond one per worker.
    fast, slow = ClaimPace(), ClaimPace()
    for pace in (fast, slow):
        assert pace.room(10_000, 0, 10, 0, 0, racing=False) == 10 * AHEAD_AT_FIRST
    assert fast.room(10_000, 100 * MS, 10, 0, 2_000, racing=False) == 10_000  # 20,000 a second
    assert fast.room(10_000, 100 * MS, 10, 0, 2_000) == 10 * AHEAD_PER_WORKER  # racing
    assert slow.room(10_000, 100 * MS, 10, 10, 5, racing=False) == 60 - 10  # 50 a second
