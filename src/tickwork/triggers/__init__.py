"""Triggers: immutable rules that say when a job fires next."""

from __future__ import annotations

from ._base import DstGap, DstOverlap, Trigger, trigger_from_dict
from .cron import CronTrigger

__all__ = [
    "CronTrigger",
    "DstGap",
    "DstOverlap",
    "Trigger",
    "trigger_from_dict",
]
