"""One-off triggers: ``DateTrigger(datetime(2030, 1, 1, 9, tzinfo=ZoneInfo("Europe/Paris")))``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone, tzinfo
from typing import Any

from .._tz import aware_us, coerce_timezone, epoch_us, in_zone, require_aware, timezone_name
from ._base import Trigger, stored_datetime

__all__ = ["DateTrigger", "run_at_in"]

#: The instants a datetime can name in UTC, in µs since the epoch: stores keep an
#: instant as UTC microseconds, and rebuilding it goes through UTC (``astimezone``).
_FIRST_US = epoch_us(datetime.min.replace(tzinfo=timezone.utc))
_LAST_US = epoch_us(datetime.max.replace(tzinfo=timezone.utc))


def run_at_in(run_at: datetime, zone: tzinfo | None, name: str) -> datetime:
    """*run_at* (aware) in *zone* (None: its own), if both it and that are datetimes.

    Raises:
        ValueError: naming *name*: *run_at* is an instant before the year 1 or after
            the year 9999 in UTC (``datetime(9999, 12, 31, 20, tzinfo=UTC-12)``), or
            it is in *zone*; a datetime cannot hold it, so no store could give it back.
    """
    micros = epoch_us(run_at)
    where = "UTC"
    try:
        if not _FIRST_US <= micros <= _LAST_US:
            raise OverflowError
        where = where if zone is None else f"timezone {zone}"
        return in_zone(run_at, zone)  # (a wall time in a DST gap as the clock shows it)
    except OverflowError:
        side = "before the year 1" if micros < 0 else "after the year 9999"
        raise ValueError(
            f"{name}={run_at.isoformat()} is out of range: it is {side} in {where}, "
            "past the datetimes Python has"
        ) from None


def _nameable_zone(value: datetime) -> tzinfo | None:
    """The zone of *value* in a form that can be stored by name, if it has one."""
    try:
        return coerce_timezone(value.tzinfo, "run_at")
    except TypeError:
        return None


class DateTrigger(Trigger):
    """Fires once, at *run_at*.

    Args:
        run_at: the instant to fire at; an aware datetime.
        timezone: the zone the result is expressed in (an IANA name or a ``tzinfo``).
            ``None``, the default, keeps *run_at*'s own zone.

    Raises:
        TypeError: *run_at* is naive or not a datetime.
        ValueError: *run_at* is before the year 1 or after the year 9999 in UTC or in
            *timezone* (``datetime(9999, 12, 31, 20, tzinfo=UTC-12)`` is in 10000 in UTC).
        UnknownTimezone: *timezone* is not a known zone.
    """

    __slots__ = ("_explicit_zone", "_run_at", "_run_at_us", "_zone")
    type_name = "date"

    _explicit_zone: tzinfo | None
    _run_at: datetime
    _run_at_us: int
    _zone: tzinfo | None

    def __init__(self, run_at: datetime, *, timezone: str | tzinfo | None = None) -> None:
        run_at = require_aware(run_at, "run_at")
        explicit = None if timezone is None else coerce_timezone(timezone)
        put = object.__setattr__
        put(self, "_explicit_zone", explicit)
        put(self, "_run_at", run_at_in(run_at, explicit, "run_at"))
        put(self, "_run_at_us", epoch_us(run_at))
        # run_at.isoformat() keeps only the offset; the zone's name is stored beside it so
        # a trigger rebuilt from to_dict() still answers in "Europe/Paris", not "+01:00".
        put(self, "_zone", explicit or _nameable_zone(run_at))

    @property
    def run_at(self) -> datetime:
        """The fire instant, in the trigger's zone."""
        return self._run_at

    @property
    def timezone(self) -> tzinfo | None:
        """The zone given to the constructor, if any."""
        return self._explicit_zone

    def next_after(self, moment: datetime) -> datetime | None:
        if moment is self._run_at:
            # The scheduler asks with the fire time this trigger gave it: nothing after.
            return None
        if self._run_at_us > aware_us(moment, "moment"):
            return self._run_at
        return None

    def previous_before(self, moment: datetime) -> datetime | None:
        """*run_at* if it is strictly earlier than *moment*, else ``None``."""
        if moment is self._run_at:
            return None
        if self._run_at_us < aware_us(moment, "moment"):
            return self._run_at
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "run_at": self._run_at.isoformat(),
            "timezone": None if self._zone is None else timezone_name(self._zone),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DateTrigger:
        return cls(stored_datetime(data["run_at"], "run_at"), timezone=data.get("timezone"))

    def __repr__(self) -> str:
        parts = [repr(self._run_at.isoformat())]
        if self._explicit_zone is not None:
            parts.append(f"timezone={timezone_name(self._explicit_zone)!r}")
        return f"DateTrigger({', '.join(parts)})"
