"""Emitted events in PostgreSQL: :class:`~tickwork.stores._eventlog.EventLog` for
:class:`~tickwork.stores.PostgresStore` (the rules are in ``_eventlog``).

The tables ``events`` and ``event_runs`` (schema in ``_pg_schema``) are those of the
SQLite store. An event written unhandled sends the store's ``NOTIFY``, so that the
schedulers listening run its jobs at once. A slot's owner is dead when no live process
row holds its advisory lock (as for leases): its slots are taken over in one
``UPDATE ... RETURNING``, which two processes cannot both win.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from .._model import EmittedEvent
from .._tz import epoch_us
from ._eventlog import EVENT_GAP_US, EventSlot, as_stored, event_from_row, stored_at
from ._pg_connection import PGConnection
from ._pg_history import LOCK_HELD, still_free
from ._pg_schema import liveness_key

__all__ = ["PGEvents"]


_TAKE = (
    "INSERT INTO {s}.event_runs (job_id, event_id, owner, done) "
    "SELECT j, e, %(owner)s, false FROM unnest(%(jobs)s::text[], %(events)s::text[]) AS t(j, e) "
    "ON CONFLICT DO NOTHING RETURNING job_id, event_id"
)
#: The first key of the transaction-level advisory lock that writes one event at a time
#: (the second: the schema's hash), so that events are stored apart (``_eventlog``,
#: rule *Apart*). ``_pg_schema.MIGRATE_CLASS`` is the migration's.
EMIT_CLASS = 0x7469636C  # "ticl": the event log's
# The event at its own instant when no stored event is nearer to it than the gap (the
# look reads a range of each value of ``handled`` from the index on (handled,
# emitted_us, id)): no row inserted, and it is stored at the instant ``stored_at`` finds
# (reads of _NEAR), with _INSERT_AT. (The first alone is one round trip, and almost
# every event takes it.)
_INSERT_IF_FREE = """
INSERT INTO {s}.events (id, name, payload, emitted_us, handled)
SELECT %(id)s, %(name)s, %(payload)s, %(at)s, %(handled)s
WHERE NOT EXISTS (
    SELECT FROM {s}.events
    WHERE handled IN (true, false) AND emitted_us BETWEEN %(low)s AND %(high)s
)
"""
_NEAR = (
    "SELECT emitted_us FROM {s}.events "
    "WHERE handled IN (true, false) AND emitted_us BETWEEN %s AND %s"
)
_INSERT_AT = (
    "INSERT INTO {s}.events (id, name, payload, emitted_us, handled) "
    "VALUES (%(id)s, %(name)s, %(payload)s, %(at)s, %(handled)s)"
)
#: The owners of open slots whose liveness lock is free (dead, or cut off a moment).
_FREE_OWNERS = """
SELECT DISTINCT r.owner FROM {s}.event_runs r
WHERE NOT r.done AND r.owner <> %(owner)s
    AND NOT EXISTS (SELECT 1 FROM {s}.processes p WHERE p.owner = r.owner AND {held})
"""
_ORPHANS = """
UPDATE {s}.event_runs r SET owner = %(owner)s
FROM {s}.events e
WHERE e.id = r.event_id AND NOT r.done AND r.owner = ANY(%(dead)s::text[])
    AND NOT EXISTS (SELECT 1 FROM {s}.processes p WHERE p.owner = r.owner AND {held})
