"""Emitted events in a SQLite file: :class:`~tickwork.stores._eventlog.EventLog` for
:class:`~tickwork.stores.SQLiteStore` (the rules are in ``_eventlog``).

Two tables (schema in ``_sqlite_schema``): ``events`` (id, name, payload as JSON, when
emitted, whether handled) and ``event_runs``, the (job id, event id) slots with their
owner, holder identity and whether done. The primary key of ``event_runs`` is what
makes an event run a job once among the processes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from .._model import EmittedEvent
from ._eventlog import EventSlot, as_stored, event_from_row, stored_at
from ._liveness import identity, is_dead
from ._sqlite_connection import SQLiteConnection

__all__ = ["SQLiteEvents"]


# The instants of the events in a range (``_eventlog.stored_at``): ``handled IN (0, 1)``
# lets SQLite read the range of each value from the index on (handled, emitted_us, id);
# without it, it reads all of the index.
_NEAR = "SELECT emitted_us FROM events WHERE handled IN (0, 1) AND emitted_us BETWEEN ? AND ?"
_INSERT_EVENT = "INSERT INTO events (id, name, payload, emitted_us, handled) VALUES (?, ?, ?, ?, ?)"
_TAKE = (
    "INSERT INTO event_runs (job_id, event_id, owner, holder, done) VALUES (?, ?, ?, ?, 0) "
    "ON CONFLICT DO NOTHING"
)


class SQLiteEvents(SQLiteConnection):
    """The event log of a SQLite file (a part of :class:`~tickwork.stores.SQLiteStore`)."""

    owner: str

    def record_event(
        self, event: EmittedEvent, slots: Sequence[EventSlot], *, handled: bool, now: datetime
    ) -> tuple[EmittedEvent, list[bool]]:
        """Write *event* and take *slots*, in one transaction (see ``EventLog``); returns
        the event as stored (apart from the others: ``_eventlog``, rule *Apart*)."""
        del now
        payload = json.dumps(event.payload, separators=(",", ":"))
        holder = identity()
        # (The write transaction holds the file's write lock: no other process writes an
        # event between the read of the events near it and the insert.)
        with self._write("record an event") as conn:
            at_us = stored_at(
                event,
                lambda low, high: [row[0] for row in conn.execute(_NEAR, (low, high))],
            )
            conn.execute(_INSERT_EVENT, (event.id, event.name, payload, at_us, int(handled)))
            taken = [
                conn.execute(_TAKE, (*slot, self.owner, holder)).rowcount == 1 for slot in slots
            ]
        return as_stored(event, at_us), taken

    def unhandled_events(self, *, limit: int) -> list[EmittedEvent]:
        """Events no process has handled yet, oldest first."""
        rows = self._read(
            "SELECT id, name, payload, emitted_us FROM events WHERE handled = 0 "
            "ORDER BY emitted_us, id LIMIT ?",
            (limit,),
        )
        return [event_from_row(row) for row in rows]

    def claim_event_runs(
        self, slots: Sequence[EventSlot], handled: Sequence[str], *, now: datetime
    ) -> list[bool]:
        """Take *slots* and mark the events *handled*, in one transaction."""
        del now
        if not slots and not handled:
            return []
        holder = identity()
        self._connection()
        with self._write("claim event runs") as conn:
            taken = [
                conn.execute(_TAKE, (*slot, self.owner, holder)).rowcount == 1 for slot in slots
            ]
            conn.executemany(
                "UPDATE events SET handled = 1 WHERE id = ?", [(ident,) for ident in handled]
            )
        return taken

    def finish_event_runs(self, slots: Sequence[EventSlot], *, now: datetime) -> None:
        """Mark this process's *slots* done."""
        del now
        if not slots:
            return
        self._connection()
        with self._write("finish event runs") as conn:
            conn.executemany(
                "UPDATE event_runs SET done = 1 WHERE job_id = ? AND event_id = ? AND owner = ?",
                [(*slot, self.owner) for slot in slots],
            )

    def release_event_runs(self, slots: Sequence[EventSlot], *, now: datetime) -> None:
        """Delete *slots* and mark their events unhandled again."""
        del now
        if not slots:
            return
        self._connection()
        with self._write("release event runs") as conn:
            conn.executemany(
                "DELETE FROM event_runs WHERE job_id = ? AND event_id = ? AND owner = ?",
                [(*slot, self.owner) for slot in slots],
            )
            conn.executemany(
                "UPDATE events SET handled = 0 WHERE id = ?", [(slot[1],) for slot in slots]
            )

    def orphaned_event_runs(self, *, now: datetime) -> list[tuple[str, EmittedEvent]]:
        """Take over the open slots of owners found dead."""
        del now
        self._connection()
        rows = self._read(
            "SELECT r.job_id, r.owner, r.holder, e.id, e.name, e.payload, e.emitted_us "
            "FROM event_runs r JOIN events e ON e.id = r.event_id "
            "WHERE r.done = 0 AND r.owner != ?",
            (self.owner,),
        )
        holders = {row[2] for row in rows if isinstance(row[2], str)}
        gone = {holder for holder in holders if is_dead(holder)}
        dead = [row for row in rows if row[2] in gone]
        if not dead:
            return []
        holder = identity()
        taken: list[tuple[str, EmittedEvent]] = []
        with self._write("take over event runs") as conn:
            for row in dead:
                changed = conn.execute(
                    "UPDATE event_runs SET owner = ?, holder = ? WHERE job_id = ? AND "
                    "event_id = ? AND owner = ? AND done = 0",
                    (self.owner, holder, row[0], row[3], row[1]),
                ).rowcount
                if changed == 1:
                    taken.append((str(row[0]), event_from_row(row[3:])))
        return taken
