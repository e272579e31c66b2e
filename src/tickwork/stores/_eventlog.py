"""The store seam for emitted events: :class:`EventLog`.

A store shared by processes keeps every emitted event in an *events* table and, beside
it, one *event run* row per (job id, event id) that some process took on: the slot
that makes each event run each job once, whichever process sees it first. Its rules:

1. *Written first*: :meth:`EventLog.record_event` writes the event (and the slots the
   emitting process takes, when it handles its own event) in one transaction, before
   ``emit`` returns. An event written without being handled (``handled=False``: by the
   command line, or by a scheduler that is not running) waits for any running
   scheduler on the store, which finds it with :meth:`EventLog.unhandled_events`.
   *Apart*: the event is stored at its ``emitted_at`` or, when another stored event is
   less than :data:`EVENT_GAP` from that, at the first instant after it that is
   :data:`EVENT_GAP` from every stored event (found and written under one lock, so that
   two processes writing at once, on any hosts, never get one instant). The runs of an
   event are scheduled at its instant, and ``(job id, scheduled_at)`` names one run
   (its run id, its chain hand-overs): two events of one instant would make two runs
   of a job one. The gap is two microseconds, not one, so that a run moved a
   microsecond off a fire time of its job (an ``OrTrigger``) never lands on another
   event's instant either. Only a store's events near the instant are looked at, not
   its latest: an event stays at its own instant when others are far off, before or
   after it, so that one process whose clock is ahead (or a test's ``FakeClock`` left
   at a later time on the store) does not move the events of every process on to its
   time (their ``emitted_at`` is when ``emit`` was called).
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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from .._instants import EPOCH as _EPOCH
from .._model import EmittedEvent
from .._tz import epoch_us

__all__ = [
    "EVENT_GAP",
    "EVENT_GAP_US",
    "EVENT_REACH_US",
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
#: How far past an instant the first read of the events near it reaches
#: (:func:`stored_at`).
EVENT_REACH_US = 64


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
        ``emitted_at`` moved on, when another stored event is less than
        :data:`EVENT_GAP` from it, to the first instant :data:`EVENT_GAP` from all of
        them: rule *Apart* of the module docstring, :func:`stored_at`) and, per slot,
        whether it was taken (always True for a new event)."""
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


def stored_at(event: EmittedEvent, near: Callable[[int, int], Iterable[int]]) -> int:
    """The instant (microseconds since the epoch) to store *event* at (rule *Apart*): the
    first from its own on that is at least :data:`EVENT_GAP` from every stored event's.

    *near(low, high)* gives the instants of the stored events from *low* to *high*
    (microseconds, both included): one read of a range of the store's index on the
    instant, called under the lock the event is then written under. One read is enough
    unless a run of events, each less than twice the gap from the next (no room between
    them), reaches past :data:`EVENT_REACH_US`; the next read starts where the last left
    off and reaches twice as far, so that a long run (events written at one instant
    under a clock that does not move) takes a few reads, not one per event of it.
    """
    at = epoch_us(event.emitted_at)
    reach = EVENT_REACH_US
    while True:
        high = at + reach
        for other in sorted(near(at - EVENT_GAP_US + 1, high)):
            if other >= at + EVENT_GAP_US:
                break  # (as is every later one)
            if other > at - EVENT_GAP_US:
                at = other + EVENT_GAP_US  # (no instant between them is free of it)
        if at + EVENT_GAP_US - 1 <= high:  # (every event near it was read)
            return at
        reach *= 2


def as_stored(event: EmittedEvent, at_us: int) -> EmittedEvent:
    """*event* with the instant it was stored at (*event* itself when unchanged)."""
    if at_us == epoch_us(event.emitted_at):
        return event
    return replace(event, emitted_at=_EPOCH + timedelta(microseconds=at_us))
