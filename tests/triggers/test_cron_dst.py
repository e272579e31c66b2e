"""The cron engine across DST gaps and overlaps, and the calendar's odd corners, as tables.

Every expected time below was worked out by hand from the rules of the time-engine
issue and checked against tzdata with ``zoneinfo``; none was produced by tickwork.
The rules, in short:

* a schedule whose hours cover the whole day is a *cadence*, any other is *anchored*;
* spring-forward gap: an anchored time fires once, at the first instant after the gap
  (merged with a real slot there); a cadence has no slots in the gap;
* fall-back overlap: an anchored time fires once, at the earlier instant; a cadence
  fires in both passes; a start in the second pass does not re-fire the first;
* ``dst_gap`` / ``dst_overlap`` override either kind.

Each row is: expression, zone, start (ISO with offset), the next fire times (ISO with
offset, in the trigger's zone). A comment above a group names the transition.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tickwork import CronTrigger

Row = tuple[str, str, str, list[str]]
OverrideRow = tuple[str, str, dict[str, Any], str, list[str]]


def assert_fires(trigger: CronTrigger, zone: str, start: str, expected: list[str]) -> None:
    # The table itself: every expected time is a wall time that really happens in the zone
    # at the offset written (a typo in an offset would otherwise pass unnoticed).
    for text in expected:
        assert datetime.fromisoformat(text).astimezone(ZoneInfo(zone)).isoformat() == text
    fires = trigger.next_times(datetime.fromisoformat(start), len(expected))
    assert [t.isoformat() for t in fires] == expected
    # The same, as instants: compared through timestamps, never by (same-zone) wall time.
    assert [t.timestamp() for t in fires] == [
        datetime.fromisoformat(text).timestamp() for text in expected
    ]
    assert all(t.tzinfo is trigger.timezone for t in fires)


def row_id(row: tuple[Any, ...]) -> str:
    expression, zone, *middle, start, _ = row
    overrides = "".join(f" {key}={value}" for part in middle for key, value in part.items())
    return f"{zone} '{expression}'{overrides} from {start}"


# -- spring-forward gaps, default policy ---------------------------------------------------

GAPS: list[Row] = [
    # New York 2024-03-10: 02:00 EST -> 03:00 EDT (07:00 UTC).
    (
        "30 2 * * *",
        "America/New_York",
        "2024-03-09T12:00:00-05:00",
        ["2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00"],
    ),
    # The shifted 02:00 merges with the real 03:00 slot: one fire, not two.
    (
        "0 2,3 * * *",
        "America/New_York",
        "2024-03-09T12:00:00-05:00",
        ["2024-03-10T03:00:00-04:00", "2024-03-11T02:00:00-04:00", "2024-03-11T03:00:00-04:00"],
    ),
    # Hour set {2}: anchored, so its four gap slots merge into one fire at 03:00 EDT
    # (Debian cron would skip them, as the minute field starts with '*').
    (
        "*/15 2 * * *",
        "America/New_York",
        "2024-03-10T00:00:00-05:00",
        ["2024-03-10T03:00:00-04:00", "2024-03-11T02:00:00-04:00", "2024-03-11T02:15:00-04:00"],
    ),
    # Strictly later: a start on the shifted fire does not return it.
    (
        "30 2 * * *",
        "America/New_York",
        "2024-03-10T03:00:00-04:00",
        ["2024-03-11T02:30:00-04:00"],
    ),
    (
        "30 2 * * *",
        "America/New_York",
        "2024-03-10T01:59:59-05:00",
        ["2024-03-10T03:00:00-04:00"],
    ),
    # Cadences have no slots in the gap (and never "02:30 plus one hour").
    (
        "*/30 * * * *",
        "America/New_York",
        "2024-03-10T01:00:00-05:00",
        ["2024-03-10T01:30:00-05:00", "2024-03-10T03:00:00-04:00", "2024-03-10T03:30:00-04:00"],
    ),
    (
        "15 * * * *",
        "America/New_York",
        "2024-03-10T01:00:00-05:00",
        ["2024-03-10T01:15:00-05:00", "2024-03-10T03:15:00-04:00", "2024-03-10T04:15:00-04:00"],
    ),
    # Berlin 2024-03-31: 02:00 CET -> 03:00 CEST (01:00 UTC).
    (
        "30 2 * * *",
        "Europe/Berlin",
        "2024-03-30T12:00:00+01:00",
        ["2024-03-31T03:00:00+02:00", "2024-04-01T02:30:00+02:00"],
    ),
    (
        "0 * * * *",
        "Europe/Berlin",
        "2024-03-31T00:30:00+01:00",
        ["2024-03-31T01:00:00+01:00", "2024-03-31T03:00:00+02:00", "2024-03-31T04:00:00+02:00"],
    ),
    # Lord Howe 2019-10-06: a 30-minute gap, 02:00 +10:30 -> 02:30 +11:00.
    (
        "15 2 * * *",
        "Australia/Lord_Howe",
        "2019-10-05T12:00:00+10:30",
        ["2019-10-06T02:30:00+11:00", "2019-10-07T02:15:00+11:00"],
    ),
    (
        "0 * * * *",
        "Australia/Lord_Howe",
        "2019-10-06T01:03:00+10:30",
        ["2019-10-06T03:00:00+11:00", "2019-10-06T04:00:00+11:00"],
    ),
    # 02:30 itself exists (the first instant after the gap), so it is a real slot.
    (
        "*/15 * * * *",
        "Australia/Lord_Howe",
        "2019-10-06T01:50:00+10:30",
        ["2019-10-06T02:30:00+11:00", "2019-10-06T02:45:00+11:00", "2019-10-06T03:00:00+11:00"],
    ),
    # Chatham 2024-09-29: 02:45 +12:45 -> 03:45 +13:45; the gap is 02:45-03:44:59.
    (
        "30 2,3 * * *",
        "Pacific/Chatham",
        "2024-09-28T12:00:00+12:45",
        [
            "2024-09-29T02:30:00+12:45",
            "2024-09-29T03:45:00+13:45",
            "2024-09-30T02:30:00+13:45",
            "2024-09-30T03:30:00+13:45",
        ],
    ),
    (
        "*/30 * * * *",
        "Pacific/Chatham",
        "2024-09-29T02:20:00+12:45",
        ["2024-09-29T02:30:00+12:45", "2024-09-29T04:00:00+13:45", "2024-09-29T04:30:00+13:45"],
    ),
    (
        "45 * * * *",
        "Pacific/Chatham",
        "2024-09-29T01:00:00+12:45",
        ["2024-09-29T01:45:00+12:45", "2024-09-29T03:45:00+13:45", "2024-09-29T04:45:00+13:45"],
    ),
    # Santiago 2024-09-08: midnight does not exist, 00:00 -04:00 -> 01:00 -03:00.
    (
        "0 0 * * *",
        "America/Santiago",
        "2024-09-07T12:00:00-04:00",
        ["2024-09-08T01:00:00-03:00", "2024-09-09T00:00:00-03:00"],
    ),
    (
        "0 0,1 * * *",
        "America/Santiago",
        "2024-09-07T12:00:00-04:00",
        ["2024-09-08T01:00:00-03:00", "2024-09-09T00:00:00-03:00", "2024-09-09T01:00:00-03:00"],
    ),
    (
        "0 * * * *",
        "America/Santiago",
        "2024-09-07T22:30:00-04:00",
        ["2024-09-07T23:00:00-04:00", "2024-09-08T01:00:00-03:00", "2024-09-08T02:00:00-03:00"],
    ),
    # Havana 2024-03-10: 00:00 CST -> 01:00 CDT.
    (
        "0 0 * * *",
        "America/Havana",
        "2024-03-09T12:00:00-05:00",
        ["2024-03-10T01:00:00-04:00", "2024-03-11T00:00:00-04:00"],
    ),
    (
        "30 * * * *",
        "America/Havana",
        "2024-03-09T23:00:00-05:00",
        ["2024-03-09T23:30:00-05:00", "2024-03-10T01:30:00-04:00"],
    ),
    # Cairo 2024-04-26: 00:00 EET -> 01:00 EEST.
    (
        "0 0 * * *",
        "Africa/Cairo",
        "2024-04-25T12:00:00+02:00",
        ["2024-04-26T01:00:00+03:00", "2024-04-27T00:00:00+03:00"],
    ),
    (
        "0 * * * *",
        "Africa/Cairo",
        "2024-04-25T22:30:00+02:00",
        ["2024-04-25T23:00:00+02:00", "2024-04-26T01:00:00+03:00", "2024-04-26T02:00:00+03:00"],
    ),
    # Dublin 2024-03-31: 01:00 GMT -> 02:00 IST (tzdata calls IST standard time and GMT
    # the negative-DST time; the rules look at instants, so nothing changes).
    (
        "30 1 * * *",
        "Europe/Dublin",
        "2024-03-30T12:00:00+00:00",
        ["2024-03-31T02:00:00+01:00", "2024-04-01T01:30:00+01:00"],
    ),
    (
        "30 * * * *",
        "Europe/Dublin",
        "2024-03-31T00:00:00+00:00",
        ["2024-03-31T00:30:00+00:00", "2024-03-31T02:30:00+01:00"],
    ),
    # Apia: 2011-12-30 does not exist (2011-12-29 23:59:59 -10:00 -> 2011-12-31 00:00 +14:00).
    # The lost day's 12:00 is a gap time like any other: it fires at the end of the gap.
    (
        "0 12 * * *",
        "Pacific/Apia",
        "2011-12-29T00:00:00-10:00",
        [
            "2011-12-29T12:00:00-10:00",
            "2011-12-31T00:00:00+14:00",
            "2011-12-31T12:00:00+14:00",
            "2012-01-01T12:00:00+14:00",
        ],
    ),
    # The lost midnight merges with the real 12-31 midnight: one fire.
    (
        "0 0 * * *",
        "Pacific/Apia",
        "2011-12-29T00:00:00-10:00",
        ["2011-12-31T00:00:00+14:00", "2012-01-01T00:00:00+14:00"],
    ),
    # Friday 2011-12-30 is lost; its 09:00 fires at the first instant after, a Saturday.
    (
        "0 9 * * 5",
        "Pacific/Apia",
        "2011-12-26T00:00:00-10:00",
        ["2011-12-31T00:00:00+14:00", "2012-01-06T09:00:00+14:00"],
    ),
    (
        "0 * * * *",
        "Pacific/Apia",
        "2011-12-29T22:30:00-10:00",
        ["2011-12-29T23:00:00-10:00", "2011-12-31T00:00:00+14:00", "2011-12-31T01:00:00+14:00"],
    ),
]


@pytest.mark.parametrize(("expression", "zone", "start", "expected"), GAPS, ids=map(row_id, GAPS))
def test_gap(expression: str, zone: str, start: str, expected: list[str]) -> None:
    assert_fires(CronTrigger(expression, timezone=zone), zone, start, expected)


# -- fall-back overlaps, default policy ----------------------------------------------------

OVERLAPS: list[Row] = [
    # New York 2024-11-03: 01:00-01:59:59 happens twice, first EDT (-04:00) then EST.
    (
        "30 1 * * *",
        "America/New_York",
        "2024-11-02T12:00:00-04:00",
        ["2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"],
    ),
    (
        "30 1 * * *",
        "America/New_York",
        "2024-11-03T01:10:00-04:00",
        ["2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"],
    ),
    # First pass, after the fire: the second 01:30 is not a new fire.
    (
        "30 1 * * *",
        "America/New_York",
        "2024-11-03T01:40:00-04:00",
        ["2024-11-04T01:30:00-05:00"],
    ),
    # Second pass, before the repeated 01:30: it already fired in the first pass.
    (
        "30 1 * * *",
        "America/New_York",
        "2024-11-03T01:10:00-05:00",
        ["2024-11-04T01:30:00-05:00"],
    ),
    (
        "0,30 1 * * *",
        "America/New_York",
        "2024-11-03T01:10:00-05:00",
        ["2024-11-04T01:00:00-05:00", "2024-11-04T01:30:00-05:00"],
    ),
    (
        "0 1,2 * * *",
        "America/New_York",
        "2024-11-02T12:00:00-04:00",
        ["2024-11-03T01:00:00-04:00", "2024-11-03T02:00:00-05:00", "2024-11-04T01:00:00-05:00"],
    ),
    # Cadences fire in both passes.
    (
        "*/20 * * * *",
        "America/New_York",
        "2024-11-03T00:50:00-04:00",
        [
            "2024-11-03T01:00:00-04:00",
            "2024-11-03T01:20:00-04:00",
            "2024-11-03T01:40:00-04:00",
            "2024-11-03T01:00:00-05:00",
            "2024-11-03T01:20:00-05:00",
            "2024-11-03T01:40:00-05:00",
            "2024-11-03T02:00:00-05:00",
        ],
    ),
    # A start late in the first pass: the next slot is the wall clock's repeat of 01:00.
    (
        "*/20 * * * *",
        "America/New_York",
        "2024-11-03T01:41:00-04:00",
        [
            "2024-11-03T01:00:00-05:00",
            "2024-11-03T01:20:00-05:00",
            "2024-11-03T01:40:00-05:00",
            "2024-11-03T02:00:00-05:00",
        ],
    ),
    (
        "*/20 * * * *",
        "America/New_York",
        "2024-11-03T01:10:00-05:00",
        ["2024-11-03T01:20:00-05:00", "2024-11-03T01:40:00-05:00", "2024-11-03T02:00:00-05:00"],
    ),
    (
        "0 * * * *",
        "America/New_York",
        "2024-11-03T00:30:00-04:00",
        ["2024-11-03T01:00:00-04:00", "2024-11-03T01:00:00-05:00", "2024-11-03T02:00:00-05:00"],
    ),
    # Same hour set, same meaning: both spellings are cadences (Debian would differ).
    (
        "* * * * *",
        "America/New_York",
        "2024-11-03T01:58:00-04:00",
        ["2024-11-03T01:59:00-04:00", "2024-11-03T01:00:00-05:00", "2024-11-03T01:01:00-05:00"],
    ),
    (
        "0-59 0-23 * * *",
        "America/New_York",
        "2024-11-03T01:58:00-04:00",
        ["2024-11-03T01:59:00-04:00", "2024-11-03T01:00:00-05:00", "2024-11-03T01:01:00-05:00"],
    ),
    # Berlin 2024-10-27: 02:00-02:59:59 twice, +02:00 then +01:00.
    (
        "30 2 * * *",
        "Europe/Berlin",
        "2024-10-26T12:00:00+02:00",
        ["2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00"],
    ),
    (
        "30 * * * *",
        "Europe/Berlin",
        "2024-10-27T01:45:00+02:00",
        ["2024-10-27T02:30:00+02:00", "2024-10-27T02:30:00+01:00", "2024-10-27T03:30:00+01:00"],
    ),
    # Lord Howe 2020-04-05: a 30-minute overlap, 01:30-01:59:59 at +11:00 then +10:30.
    (
        "45 1 * * *",
        "Australia/Lord_Howe",
        "2020-04-04T12:00:00+11:00",
        ["2020-04-05T01:45:00+11:00", "2020-04-06T01:45:00+10:30"],
    ),
    (
        "45 1 * * *",
        "Australia/Lord_Howe",
        "2020-04-05T01:35:00+10:30",
        ["2020-04-06T01:45:00+10:30"],
    ),
    (
        "*/30 * * * *",
        "Australia/Lord_Howe",
        "2020-04-05T01:00:00+11:00",
        ["2020-04-05T01:30:00+11:00", "2020-04-05T01:30:00+10:30", "2020-04-05T02:00:00+10:30"],
    ),
    # Chatham 2024-04-07: 02:45-03:44:59 twice, +13:45 then +12:45.
    (
        "0 3 * * *",
        "Pacific/Chatham",
        "2024-04-06T12:00:00+13:45",
        ["2024-04-07T03:00:00+13:45", "2024-04-08T03:00:00+12:45"],
    ),
    (
        "0 * * * *",
        "Pacific/Chatham",
        "2024-04-07T02:30:00+13:45",
        ["2024-04-07T03:00:00+13:45", "2024-04-07T03:00:00+12:45", "2024-04-07T04:00:00+12:45"],
    ),
    # Santiago 2024-04-06: 23:00-23:59:59 twice, -03:00 then -04:00 (the day ends twice).
    (
        "30 23 * * *",
        "America/Santiago",
        "2024-04-06T12:00:00-03:00",
        ["2024-04-06T23:30:00-03:00", "2024-04-07T23:30:00-04:00"],
    ),
    (
        "30 23 * * *",
        "America/Santiago",
        "2024-04-06T23:10:00-04:00",
        ["2024-04-07T23:30:00-04:00"],
    ),
    (
        "0 0 * * *",
        "America/Santiago",
        "2024-04-06T12:00:00-03:00",
        ["2024-04-07T00:00:00-04:00"],
    ),
    (
        "0 * * * *",
        "America/Santiago",
        "2024-04-06T22:30:00-03:00",
        ["2024-04-06T23:00:00-03:00", "2024-04-06T23:00:00-04:00", "2024-04-07T00:00:00-04:00"],
    ),
    # Havana 2024-11-03: 00:00-00:59:59 twice, CDT then CST.
    (
        "0 0 * * *",
        "America/Havana",
        "2024-11-02T12:00:00-04:00",
        ["2024-11-03T00:00:00-04:00", "2024-11-04T00:00:00-05:00"],
    ),
    (
        "*/30 * * * *",
        "America/Havana",
        "2024-11-02T23:45:00-04:00",
        [
            "2024-11-03T00:00:00-04:00",
            "2024-11-03T00:30:00-04:00",
            "2024-11-03T00:00:00-05:00",
            "2024-11-03T00:30:00-05:00",
            "2024-11-03T01:00:00-05:00",
        ],
    ),
    # Cairo 2024-10-31: 23:00-23:59:59 twice, +03:00 then +02:00.
    (
        "30 23 * * *",
        "Africa/Cairo",
        "2024-10-31T12:00:00+03:00",
        ["2024-10-31T23:30:00+03:00", "2024-11-01T23:30:00+02:00"],
    ),
    (
        "30 * * * *",
        "Africa/Cairo",
        "2024-10-31T22:45:00+03:00",
        ["2024-10-31T23:30:00+03:00", "2024-10-31T23:30:00+02:00", "2024-11-01T00:30:00+02:00"],
    ),
    # Dublin 2024-10-27: 01:00-01:59:59 twice, +01:00 then +00:00. In tzdata the first
    # pass is standard time and the second has is_dst set (negative DST): ordering by
    # is_dst would pick the later instant. FIRST means the earlier instant, +01:00.
    (
        "30 1 * * *",
        "Europe/Dublin",
        "2024-10-26T12:00:00+01:00",
        ["2024-10-27T01:30:00+01:00", "2024-10-28T01:30:00+00:00"],
    ),
    (
        "30 1 * * *",
        "Europe/Dublin",
        "2024-10-27T01:10:00+00:00",
        ["2024-10-28T01:30:00+00:00"],
    ),
    (
        "30 * * * *",
        "Europe/Dublin",
        "2024-10-27T00:45:00+01:00",
        ["2024-10-27T01:30:00+01:00", "2024-10-27T01:30:00+00:00", "2024-10-27T02:30:00+00:00"],
    ),
]


@pytest.mark.parametrize(
    ("expression", "zone", "start", "expected"), OVERLAPS, ids=map(row_id, OVERLAPS)
)
def test_overlap(expression: str, zone: str, start: str, expected: list[str]) -> None:
    assert_fires(CronTrigger(expression, timezone=zone), zone, start, expected)


# -- explicit policies, on anchored and cadence schedules ----------------------------------

SKIP = {"dst_gap": "skip"}
SHIFT = {"dst_gap": "shift"}
FIRST = {"dst_overlap": "first"}
BOTH = {"dst_overlap": "both"}
LAST = {"dst_overlap": "last"}

OVERRIDES: list[OverrideRow] = [
    # skip on anchored schedules: the gap time is simply lost.
    (
        "30 2 * * *",
        "America/New_York",
        SKIP,
        "2024-03-09T12:00:00-05:00",
        ["2024-03-11T02:30:00-04:00", "2024-03-12T02:30:00-04:00"],
    ),
    (
        "0 2,3 * * *",
        "America/New_York",
        SKIP,
        "2024-03-09T12:00:00-05:00",
        ["2024-03-10T03:00:00-04:00", "2024-03-11T02:00:00-04:00"],
    ),
    (
        "0 0 * * *",
        "America/Santiago",
        SKIP,
        "2024-09-07T12:00:00-04:00",
        ["2024-09-09T00:00:00-03:00"],
    ),
    (
        "0 12 * * *",
        "Pacific/Apia",
        SKIP,
        "2011-12-29T00:00:00-10:00",
        ["2011-12-29T12:00:00-10:00", "2011-12-31T12:00:00+14:00"],
    ),
    # shift on cadences: the gap slots fire once, at the end of the gap.
    (
        "15 * * * *",
        "America/New_York",
        SHIFT,
        "2024-03-10T01:00:00-05:00",
        ["2024-03-10T01:15:00-05:00", "2024-03-10T03:00:00-04:00", "2024-03-10T03:15:00-04:00"],
    ),
    (
        "*/30 * * * *",
        "America/New_York",
        SHIFT,
        "2024-03-10T01:00:00-05:00",
        ["2024-03-10T01:30:00-05:00", "2024-03-10T03:00:00-04:00", "2024-03-10T03:30:00-04:00"],
    ),
    (
        "0 * * * *",
        "Australia/Lord_Howe",
        SHIFT,
        "2019-10-06T01:03:00+10:30",
        ["2019-10-06T02:30:00+11:00", "2019-10-06T03:00:00+11:00"],
    ),
    (
        "*/30 * * * *",
        "Pacific/Chatham",
        SHIFT,
        "2024-09-29T02:20:00+12:45",
        ["2024-09-29T02:30:00+12:45", "2024-09-29T03:45:00+13:45", "2024-09-29T04:00:00+13:45"],
    ),
    # last on anchored schedules: once, at the later instant.
    (
        "30 1 * * *",
        "America/New_York",
        LAST,
        "2024-11-02T12:00:00-04:00",
        ["2024-11-03T01:30:00-05:00", "2024-11-04T01:30:00-05:00"],
    ),
    (
        "30 1 * * *",
        "America/New_York",
        LAST,
        "2024-11-03T01:40:00-04:00",
        ["2024-11-03T01:30:00-05:00", "2024-11-04T01:30:00-05:00"],
    ),
    (
        "30 2 * * *",
        "Europe/Berlin",
        LAST,
        "2024-10-26T12:00:00+02:00",
        ["2024-10-27T02:30:00+01:00", "2024-10-28T02:30:00+01:00"],
    ),
    (
        "30 1 * * *",
        "Europe/Dublin",
        LAST,
        "2024-10-26T12:00:00+01:00",
        ["2024-10-27T01:30:00+00:00", "2024-10-28T01:30:00+00:00"],
    ),
    (
        "30 23 * * *",
        "America/Santiago",
        LAST,
        "2024-04-06T12:00:00-03:00",
        ["2024-04-06T23:30:00-04:00", "2024-04-07T23:30:00-04:00"],
    ),
    # both on anchored schedules: once in each pass.
    (
        "30 1 * * *",
        "America/New_York",
        BOTH,
        "2024-11-02T12:00:00-04:00",
        ["2024-11-03T01:30:00-04:00", "2024-11-03T01:30:00-05:00", "2024-11-04T01:30:00-05:00"],
    ),
    (
        "30 1 * * *",
        "America/New_York",
        BOTH,
        "2024-11-03T01:40:00-04:00",
        ["2024-11-03T01:30:00-05:00", "2024-11-04T01:30:00-05:00"],
    ),
    (
        "45 1 * * *",
        "Australia/Lord_Howe",
        BOTH,
        "2020-04-04T12:00:00+11:00",
        ["2020-04-05T01:45:00+11:00", "2020-04-05T01:45:00+10:30", "2020-04-06T01:45:00+10:30"],
    ),
    (
        "30 23 * * *",
        "Africa/Cairo",
        BOTH,
        "2024-10-31T12:00:00+03:00",
        ["2024-10-31T23:30:00+03:00", "2024-10-31T23:30:00+02:00", "2024-11-01T23:30:00+02:00"],
    ),
    # first and last on cadences.
    (
        "*/20 * * * *",
        "America/New_York",
        FIRST,
        "2024-11-03T00:50:00-04:00",
        [
            "2024-11-03T01:00:00-04:00",
            "2024-11-03T01:20:00-04:00",
            "2024-11-03T01:40:00-04:00",
            "2024-11-03T02:00:00-05:00",
        ],
    ),
    (
        "*/20 * * * *",
        "America/New_York",
        FIRST,
        "2024-11-03T01:10:00-05:00",
        ["2024-11-03T02:00:00-05:00"],
    ),
    (
        "*/20 * * * *",
        "America/New_York",
        LAST,
        "2024-11-03T00:50:00-04:00",
        [
            "2024-11-03T01:00:00-05:00",
            "2024-11-03T01:20:00-05:00",
            "2024-11-03T01:40:00-05:00",
            "2024-11-03T02:00:00-05:00",
        ],
    ),
    (
        "0 * * * *",
        "America/Havana",
        FIRST,
        "2024-11-02T23:30:00-04:00",
        ["2024-11-03T00:00:00-04:00", "2024-11-03T01:00:00-05:00"],
    ),
]


@pytest.mark.parametrize(
    ("expression", "zone", "overrides", "start", "expected"),
    OVERRIDES,
    ids=map(row_id, OVERRIDES),
)
def test_override(
    expression: str, zone: str, overrides: dict[str, Any], start: str, expected: list[str]
) -> None:
    assert_fires(CronTrigger(expression, timezone=zone, **overrides), zone, start, expected)


# -- six fields, seconds first -------------------------------------------------------------

SECONDS: list[Row] = [
    # Hour set {2}: anchored, the three 02:30:xx gap times merge into one fire at 03:00.
    (
        "*/20 30 2 * * *",
        "America/New_York",
        "2024-03-10T00:00:00-05:00",
        ["2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00", "2024-03-11T02:30:20-04:00"],
    ),
    (
        "*/30 * * * * *",
        "America/New_York",
        "2024-03-10T01:59:00-05:00",
        ["2024-03-10T01:59:30-05:00", "2024-03-10T03:00:00-04:00", "2024-03-10T03:00:30-04:00"],
    ),
    (
        "30 30 2 * * *",
        "Europe/Berlin",
        "2024-03-30T12:00:00+01:00",
        ["2024-03-31T03:00:00+02:00", "2024-04-01T02:30:30+02:00"],
    ),
    (
        "15 15 2 * * *",
        "Australia/Lord_Howe",
        "2019-10-05T12:00:00+10:30",
        ["2019-10-06T02:30:00+11:00", "2019-10-07T02:15:15+11:00"],
    ),
    (
        "0 0 0 * * *",
        "America/Santiago",
        "2024-09-07T12:00:00-04:00",
        ["2024-09-08T01:00:00-03:00", "2024-09-09T00:00:00-03:00"],
    ),
    (
        "0 30 1 * * *",
        "America/New_York",
        "2024-11-02T12:00:00-04:00",
        ["2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"],
    ),
    (
        "*/30 59 * * * *",
        "America/New_York",
        "2024-11-03T01:58:00-04:00",
        [
            "2024-11-03T01:59:00-04:00",
            "2024-11-03T01:59:30-04:00",
            "2024-11-03T01:59:00-05:00",
            "2024-11-03T01:59:30-05:00",
            "2024-11-03T02:59:00-05:00",
        ],
    ),
]


@pytest.mark.parametrize(
    ("expression", "zone", "start", "expected"), SECONDS, ids=map(row_id, SECONDS)
)
def test_seconds(expression: str, zone: str, start: str, expected: list[str]) -> None:
    assert_fires(CronTrigger(expression, timezone=zone), zone, start, expected)


def test_full_range_spelling_is_the_same_cadence_as_star() -> None:
    # Across the whole New York fall-back night, minute by minute.
    start = datetime.fromisoformat("2024-11-02T23:00:00-04:00")
    spelled = CronTrigger("0-59 0-23 * * *", timezone="America/New_York")
    star = CronTrigger("* * * * *", timezone="America/New_York")
    assert spelled.is_cadence
    ours = spelled.next_times(start, 300)
    theirs = star.next_times(start, 300)
    assert [t.isoformat() for t in ours] == [t.isoformat() for t in theirs]
    # Five real hours (23:00 EDT to 03:00 EST) hold 300 minutes, every one a fire.
    assert [t.timestamp() for t in ours] == [start.timestamp() + 60 * k for k in range(1, 301)]


# -- the calendar: leap years, short months, L, W and # ------------------------------------

UTC_ROWS: list[Row] = [
    ("0 0 29 2 *", "UTC", "2024-03-01T00:00:00+00:00", ["2028-02-29T00:00:00+00:00"]),
    # 2100 is not a leap year (divisible by 100, not by 400); 2000 is.
    ("0 0 29 2 *", "UTC", "2100-01-01T00:00:00+00:00", ["2104-02-29T00:00:00+00:00"]),
    ("0 0 29 2 *", "UTC", "2096-03-01T00:00:00+00:00", ["2104-02-29T00:00:00+00:00"]),
    ("0 0 29 2 *", "UTC", "1999-06-01T00:00:00+00:00", ["2000-02-29T00:00:00+00:00"]),
    # No 31st in April, June, September, November (nor February).
    (
        "0 0 31 * *",
        "UTC",
        "2024-03-01T00:00:00+00:00",
        [
            "2024-03-31T00:00:00+00:00",
            "2024-05-31T00:00:00+00:00",
            "2024-07-31T00:00:00+00:00",
            "2024-08-31T00:00:00+00:00",
            "2024-10-31T00:00:00+00:00",
            "2024-12-31T00:00:00+00:00",
            "2025-01-31T00:00:00+00:00",
        ],
    ),
    # A fifth Friday only in March, May, August and November of 2024.
    (
        "0 0 * * 5#5",
        "UTC",
        "2024-01-01T00:00:00+00:00",
        [
            "2024-03-29T00:00:00+00:00",
            "2024-05-31T00:00:00+00:00",
            "2024-08-30T00:00:00+00:00",
            "2024-11-29T00:00:00+00:00",
        ],
    ),
    (
        "0 0 L * *",
        "UTC",
        "2024-01-15T00:00:00+00:00",
        [
            "2024-01-31T00:00:00+00:00",
            "2024-02-29T00:00:00+00:00",
            "2024-03-31T00:00:00+00:00",
            "2024-04-30T00:00:00+00:00",
        ],
    ),
    (
        "0 0 L * *",
        "UTC",
        "2023-01-31T00:00:00+00:00",
        ["2023-02-28T00:00:00+00:00", "2023-03-31T00:00:00+00:00"],
    ),
    (
        "0 0 L-3 * *",
        "UTC",
        "2024-01-01T00:00:00+00:00",
        [
            "2024-01-28T00:00:00+00:00",
            "2024-02-26T00:00:00+00:00",
            "2024-03-28T00:00:00+00:00",
            "2024-04-27T00:00:00+00:00",
        ],
    ),
    ("0 0 L-3 * *", "UTC", "2023-02-01T00:00:00+00:00", ["2023-02-25T00:00:00+00:00"]),
    # 15W: Saturday 2024-06-15 -> Friday 14th; Sunday 2024-09-15 -> Monday 16th.
    (
        "0 0 15W * *",
        "UTC",
        "2024-05-20T00:00:00+00:00",
        [
            "2024-06-14T00:00:00+00:00",
            "2024-07-15T00:00:00+00:00",
            "2024-08-15T00:00:00+00:00",
            "2024-09-16T00:00:00+00:00",
            "2024-10-15T00:00:00+00:00",
        ],
    ),
    # 1W never leaves the month: Saturday 2024-06-01 -> Monday 3rd (not Friday May 31);
    # Sunday 2024-09-01 -> Monday 2nd.
    (
        "0 0 1W * *",
        "UTC",
        "2024-05-15T00:00:00+00:00",
        [
            "2024-06-03T00:00:00+00:00",
            "2024-07-01T00:00:00+00:00",
            "2024-08-01T00:00:00+00:00",
            "2024-09-02T00:00:00+00:00",
        ],
    ),
    # 31W (our decision, as Quartz): Sunday 2024-03-31 -> Friday 29th (not Monday April 1),
    # Saturday 2024-08-31 -> Friday 30th; a month without a 31st has no 31W, like plain 31.
    (
        "0 0 31W * *",
        "UTC",
        "2024-01-01T00:00:00+00:00",
        [
            "2024-01-31T00:00:00+00:00",
            "2024-03-29T00:00:00+00:00",
            "2024-05-31T00:00:00+00:00",
            "2024-07-31T00:00:00+00:00",
            "2024-08-30T00:00:00+00:00",
            "2024-10-31T00:00:00+00:00",
            "2024-12-31T00:00:00+00:00",
        ],
    ),
    # LW: the last weekday of the month.
    (
        "0 0 LW * *",
        "UTC",
        "2024-01-01T00:00:00+00:00",
        [
            "2024-01-31T00:00:00+00:00",
            "2024-02-29T00:00:00+00:00",
            "2024-03-29T00:00:00+00:00",
            "2024-04-30T00:00:00+00:00",
            "2024-05-31T00:00:00+00:00",
            "2024-06-28T00:00:00+00:00",
            "2024-07-31T00:00:00+00:00",
            "2024-08-30T00:00:00+00:00",
        ],
    ),
    # 5L: the last Friday of the month.
    (
        "0 0 * * 5L",
        "UTC",
        "2024-01-01T00:00:00+00:00",
        [
            "2024-01-26T00:00:00+00:00",
            "2024-02-23T00:00:00+00:00",
            "2024-03-29T00:00:00+00:00",
            "2024-04-26T00:00:00+00:00",
            "2024-05-31T00:00:00+00:00",
        ],
    ),
    # Neither day field starts with '*': a day matching either fires (1st, 15th, Mondays).
    (
        "0 0 1,15 * 1",
        "UTC",
        "2024-01-01T00:00:00+00:00",
        [
            "2024-01-08T00:00:00+00:00",
            "2024-01-15T00:00:00+00:00",
            "2024-01-22T00:00:00+00:00",
            "2024-01-29T00:00:00+00:00",
            "2024-02-01T00:00:00+00:00",
            "2024-02-05T00:00:00+00:00",
            "2024-02-12T00:00:00+00:00",
            "2024-02-15T00:00:00+00:00",
            "2024-02-19T00:00:00+00:00",
        ],
    ),
    # '*/2' starts with '*': a day must match both (odd days that are Mondays).
    (
        "0 0 */2 * 1",
        "UTC",
        "2024-01-01T00:00:00+00:00",
        [
            "2024-01-15T00:00:00+00:00",
            "2024-01-29T00:00:00+00:00",
            "2024-02-05T00:00:00+00:00",
            "2024-02-19T00:00:00+00:00",
            "2024-03-11T00:00:00+00:00",
            "2024-03-25T00:00:00+00:00",
        ],
    ),
    (
        "0 0 ? * 1",
        "UTC",
        "2024-01-01T00:00:00+00:00",
        [
            "2024-01-08T00:00:00+00:00",
            "2024-01-15T00:00:00+00:00",
            "2024-01-22T00:00:00+00:00",
            "2024-01-29T00:00:00+00:00",
            "2024-02-05T00:00:00+00:00",
        ],
    ),
    # '1-31' does not start with '*': either field matches, so every day fires (as Debian).
    (
        "0 0 1-31 * 1",
        "UTC",
        "2024-01-01T00:00:00+00:00",
        ["2024-01-02T00:00:00+00:00", "2024-01-03T00:00:00+00:00", "2024-01-04T00:00:00+00:00"],
    ),
]


@pytest.mark.parametrize(
    ("expression", "zone", "start", "expected"), UTC_ROWS, ids=map(row_id, UTC_ROWS)
)
def test_calendar(expression: str, zone: str, start: str, expected: list[str]) -> None:
    assert_fires(CronTrigger(expression, timezone=zone), zone, start, expected)
