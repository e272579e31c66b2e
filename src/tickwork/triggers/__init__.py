"""Triggers: immutable rules that say when a job fires next."""

from __future__ import annotations

from ._base import DstGap, DstOverlap, Trigger, trigger_from_dict
from .calendar import CalendarIntervalTrigger, MissingDay
from .combining import AndTrigger, OrTrigger
from .cron import CronTrigger
from .date import DateTrigger
from .event import EventTrigger
from .interval import IntervalTrigger
from .upstream import UpstreamTrigger

__all__ = [
    "AndTrigger",
    "CalendarIntervalTrigger",
    "CronTrigger",
    "DateTrigger",
    "DstGap",
    "DstOverlap",
    "EventTrigger",
    "IntervalTrigger",
    "MissingDay",
    "OrTrigger",
    "Trigger",
    "UpstreamTrigger",
    "trigger_from_dict",
]
