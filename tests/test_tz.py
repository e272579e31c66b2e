"""Timezone coercion and local-zone discovery."""

from __future__ import annotations

import contextlib
import re
import warnings
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest

from tickwork import LocalTimezoneWarning, UnknownTimezone, _tz
from tickwork.triggers._walltime import at_wall


@pytest.mark.parametrize(
    ("given", "name"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        ("UTC", "UTC"),
        ("utc", "UTC"),
        ("+05:30", "+05:30"),
        ("UTC-08:00", "-08:00"),
        ("-0330", "-03:30"),
        (ZoneInfo("Asia/Tokyo"), "Asia/Tokyo"),
        (timezone.utc, "UTC"),
        (timezone(timedelta(hours=-5)), "-05:00"),
    ],
)
def test_coerce_and_name_round_trip(given: str | tzinfo, name: str) -> None:
    zone = _tz.coerce_timezone(given)
    assert _tz.timezone_name(zone) == name
    again = _tz.coerce_timezone(name)
    moment = datetime(2024, 7, 1, tzinfo=timezone.utc)
    assert moment.astimezone(again).utcoffset() == moment.astimezone(zone).utcoffset()


@pytest.mark.parametrize("bad", ["Mars/Base", "", "+25:00", "Europe/"])
def test_unknown_names_are_lookup_errors(bad: str) -> None:
    with pytest.raises(UnknownTimezone) as caught:
        _tz.coerce_timezone(bad)
    assert isinstance(caught.value, LookupError)
    assert repr(bad) in str(caught.value)


@pytest.mark.parametrize(
    ("bad", "hint"),
    [
        ("europe/berlin", "did you mean 'Europe/Berlin'? (zone names are case-sensitive)"),
        ("Europe/Berln", "did you mean 'Europe/Berlin'"),
        ("Mars/Base", None),
    ],
)
def test_an_unknown_name_close_to_a_zone_suggests_it(bad: str, hint: str | None) -> None:
    # "utc" is taken, "europe/berlin" was refused without a word of what was meant.
    with pytest.raises(UnknownTimezone) as caught:
        _tz.coerce_timezone(bad)
    if hint is None:
        assert "did you mean" not in str(caught.value)
    else:
        assert hint in str(caught.value)


def test_non_zones_are_type_errors() -> None:
    with pytest.raises(TypeError, match="got int"):
        _tz.coerce_timezone(5)  # type: ignore[arg-type]

    class Odd(tzinfo):
        def utcoffset(self, dt: datetime | None) -> timedelta:
            return timedelta(0)

    with pytest.raises(TypeError, match="Odd zones are not supported"):
        _tz.coerce_timezone(Odd())


def test_pytz_style_zones_are_converted() -> None:
    class FakePytz(tzinfo):
        zone = "America/Chicago"

        def utcoffset(self, dt: datetime | None) -> timedelta:
            return timedelta(hours=-6)

    assert _tz.coerce_timezone(FakePytz()) == ZoneInfo("America/Chicago")


def test_require_aware() -> None:
    aware = datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert _tz.require_aware(aware, "x") is aware
    with pytest.raises(TypeError, match="when must be an aware datetime"):
        _tz.require_aware(datetime(2024, 1, 1), "when")
    with pytest.raises(TypeError, match="got str"):
        _tz.require_aware("2024-01-01", "when")


def test_aware_us_counts_microseconds_and_refuses_what_is_not_an_instant() -> None:
    class Stamp(datetime):  # a datetime subclass (pandas' Timestamp is one) still counts
        pass

    aware = datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=timezone(timedelta(hours=1)))
    assert _tz.aware_us(aware, "x") == 1_000_005 - 3_600_000_000
    assert _tz.aware_us(Stamp(1970, 1, 1, 0, 0, 2, tzinfo=timezone.utc), "x") == 2_000_000
    # The checks run only when the fast path fails, with require_aware's own messages.
    with pytest.raises(TypeError, match="when must be an aware datetime"):
        _tz.aware_us(datetime(2024, 1, 1), "when")
    with pytest.raises(TypeError, match="when must be an aware datetime"):
        _tz.aware_us(Stamp(2024, 1, 1), "when")
    with pytest.raises(TypeError, match="got str"):
        _tz.aware_us("2024-01-01", "when")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tz_env", "expected"),
    [
        ("Europe/Paris", "Europe/Paris"),
        (":America/Denver", "America/Denver"),
        ("/usr/share/zoneinfo/Asia/Seoul", "Asia/Seoul"),
        (":/usr/share/zoneinfo/posix/Africa/Cairo", "Africa/Cairo"),
    ],
)
def test_local_zone_from_tz_variable(
    monkeypatch: pytest.MonkeyPatch, tz_env: str, expected: str
) -> None:
    monkeypatch.setenv("TZ", tz_env)
    assert _tz.timezone_name(_tz.local_timezone()) == expected


