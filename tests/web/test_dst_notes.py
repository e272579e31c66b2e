"""The job page's DST notes, as a table: for each trigger and zone, the fire times and
what is said about each (nothing, when the clocks do nothing)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tickwork import CronTrigger, IntervalTrigger, Trigger
from tickwork.web._pages import dst_notes

UTC = timezone.utc
GAP = "first instant after a DST gap"

CASES = [
    # (trigger, now (UTC), [(fire time as shown, words in its note or "" for none)])
    pytest.param(
        CronTrigger("30 2 * * *", timezone="Europe/Berlin"),
        datetime(2024, 3, 30, 12, 0, tzinfo=UTC),
        [
            ("2024-03-31 03:00 +0200", "+01:00 → +02:00"),  # 02:30 is in the gap: shifted
            ("2024-04-01 02:30 +0200", ""),
        ],
        id="berlin-spring-gap-shifts-02:30",
    ),
    pytest.param(
        CronTrigger("0 12 * * *", timezone="Europe/Berlin"),
        datetime(2024, 3, 30, 12, 0, tzinfo=UTC),
        [
            ("2024-03-31 12:00 +0200", "+01:00 → +02:00 (clocks later: DST starts"),
            ("2024-04-01 12:00 +0200", ""),
        ],
        id="berlin-noon-after-the-change",
    ),
    pytest.param(
        CronTrigger("30 1 * * *", timezone="America/New_York"),
        datetime(2024, 11, 2, 12, 0, tzinfo=UTC),
        [
            ("2024-11-03 01:30 -0400", "01:30 happens twice that night"),
            ("2024-11-04 01:30 -0500", "-04:00 → -05:00 (clocks earlier: DST ends"),
        ],
        id="new-york-fall-back-overlap",
    ),
    pytest.param(
        CronTrigger("0 9 * * *", timezone="UTC"),
        datetime(2024, 3, 30, 12, 0, tzinfo=UTC),
        [("2024-03-31 09:00 +0000", ""), ("2024-04-01 09:00 +0000", "")],
        id="utc-never",
    ),
    pytest.param(
        IntervalTrigger(
            minutes=30, start=datetime(2024, 3, 31, 0, 0, tzinfo=UTC), timezone="Europe/Berlin"
        ),
        datetime(2024, 3, 31, 0, 10, tzinfo=UTC),
        [
            ("2024-03-31 01:30 +0100", ""),
            ("2024-03-31 03:00 +0200", "+01:00 → +02:00"),  # elapsed time: no "shift"
            ("2024-03-31 03:30 +0200", ""),
        ],
        id="interval-across-the-change",
    ),
    pytest.param(
        # The note is about the wall time shown: an interval's fire at 01:00 EDT and its
        # fire at 01:00 EST an hour later show the same wall time too.
        IntervalTrigger(
            minutes=30, start=datetime(2024, 11, 3, 4, 0, tzinfo=UTC), timezone="America/New_York"
        ),
        datetime(2024, 11, 3, 4, 10, tzinfo=UTC),
        [
            ("2024-11-03 00:30 -0400", ""),
            (
                "2024-11-03 01:00 -0400",
                "01:00 happens twice that night (clocks fall back); this is the first pass",
            ),
            (
                "2024-11-03 01:30 -0400",
                "01:30 happens twice that night (clocks fall back); this is the first pass",
            ),
            (
                "2024-11-03 01:00 -0500",
                "01:00 happens twice that night (clocks fall back); this is the second pass",
            ),
            ("2024-11-03 01:30 -0500", "this is the second pass"),
            ("2024-11-03 02:00 -0500", ""),
        ],
        id="interval-through-the-fall-back-overlap",
    ),
]


@pytest.mark.parametrize(("trigger", "now", "expected"), CASES)
def test_dst_notes(trigger: Trigger, now: datetime, expected: list[tuple[str, str]]) -> None:
    times = trigger.next_times(now, len(expected))
    wall = not isinstance(trigger, IntervalTrigger)
    notes = dst_notes(times, now, wall=wall)
    assert [f"{t:%Y-%m-%d %H:%M %z}" for t in times] == [shown for shown, _ in expected]
    for note, (_, words) in zip(notes, expected, strict=True):
        if words:
            assert words in note
        else:
            assert note == ""


def test_a_gap_shifted_cron_fire_says_so_and_an_interval_fire_does_not() -> None:
    now = datetime(2024, 3, 30, 12, 0, tzinfo=UTC)
    cron = CronTrigger("30 2 * * *", timezone="Europe/Berlin").next_times(now, 1)
    assert "wall times 02:00-03:00 did not exist" in dst_notes(cron, now)[0]
    assert GAP not in dst_notes(cron, now, wall=False)[0]


def test_a_late_jobs_first_fire_is_compared_with_the_instant_before_it() -> None:
    """Regression: a job late since March, looked at in November (EDT then, EST now),
    had its first listed fire (9 March, EST like the instants around it) noted as "DST
    ends before this fire": compared with now's offset, not the fire before it."""
    trigger = CronTrigger("30 1 * * *", timezone="America/New_York")
    times = trigger.next_times(datetime(2024, 3, 8, 12, 0, tzinfo=UTC), 3)
    now = datetime(2024, 11, 1, 12, 0, tzinfo=UTC)
    assert [f"{t:%m-%d %z}" for t in times] == ["03-09 -0500", "03-10 -0500", "03-11 -0400"]
    assert dst_notes(times, now)[:2] == ["", ""]
    assert "-05:00 → -04:00" in dst_notes(times, now)[2]
    # A first fire still ahead is compared with now, as before.
    ahead = trigger.next_times(datetime(2024, 11, 2, 12, 0, tzinfo=UTC), 2)
    assert "-04:00 → -05:00" in dst_notes(ahead, datetime(2024, 11, 1, 12, 0, tzinfo=UTC))[1]
