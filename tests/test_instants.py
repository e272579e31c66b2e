"""Instants as microseconds since the epoch (``tickwork._instants``), defined once."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tickwork import _instants, _planning, _tz
from tickwork._instants import EPOCH, US, epoch_us

NEW_YORK = ZoneInfo("America/New_York")
SRC = Path(__file__).resolve().parent.parent / "src" / "tickwork"


def test_the_constants() -> None:
    assert datetime(1970, 1, 1, tzinfo=timezone.utc) == EPOCH
    assert EPOCH.utcoffset() == timedelta(0)
    assert timedelta(microseconds=1) == US


@pytest.mark.parametrize(
    ("moment", "micros"),
    [
        (datetime(1970, 1, 1, tzinfo=timezone.utc), 0),
        (datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=timezone.utc), 1),
        (datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=timezone.utc), -1),
        (datetime(1970, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))), 0),
        (datetime(2024, 1, 1, 12, tzinfo=timezone.utc), 1_704_110_400_000_000),
        (datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=timezone.utc), 253_402_300_799_999_999),
    ],
)
def test_epoch_us_counts_exact_microseconds(moment: datetime, micros: int) -> None:
    assert epoch_us(moment) == micros
    assert EPOCH + micros * US == moment


def test_epoch_us_tells_apart_the_two_times_a_wall_clock_shows_twice() -> None:
    # 2024-11-03 01:30 happens twice in New York: EDT (fold=0), then EST (fold=1).
    first = datetime(2024, 11, 3, 1, 30, tzinfo=NEW_YORK)
    second = first.replace(fold=1)
    assert first == second  # Python compares wall times within one zone
    assert epoch_us(second) - epoch_us(first) == 3600 * 1_000_000


def test_a_naive_datetime_names_no_instant() -> None:
    with pytest.raises(TypeError):
        epoch_us(datetime(2024, 1, 1))


def test_the_old_homes_of_epoch_us_offer_the_same_function() -> None:
    assert _tz.epoch_us is _instants.epoch_us
    assert _planning.epoch_us is _instants.epoch_us


def test_the_epoch_and_the_microsecond_are_defined_once() -> None:
    # A module constant for either, anywhere but _instants, is the duplicate to avoid.
    written = re.compile(
        r"^_?[A-Za-z]\w* = (datetime\(1970, 1, 1, tzinfo=|timedelta\(microseconds=1\))",
        re.MULTILINE,
    )
    found = [
        str(path.relative_to(SRC))
        for path in sorted(SRC.rglob("*.py"))
        if written.search(path.read_text(encoding="utf-8"))
    ]
    assert found == ["_instants.py"]