def test_local_zone_falls_back_to_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TZ", raising=False)
    monkeypatch.setattr(_tz, "_local_zone_candidates", lambda env: ["Not/AZone", "Europe/Oslo"])
    _tz._local_timezone.cache_clear()
    try:
        assert _tz.timezone_name(_tz.local_timezone()) == "Europe/Oslo"
    finally:
        _tz._local_timezone.cache_clear()


def test_unknown_local_zone_warns_and_uses_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TZ", raising=False)
    monkeypatch.setattr(_tz, "_local_zone_candidates", lambda env: [])
    _tz._local_timezone.cache_clear()
    try:
        with pytest.warns(LocalTimezoneWarning, match="using UTC"):
            zone = _tz.local_timezone()
        assert _tz.timezone_name(zone) == "UTC"
    finally:
        _tz._local_timezone.cache_clear()


def test_the_warning_names_the_users_line_not_tickworks(monkeypatch: pytest.MonkeyPatch) -> None:
    # It named tickwork/_machine.py: `python -W error` and warning filters by module
    # need the line that made the scheduler.
    from tickwork import Scheduler

    monkeypatch.setenv("TZ", "JST-9")
    monkeypatch.setattr(_tz, "_local_zone_candidates", lambda env: ["Europe/Oslo"])
    _tz._local_timezone.cache_clear()
    try:
        with pytest.warns(LocalTimezoneWarning) as caught:
            Scheduler().shutdown()
        assert caught[0].filename == __file__
    finally:
        _tz._local_timezone.cache_clear()


@pytest.mark.parametrize(
    "tz_env", ["JST-9", "EST5EDT,M3.2.0,M11.1.0", "GMT+5", "UTC+3", "-05:00", "Europe/Berln"]
)
def test_a_tz_that_names_no_zone_warns_and_says_which_zone_is_used(
    monkeypatch: pytest.MonkeyPatch, tz_env: str
) -> None:
    # The C library reads a POSIX rule and gives the process's clock that zone: the one
    # used here from the system's files differs from it, and no one would know.
    monkeypatch.setenv("TZ", tz_env)
    offered = _tz._local_zone_candidates  # (TZ's if it offers it, then Europe/Oslo)
    monkeypatch.setattr(
        _tz,
        "_local_zone_candidates",
        lambda env: [zone for zone in offered(env) if zone == env] + ["Europe/Oslo"],
    )
    _tz._local_timezone.cache_clear()
    try:
        with pytest.warns(LocalTimezoneWarning, match=rf"TZ='{re.escape(tz_env)}' names no"):
            zone = _tz.local_timezone()
        assert _tz.timezone_name(zone) == "Europe/Oslo"
    finally:
        _tz._local_timezone.cache_clear()


@pytest.mark.parametrize(
    ("name", "ahead"), [("GMT+5", "'+5' or '-5'"), ("GMT-08:00", "'-08:00' or '+08:00'")]
)
def test_a_gmt_offset_is_refused_as_ambiguous(name: str, ahead: str) -> None:
    # POSIX and IANA's Etc/GMT+5 is UTC-05:00; "GMT+5" in a UI usually means UTC+05:00.
    with pytest.raises(
        UnknownTimezone, match=rf"{re.escape(name)}' is ambiguous.*{re.escape(ahead)}"
    ):
        _tz.coerce_timezone(name)
    assert _tz.coerce_timezone("UTC+5") == timezone(timedelta(hours=5))
    for zero in ("GMT+0", "GMT-0", "GMT+00:00"):  # (IANA names too: no ambiguity)
        assert _tz.coerce_timezone(zero).utcoffset(None) == timedelta(0)
    assert _tz.coerce_timezone("Etc/GMT+5").utcoffset(None) == timedelta(hours=-5)  # type: ignore[union-attr]


