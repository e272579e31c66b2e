"""tickwork: an embeddable, in-process job scheduler that is right about time."""

from __future__ import annotations

from ._errors import InvalidExpression, TickworkError, TriggerSearchExhausted, UnknownTimezone
from ._tz import LocalTimezoneWarning
from .triggers import (
    AndTrigger,
    CalendarIntervalTrigger,
    CronTrigger,
    DateTrigger,
    DstGap,
    DstOverlap,
    IntervalTrigger,
    MissingDay,
    OrTrigger,
    Trigger,
    trigger_from_dict,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "AndTrigger",
    "CalendarIntervalTrigger",
    "CronTrigger",
    "DateTrigger",
    "DstGap",
    "DstOverlap",
    "IntervalTrigger",
    "InvalidExpression",
    "LocalTimezoneWarning",
    "MissingDay",
    "OrTrigger",
    "TickworkError",
    "Trigger",
    "TriggerSearchExhausted",
    "UnknownTimezone",
    "__version__",
    "trigger_from_dict",
]
