"""Giving hashed cron triggers their key: the job's id, when a scheduler adds them."""

from __future__ import annotations

from ._base import Trigger
from .calendar import CalendarIntervalTrigger
from .combining import AndTrigger, OrTrigger
from .cron import CronTrigger
from .date import DateTrigger
from .interval import IntervalTrigger

__all__ = ["bind_hash_key"]


#: The built-in triggers that hold no cron trigger (exactly these types: a subclass may).
_PLAIN = (IntervalTrigger, DateTrigger, CalendarIntervalTrigger)


def bind_hash_key(trigger: Trigger, key: str) -> Trigger:
    """*trigger* with *key* given to every cron trigger in it that has ``H`` and no key.

    Cron triggers inside :class:`AndTrigger` and :class:`OrTrigger` are reached too. A
    trigger that needs nothing is returned as is (the same object), so a job whose
    trigger has no ``H`` is stored exactly as before hashing existed; a cron trigger
    built with its own ``hash_key`` keeps it.

    Raises:
        InvalidExpression: the values *key* chooses match no date.
    """
    if type(trigger) in _PLAIN:  # (most jobs: no check on the ABC below)
        return trigger
    if isinstance(trigger, CronTrigger):
        if trigger.is_hashed and trigger.hash_key is None:
            return trigger.with_hash_key(key)
        return trigger
    if type(trigger) in (AndTrigger, OrTrigger):  # exactly: a subclass may not rebuild so
        assert isinstance(trigger, (AndTrigger, OrTrigger))
        children = [bind_hash_key(child, key) for child in trigger.triggers]
        if all(new is old for new, old in zip(children, trigger.triggers, strict=True)):
            return trigger
        if isinstance(trigger, AndTrigger):
            return AndTrigger(children, max_iterations=trigger.max_iterations)
        return OrTrigger(children)
    return trigger
