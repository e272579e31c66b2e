"""Timezone helpers: turning what users pass into ``tzinfo`` objects and back.

Only aware datetimes cross tickwork's module boundaries. Zones are IANA zones
(``zoneinfo.ZoneInfo``) or fixed offsets (``datetime.timezone``); both can be
named as a string, so triggers can be stored as plain data.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import warnings
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from ._errors import UnknownTimezone
from ._instants import epoch_us

__all__ = [
    "LocalTimezoneWarning",
    "aware_us",
    "coerce_timezone",
    "epoch_us",
    "local_timezone",
    "require_aware",
    "timezone_name",
]

UTC = ZoneInfo("UTC")
_OFFSET = re.compile(r"^(UTC|GMT)?([+-])([0-9]{1,2})(?::?([0-9]{2}))?(?::([0-9]{2}))?$")


class LocalTimezoneWarning(UserWarning):
    """The machine's local timezone could not be determined; UTC is used instead."""


def require_aware(value: object, argument: str, zone: tzinfo | None = None) -> datetime:
    """Return *value* if it is an aware datetime, else raise ``TypeError`` naming
    *argument* (and, for a naive one, how to attach *zone*, the zone meant, if known)."""
    if not isinstance(value, datetime):
        raise TypeError(f"{argument} must be an aware datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        attach = _attaching(zone)
        raise TypeError(
            f"{argument} must be an aware datetime (with tzinfo), got naive {value.isoformat()}; "
            f"attach a zone, e.g. {argument}.replace(tzinfo={attach})"
        )
    return value


def _attaching(zone: tzinfo | None) -> str:
    """How code attaches *zone* to a datetime (``ZoneInfo('Asia/Tokyo')``), for an
    error's example; a zone name for none."""
    if zone is None:
        return "ZoneInfo('Europe/Berlin')"
    name = timezone_name(zone)
    if name == "UTC":
        return "timezone.utc"
    if isinstance(zone, timezone):  # a fixed offset: no ZoneInfo has that name
        offset = zone.utcoffset(None)
        sign, offset = ("-", -offset) if offset < timedelta(0) else ("", offset)
        hours, rest = divmod(int(offset.total_seconds()), 3600)
        minutes = f", minutes={sign}{rest // 60}" if rest // 60 else ""
        return f"timezone(timedelta(hours={sign}{hours}{minutes}))"
    return f"ZoneInfo({name!r})"


def aware_us(value: datetime, argument: str) -> int:
    """``epoch_us(require_aware(value, argument))``, without the checks on the hot path.

    Triggers are asked for their next fire once per fire, almost always with an aware
    ``datetime`` the scheduler made itself; subtracting the (aware) epoch raises for
    anything else, and only then is the value checked, for the error that names
    *argument*.
    """
    if value.__class__ is datetime:
        try:
            return epoch_us(value)
        except TypeError:  # naive: explained below
            pass
    return epoch_us(require_aware(value, argument))


def in_zone(moment: datetime, zone: tzinfo | None = None) -> datetime:
    """*moment* (aware) as the wall time *zone* (None: its own) shows at that instant.

    Unlike ``moment.astimezone(zone)``, which leaves a datetime already in *zone* as it
    is, a wall time that does not exist (in a DST gap: 02:30 on New York's spring-forward
    night, which Python reads with the offset before the gap) becomes the one the clock
    shows, after the gap (03:30-04:00): the same instant, written as it will be read back
    from a store."""
    target = moment.tzinfo if zone is None else zone
    try:
        shown = moment.astimezone(timezone.utc).astimezone(target)
    except OverflowError:  # (within a day of the years 1 or 9999 in UTC)
        return moment if zone is None else moment.astimezone(zone)
    if target is moment.tzinfo and shown.utcoffset() == moment.utcoffset():
        return moment  # (the same object: callers compare fire times by identity)
    return shown


def coerce_timezone(value: str | tzinfo | None, argument: str = "timezone") -> tzinfo:
    """Turn a zone name, a ``tzinfo`` or ``None`` (the local zone) into a usable ``tzinfo``.

    Accepts IANA names (``"Europe/Berlin"``), ``"UTC"``, fixed offsets
    (``"+05:30"``, ``"UTC-08:00"``), ``ZoneInfo`` and ``datetime.timezone``
    objects, and pytz zones (converted to the ``ZoneInfo`` of the same name).

    Raises:
        UnknownTimezone: the name is not a known zone (a ``LookupError``).
        TypeError: the value is not a zone at all, or a ``tzinfo`` that cannot be
            named (and so could not be stored).
    """
    if value is None:
        return local_timezone()
    if isinstance(value, str):
        if value.strip() == "localtime":
            # (tzdata's alias of this machine's zone: stored by that name it would mean
            # whatever zone another host has; the zone it names here is stored instead.)
            return local_timezone()
        return _zone_from_name(value, argument)
    if isinstance(value, ZoneInfo):
        if value.key == "localtime":
            return local_timezone()  # (stored by the zone it names here: see above)
        if value.key is None:
            raise TypeError(
                f"{argument}: a ZoneInfo read from a file has no name and cannot be stored; "
                "use ZoneInfo('Area/City')"
            )
        return value
    if isinstance(value, timezone):
        return value
    pytz_name = getattr(value, "zone", None)
    if isinstance(value, tzinfo) and isinstance(pytz_name, str):
        return _zone_from_name(pytz_name, argument)
    if isinstance(value, tzinfo):
        raise TypeError(
            f"{argument}: {type(value).__name__} zones are not supported; pass an IANA name "
            "such as 'Europe/Berlin', a zoneinfo.ZoneInfo or a datetime.timezone"
        )
    raise TypeError(
        f"{argument} must be a zone name or a tzinfo, got {type(value).__name__} {value!r}"
    )


def timezone_name(zone: tzinfo) -> str:
    """The string that :func:`coerce_timezone` turns back into *zone*."""
    if isinstance(zone, ZoneInfo) and zone.key is not None:
        return zone.key
    if isinstance(zone, timezone):
        offset = zone.utcoffset(None)
        if not offset:
            return "UTC"
        sign = "-" if offset < timedelta(0) else "+"
        if offset.microseconds:
            raise TypeError(f"cannot name timezone {zone!r}: an offset in whole seconds only")
        total = abs(int(offset.total_seconds()))
        name = f"{sign}{total // 3600:02d}:{total // 60 % 60:02d}"
        return name + f":{total % 60:02d}" if total % 60 else name
    raise TypeError(f"cannot name timezone {zone!r}")


@lru_cache(maxsize=512)
def _zone_from_name(name: str, argument: str) -> tzinfo:
    text = name.strip()
    match = _OFFSET.match(text)
    if match:
        prefix, sign, hours, minutes, seconds = match.groups()
        if prefix == "GMT" and _off_utc(text):
            # POSIX and IANA's Etc/GMT+5 is five hours *behind* UTC; "GMT+5" in a UI is
            # usually five hours ahead. Neither guess is safe.
            ahead, behind = f"+{text[4:]}", f"-{text[4:]}"
            if sign == "-":
                ahead, behind = behind, ahead
            raise UnknownTimezone(
                f"{argument}: {name!r} is ambiguous: POSIX and IANA names (Etc/GMT+5) "
                f"count it behind UTC, common usage ahead of it; write the offset as "
                f"{ahead!r} or {behind!r} (UTC+/-HH:MM), or name a zone"
            )
        if (seconds is not None and minutes is None) or max(int(minutes or 0),
                                                            int(seconds or 0)) > 59:  # fmt: skip
            raise UnknownTimezone(f"{argument}: offset {name!r} is not +HH:MM[:SS]")
        delta = timedelta(hours=int(hours), minutes=int(minutes or 0), seconds=int(seconds or 0))
        if delta >= timedelta(hours=24):
            raise UnknownTimezone(f"{argument}: offset {name!r} is out of range (-23:59..+23:59)")
        return timezone(-delta if sign == "-" else delta)
    if text.upper() in ("UTC", "Z", "ZULU"):
        return UTC
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UnknownTimezone(
            f"{argument}: {name!r} is not a known IANA timezone (expected a name such as "
            "'Europe/Berlin', 'America/New_York' or 'UTC', or an offset such as '+05:30')"
            + _did_you_mean(text)
        ) from None


def _did_you_mean(text: str) -> str:
    """ "; did you mean ...?" for a zone name that is one of the known ones but for its
    case, or close to some (names are matched exactly, as stored jobs keep them)."""
    names = _zone_names()
    same = names.get(text.lower())
    if same is not None:
        return f"; did you mean {same!r}? (zone names are case-sensitive)"
    close = difflib.get_close_matches(text.lower(), list(names), n=3, cutoff=0.8)
    if close:
        return f"; did you mean {' or '.join(repr(names[c]) for c in close)}?"
    return ""


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    """Every known zone name, by its lower case (read once, on the first unknown name)."""
    try:
        return {zone.lower(): zone for zone in available_timezones()}
    except Exception:  # (no tz database to list: no suggestion)
        return {}


def local_timezone() -> tzinfo:
    """The machine's local zone as a named IANA zone.

    Looked up, in order, from the ``TZ`` environment variable, the target of the
    ``/etc/localtime`` link and ``/etc/timezone``. When none names a known zone,
    UTC is returned and a :class:`LocalTimezoneWarning` is issued: a scheduler that
    silently guessed a zone would fire at the wrong hour.
    """
    return _local_timezone(os.environ.get("TZ"))


@lru_cache(maxsize=8)
def _local_timezone(tz_env: str | None) -> tzinfo:
    for candidate in _local_zone_candidates(tz_env):
        try:
            zone = _zone_from_name(candidate, "TZ")
        except UnknownTimezone:
            continue
        if tz_env and not _names_zone(tz_env, candidate):
            # A TZ the C library reads (a POSIX rule such as "EST5EDT,M3.2.0,M11.1.0" or
            # "JST-9") gives the process's clock another zone than the one used here.
            warnings.warn(
                f"TZ={tz_env!r} names no IANA zone (a POSIX TZ rule is not read); using "
                f"{candidate!r} from the system's settings. Set TZ to a zone name such as "
                "'America/New_York', or pass timezone='Area/City' explicitly.",
                LocalTimezoneWarning,
                stacklevel=_outside(),
            )
        return zone
    warnings.warn(
        "could not determine the local timezone (TZ, /etc/localtime, /etc/timezone); using UTC. "
        "Pass timezone='Area/City' explicitly to silence this.",
        LocalTimezoneWarning,
        stacklevel=_outside(),
    )
    return UTC


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _outside() -> int:
    """The ``stacklevel`` of a warning issued by the caller that names the first frame
    outside tickwork: the user's line (``Scheduler()``), however deep the call."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


def _tz_key(tz_env: str) -> str | None:
    """The zone key a ``TZ`` value gives: a name (also ``:``-prefixed), or the key of a
    path into a zoneinfo directory; None for another path."""
    value = tz_env[1:] if tz_env.startswith(":") else tz_env
    return _key_from_path(value) if value.startswith("/") else value


def _names_zone(tz_env: str, candidate: str) -> bool:
    """Whether *candidate* is the zone the ``TZ`` value *tz_env* names (the system's
    zone, which *candidate* was read from, for ``localtime``)."""
    key = _tz_key(tz_env)
    return key in (candidate, "localtime") or tz_env.lstrip(":") == "/etc/localtime"


def _off_utc(text: str) -> bool:
    """Whether *text* is an offset from UTC other than zero ("UTC+3", "-05:00")."""
    match = _OFFSET.match(text.strip())
    return match is not None and any(int(part or 0) for part in match.groups()[2:])


def _local_zone_candidates(tz_env: str | None) -> list[str]:
    candidates: list[str] = []
    if tz_env:
        key = _tz_key(tz_env)
        # (Not the alias, whose target is read below; nor an offset: in TZ, "UTC+3" is
        # a POSIX rule, three hours *behind* UTC.)
        if key and key != "localtime" and not _off_utc(key):
            candidates.append(key)
    try:
        target = os.path.realpath("/etc/localtime") if os.path.islink("/etc/localtime") else ""
    except OSError:
        target = ""
    key = _key_from_path(target) if target else None
    if key:
        candidates.append(key)
    try:
        with open("/etc/timezone", encoding="utf-8") as handle:
            line = handle.readline().strip()
    except OSError:
        line = ""
    if line:
        candidates.append(line)
    return candidates


def _key_from_path(path: str) -> str | None:
    marker = "zoneinfo/"
    index = path.rfind(marker)
    if index < 0:
        return None
    key = path[index + len(marker) :]
    for prefix in ("posix/", "right/"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key or None
