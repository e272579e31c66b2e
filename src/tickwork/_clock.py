"""Reading the real wall clock.

:func:`system_now` is the one place below the drivers allowed to read the wall
clock, and only to fill in trigger defaults (such as an interval's ``start``).
Everything else takes ``now`` as an argument.
"""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["system_now"]


def system_now() -> datetime:
    """The current instant as an aware UTC datetime.

    Only trigger defaults may call this (a trigger's ``start`` when none is given);
    scheduling decisions take the time as an argument. ``datetime.now`` is looked up
    at call time, so ``freezegun`` and similar tools can control it in tests.
    """
    return datetime.now(timezone.utc)