RETURNING r.job_id, e.id, e.name, e.payload, e.emitted_us
"""


class PGEvents(PGConnection):
    """The event log of a PostgreSQL schema (a part of
    :class:`~tickwork.stores.PostgresStore`)."""

    def _take(self, conn: object, slots: Sequence[EventSlot]) -> list[bool]:
        if not slots:
            return []
        rows = conn.execute(  # type: ignore[attr-defined]
            _TAKE.format(s=self._s),
            {
                "owner": self.owner,
                "jobs": [slot[0] for slot in slots],
                "events": [slot[1] for slot in slots],
            },
        ).fetchall()
        won = {(row[0], row[1]) for row in rows}
        return [slot in won for slot in slots]

    def record_event(
        self, event: EmittedEvent, slots: Sequence[EventSlot], *, handled: bool, now: datetime
    ) -> tuple[EmittedEvent, list[bool]]:
        """Write *event* and take *slots*, in one transaction (see ``EventLog``); an
        unhandled event wakes the listening schedulers. Returns the event as stored
        (apart from the others: ``_eventlog``, rule *Apart*)."""
        del now
        with self._tx("record an event") as tx:
            taken = self._take(tx.conn, slots)
            # Last, to hold the lock for the least time: it is let go at commit, after
            # the event is visible, and the next writer reads the events near its own in
            # statements that start after it got the lock (read committed: a snapshot
            # per statement), so it sees this one. The lock is the database's: it holds
            # among hosts.
            tx.conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                            (EMIT_CLASS, self.schema))  # fmt: skip
            own_us = at_us = epoch_us(event.emitted_at)
            row = {
                "id": event.id,
                "name": event.name,
                "payload": json.dumps(event.payload, separators=(",", ":")),
                "at": own_us,
                "low": own_us - EVENT_GAP_US + 1,
                "high": own_us + EVENT_GAP_US - 1,
                "handled": handled,
            }
            if tx.conn.execute(_INSERT_IF_FREE.format(s=self._s), row).rowcount != 1:
                near = _NEAR.format(s=self._s)
                at_us = stored_at(
                    event,
                    lambda low, high: [found for (found,) in tx.conn.execute(near, (low, high))],
                )
                tx.conn.execute(_INSERT_AT.format(s=self._s), {**row, "at": at_us})
            if not handled:
                tx.wrote = True  # (the NOTIFY at commit tells the others)
        return as_stored(event, at_us), taken

    def unhandled_events(self, *, limit: int) -> list[EmittedEvent]:
        """Events no process has handled yet, oldest first."""
        rows = self._read(
            f"SELECT id, name, payload, emitted_us FROM {self._s}.events WHERE NOT handled "
            "ORDER BY emitted_us, id LIMIT %s",
            (limit,),
            "read the events",
        )
        return [event_from_row(row) for row in rows]

    def claim_event_runs(
        self, slots: Sequence[EventSlot], handled: Sequence[str], *, now: datetime
    ) -> list[bool]:
        """Take *slots* and mark the events *handled*, in one transaction."""
        del now
        if not slots and not handled:
            return []
        with self._tx("claim event runs") as tx:
            taken = self._take(tx.conn, slots)
            tx.conn.execute(
                f"UPDATE {self._s}.events SET handled = true WHERE id = ANY(%s::text[])",
                (list(handled),),
            )
        return taken

    def finish_event_runs(self, slots: Sequence[EventSlot], *, now: datetime) -> None:
        """Mark this process's *slots* done."""
        del now
        if not slots:
            return
        with self._tx("finish event runs") as tx:
            tx.conn.execute(
                f"UPDATE {self._s}.event_runs r SET done = true "
                "FROM unnest(%s::text[], %s::text[]) AS t(j, e) "
                "WHERE r.job_id = t.j AND r.event_id = t.e AND r.owner = %s",
                ([slot[0] for slot in slots], [slot[1] for slot in slots], self.owner),
            )

    def release_event_runs(self, slots: Sequence[EventSlot], *, now: datetime) -> None:
        """Delete *slots* and mark their events unhandled again."""
        del now
        if not slots:
            return
        with self._tx("release event runs") as tx:
            tx.conn.execute(
                f"DELETE FROM {self._s}.event_runs r "
                "USING unnest(%s::text[], %s::text[]) AS t(j, e) "
                "WHERE r.job_id = t.j AND r.event_id = t.e AND r.owner = %s",
                ([slot[0] for slot in slots], [slot[1] for slot in slots], self.owner),
            )
            tx.conn.execute(
                f"UPDATE {self._s}.events SET handled = false WHERE id = ANY(%s::text[])",
                ([slot[1] for slot in slots],),
            )
            tx.wrote = True

    def orphaned_event_runs(self, *, now: datetime) -> list[tuple[str, EmittedEvent]]:
        """Take over the open slots of owners found dead: their advisory lock free, and
        still free a second after it was first found so (a live process whose
        connections were cut takes it back meanwhile, as for leases)."""
        now_us = epoch_us(now)
        held = LOCK_HELD.format(lock=liveness_key(self.schema))
        free = [
            str(row[0])
            for row in self._read(
                _FREE_OWNERS.format(s=self._s, held=held),
                {"owner": self.owner},
                "look for event runs of dead processes",
            )
        ]
        self._events_free_since, dead, _ = still_free(self._events_free_since, free, now_us)
        if not dead:
            return []
        with self._tx("take over event runs") as tx:
            rows = tx.conn.execute(
                _ORPHANS.format(s=self._s, held=held), {"owner": self.owner, "dead": dead}
            ).fetchall()
        return [(str(row[0]), event_from_row(row[1:])) for row in rows]
