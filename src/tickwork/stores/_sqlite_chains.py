"""Chains in a ``SQLiteStore`` (the contract: :class:`~tickwork.stores._chains.ChainStore`).

The ``chain_edges`` table follows the jobs' ``after``/``on`` options through SQLite
triggers on the ``jobs`` table (see the schema), so every write of a job keeps its
edges in its own transaction. ``record_runs`` writes the ``chain_pending`` rows of the
runs that ended (:data:`PENDING_INSERT`, one ``executemany``); :meth:`SQLiteChains.claim_chain`
takes a complete set in one write transaction and leases the downstream run, as a
claimed fire is leased, so a process that dies while running it has it taken over.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from .._model import ChainOn, Upstream
from .._tz import epoch_us
from ._chains import ChainRow, claimed_rows, pending_rows, ready_slots, released_rows
from ._liveness import identity
from ._sqlite_connection import SQLiteConnection

__all__ = ["PENDING_INSERT", "SQLiteChains", "pending_rows"]


#: One upstream run's end, for each downstream job whose ``on`` it matches (the
#: parameters: :func:`~tickwork.stores._chains.pending_rows`).
PENDING_INSERT = (
    "INSERT OR REPLACE INTO chain_pending (downstream, slot_us, zone, upstream, run_id, "
    "outcome, return_json, error, recorded_us) "
    "SELECT downstream, ?, ?, upstream, ?, ?, ?, ?, ? FROM chain_edges "
    "WHERE upstream = ? AND on_outcome IN (?, 'any')"
)

#: A claimed hand-over given back (``release_chain``: :func:`released_rows`).
_RELEASE = (
    "INSERT OR IGNORE INTO chain_pending (downstream, slot_us, zone, upstream, run_id, "
    "outcome, return_json, error, recorded_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

#: (downstream, slot) sets with a row for each current upstream of the downstream job.
_COMPLETE = (
    "SELECT p.downstream, p.slot_us, min(p.zone) FROM chain_pending p "
    "JOIN chain_edges e ON e.downstream = p.downstream AND e.upstream = p.upstream "
    "{where} GROUP BY p.downstream, p.slot_us "
    "HAVING count(*) = (SELECT count(*) FROM chain_edges c WHERE c.downstream = p.downstream) "
    "ORDER BY p.slot_us LIMIT ?"
)


class SQLiteChains(SQLiteConnection):
    """The :class:`~tickwork.stores._chains.ChainStore` methods of a ``SQLiteStore``."""

    lease_time: float

    def chain_edges(self) -> dict[str, tuple[tuple[str, ...], ChainOn]]:
        edges: dict[str, tuple[list[str], str]] = {}
        for upstream, downstream, on in self._read(
            "SELECT upstream, downstream, on_outcome FROM chain_edges ORDER BY downstream, upstream"
        ):
            edges.setdefault(downstream, ([], on))[0].append(upstream)
        return {key: (tuple(ups), ChainOn(on)) for key, (ups, on) in edges.items()}

    def ready_chains(self, *, limit: int = 100) -> list[tuple[str, datetime]]:
        rows = self._read(_COMPLETE.format(where=""), (limit,))
        return ready_slots(rows)

    def claim_chain(
        self, downstream: str, slot: datetime, *, now: datetime
    ) -> list[ChainRow] | None:
        slot_us = epoch_us(slot)
        now_us = epoch_us(now)
        holder = identity()
        self._connection()  # (which names this process's owner)
        with self._write("claim a chained run") as conn:
            complete = conn.execute(
                _COMPLETE.format(where="WHERE p.downstream = ? AND p.slot_us = ?"),
                (downstream, slot_us, 1),
            ).fetchone()
            if complete is None:
                return None
            rows = conn.execute(
                "SELECT upstream, zone, run_id, outcome, return_json, error FROM chain_pending "
                "WHERE downstream = ? AND slot_us = ? ORDER BY upstream",
                (downstream, slot_us),
            ).fetchall()
            conn.execute(
                "DELETE FROM chain_pending WHERE downstream = ? AND slot_us = ?",
                (downstream, slot_us),
            )
            # The downstream run is leased as a claimed fire is: if this process dies
            # running it, another takes it over.
            cursor = conn.execute(
                "INSERT OR IGNORE INTO leases (job_id, scheduled_us, attempt, owner, "
                "expires_us, holder) VALUES (?, ?, 1, ?, ?, ?)",
                (downstream, slot_us, self.owner, now_us + round(self.lease_time * 1e6), holder),
            )
            if cursor.rowcount == 1:
                self._leases[(downstream, slot_us)] = cursor.lastrowid or 0
        return claimed_rows(downstream, slot_us, rows)

    def release_chain(
        self, downstream: str, slot: datetime, upstream: Mapping[str, Upstream], *, now: datetime
    ) -> bool:
        """Give a claimed (downstream, slot) whose run never started back (see
        :class:`~tickwork.stores._chains.ChainStore`)."""
        key = (downstream, epoch_us(slot))
        token = self._leases.get(key)
        if token is None:
            return False
        rows = released_rows(downstream, slot, upstream, epoch_us(now))
        with self._write("give back a chained run") as conn:
            if conn.execute("DELETE FROM leases WHERE token = ?", (token,)).rowcount != 1:
                rows = []  # (taken over meanwhile: the taker runs it)
            conn.executemany(_RELEASE, rows)
        self._leases.pop(key, None)
        return bool(rows)