def test_localtime_is_stored_as_the_zone_it_names_here(monkeypatch: pytest.MonkeyPatch) -> None:
    # tzdata's "localtime" alias means whatever zone a host has: a trigger saved under it
    # and loaded on another host would fire by that host's zone.
    monkeypatch.setenv("TZ", "Europe/Oslo")
    assert _tz.timezone_name(_tz.coerce_timezone("localtime")) == "Europe/Oslo"
    with contextlib.suppress(ZoneInfoNotFoundError):  # (a system with no such alias)
        assert _tz.timezone_name(_tz.coerce_timezone(ZoneInfo("localtime"))) == "Europe/Oslo"
    monkeypatch.setenv("TZ", "localtime")  # (the system's zone: no warning)
    monkeypatch.setattr(_tz, "_local_zone_candidates", lambda env: ["Asia/Tokyo"])
    _tz._local_timezone.cache_clear()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert _tz.timezone_name(_tz.local_timezone()) == "Asia/Tokyo"
    finally:
        _tz._local_timezone.cache_clear()


def test_key_from_path() -> None:
    assert _tz._key_from_path("/usr/share/zoneinfo/right/Europe/Rome") == "Europe/Rome"
    assert _tz._key_from_path("/etc/localtime") is None
    assert _tz._key_from_path("/usr/share/zoneinfo/") is None


def test_no_warning_when_zone_is_known(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _tz.local_timezone()


def test_an_offset_with_seconds_is_named_and_read_back_exactly() -> None:
    # It was named to the minute: the trigger read back from its dict fired 30 s off
    # (and still compared equal).
    from tickwork import CronTrigger
    from tickwork.triggers import trigger_from_dict

    zone = timezone(timedelta(minutes=5, seconds=30))
    trigger = CronTrigger("0 9 * * *", timezone=zone)
    assert trigger.to_dict()["timezone"] == "+00:05:30"
    again = trigger_from_dict(trigger.to_dict())
    moment = datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert again.next_after(moment) == trigger.next_after(moment)
    assert again.next_after(moment) == datetime(2024, 1, 1, 8, 54, 30, tzinfo=timezone.utc)
    west = CronTrigger("0 9 * * *", timezone="-03:30")
    assert west.to_dict()["timezone"] == "-03:30"
    for wrong in ("+05:30:75", "+05:61", "+05::30"):
        with pytest.raises(UnknownTimezone):
            CronTrigger("0 9 * * *", timezone=wrong)


@pytest.mark.parametrize(
    ("zone", "wall", "expected"),
    [
        # A gap time is the first instant after the gap, never "wall plus the gap".
        ("America/New_York", datetime(2024, 3, 10, 2, 30), "2024-03-10T03:00:00-04:00"),
        ("Australia/Lord_Howe", datetime(2024, 10, 6, 2, 15), "2024-10-06T02:30:00+11:00"),
        ("Pacific/Apia", datetime(2011, 12, 30, 12, 0), "2011-12-31T00:00:00+14:00"),
        ("Europe/Dublin", datetime(2024, 3, 31, 1, 30), "2024-03-31T02:00:00+01:00"),
        # An overlap time is its first occurrence; a plain time is itself.
        ("America/New_York", datetime(2024, 11, 3, 1, 30), "2024-11-03T01:30:00-04:00"),
        ("Europe/London", datetime(2024, 6, 1, 9, 0), "2024-06-01T09:00:00+01:00"),
    ],
)
def test_a_wall_time_is_read_in_its_zone_by_the_gap_and_overlap_rules(
    zone: str, wall: datetime, expected: str
) -> None:
    assert at_wall(wall, ZoneInfo(zone)).isoformat() == expected


def test_a_wall_time_with_fold_1_in_an_overlap_is_its_second_pass() -> None:
    new_york = ZoneInfo("America/New_York")
    second = at_wall(datetime(2024, 11, 3, 1, 30, fold=1), new_york)
    assert second.isoformat() == "2024-11-03T01:30:00-05:00"
    assert at_wall(datetime(2024, 3, 10, 2, 30, fold=1), new_york).isoformat() == (
        "2024-03-10T03:00:00-04:00"  # (a gap time, whatever its fold)
    )
