"""The store seam for emitted events: :class:`EventLog`.

A store shared by processes keeps every emitted event in an *events* table and, beside
it, one *event run* row per (job id, event id) that some process took on: the slot
that makes each event run each job once, whichever process sees it first. Its rules:

1. *Written first*: :meth:`EventLog.record_event` writes the event (and the slots the
   emitting process takes, when it handles its own event) in one transaction, before
   ``emit`` returns. An event written without being handled (``handled=False``: by the
   command line, or by a scheduler that is not running) waits for any running
   scheduler on the store, which finds it with :meth:`EventLog.unhandled_events`.
   *Apart*: the event is stored at its ``emitted_at`` or, when that is not
   :data:`EVENT_GAP` after the latest event of the store, at the latest plus
   :data:`EVENT_GAP` (found and written under one lock, so that two processes writing
   at once, on any hosts, never get one instant). The runs of an event are scheduled at
   its instant, and ``(job id, scheduled_at)`` names one run (its run id, its chain
   hand-overs): two events of one instant would make two runs of a job one. The gap
   is two microseconds, not one, so that a run moved a microsecond off a fire time of
   its job (an ``OrTrigger``) never lands on another event's instant either.
2. *One slot per (job, event)*: :meth:`EventLog.claim_event_runs` inserts the slots
   and marks the events handled, in one transaction; a slot another process holds
   already is not taken (False).
3. *Done*: :meth:`EventLog.finish_event_runs` marks slots done once their runs end (or
   once a debounced event was superseded).
4. *Orphans*: a slot not done whose owner is certainly dead (same machine:
   ``stores/_liveness.py``) is taken over by :meth:`EventLog.orphaned_event_runs`,
   which hands it to the caller to run: the run of a process killed right after
   ``emit`` returned is not lost.
5. *Released*: :meth:`EventLog.release_event_runs` (at shutdown, for debounced events
   not run yet) deletes the slots and marks their events unhandled again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from .._instants import EPOCH as _EPOCH
from .._model import EmittedEvent
from .._tz import epoch_us

__all__ = [
    "EVENT_GAP",
    "EVENT_GAP_US",
    "EventLog",
    "EventSlot",
    "as_stored",
    "event_from_row",
    "stored_at",
]

#: One (job id, event id) slot.
EventSlot = tuple[str, str]

#: The least time between two events' instants in a store (rule *Apart* above).
EVENT_GAP_US = 2
EVENT_GAP = timedelta(microseconds=EVENT_GAP_US)


@runtime_checkable
class EventLog(Protocol):
    """A store that keeps emitted events for every process on it (see the module
    docstring for the rules). :class:`~tickwork.stores.SQLiteStore` and
    :class:`~tickwork.stores.PostgresStore` are event logs; a
    :class:`~tickwork.stores.MemoryStore` is not (its scheduler handles events in
    memory).

    Every method raises :class:`~tickwork.StoreError` when the store fails, having
    changed nothing.
    """

    def record_event(
        self, event: EmittedEvent, slots: Sequence[EventSlot], *, handled: bool, now: datetime
    ) -> tuple[EmittedEvent, list[bool]]:
        """Write *event* and take *slots* (job id, this event's id), in one transaction;
        with *handled*, mark the event handled. Returns the event as stored (its
        ``emitted_at`` moved on to :data:`EVENT_GAP` after the latest event's when it was
        not already later: rule *Apart* of the module docstring) and, per slot, whether
        it was taken (always True for a new event)."""
        ...

    def unhandled_events(self, *, limit: int) -> list[EmittedEvent]:
        """Up to *limit* events no process has handled yet, oldest first."""
        ...

    def claim_event_runs(
        self, slots: Sequence[EventSlot], handled: Sequence[str], *, now: datetime
    ) -> list[bool]:
        """Take *slots* and mark the events *handled* (their ids) handled, in one
        transaction. Returns, per slot, whether it was taken (False: another process
        holds it)."""
        ...

    def finish_event_runs(self, slots: Sequence[EventSlot], *, now: datetime) -> None:
        """Mark this process's *slots* done: they are never run again."""
        ...

    def release_event_runs(self, slots: Sequence[EventSlot], *, now: datetime) -> None:
        """Give *slots* up (delete them) and mark their events unhandled again, for
        another process to handle."""
        ...

    def orphaned_event_runs(self, *, now: datetime) -> list[tuple[str, EmittedEvent]]:
        """Take over the slots, not done, of owners found dead; return them as (job id,
        event), now this process's, for the caller to run."""
        ...


def event_from_row(row: Sequence[object]) -> EmittedEvent:
    """The event of a stored row (id, name, payload as JSON text, emitted at in
    microseconds since the epoch), as SQLite and PostgreSQL keep it."""
    event_id, name, payload, emitted_us = row
    assert isinstance(payload, str)
    assert isinstance(emitted_us, int)
    return EmittedEvent(
        id=str(event_id),
        name=str(name),
        payload=json.loads(payload),
        emitted_at=_EPOCH + timedelta(microseconds=emitted_us),
    )


def stored_at(event: EmittedEvent, latest_us: int | None) -> int:
    """The instant (microseconds since the epoch) to store *event* at, the latest event
    of the store being at *latest_us* (None: no event): its own, or the latest plus
    :data:`EVENT_GAP` when its own is not later than that."""
    own = epoch_us(event.emitted_at)
    return own if latest_us is None else max(own, latest_us + EVENT_GAP_US)


def as_stored(event: EmittedEvent, at_us: int) -> EmittedEvent:
    """*event* with the instant it was stored at (*event* itself when unchanged)."""
    if at_us == epoch_us(event.emitted_at):
        return event
    return replace(event, emitted_at=_EPOCH + timedelta(microseconds=at_us))
