"""Chains in a ``PostgresStore`` (the contract: :class:`~tickwork.stores._chains.ChainStore`).

The ``chain_edges`` table follows the jobs' ``after``/``on`` options through triggers on
the ``jobs`` table that fire for chained jobs only (see the schema); ``record_runs``
writes the ``chain_pending`` rows of the runs that ended in the statement of their
history rows. :meth:`PGChains.claim_chain` locks the rows of one (downstream, slot)
(``FOR UPDATE``: a second claimer waits, then finds them gone), deletes them when they
are complete and leases the downstream run, as a claimed fire is leased, so a process
that dies while running it has it taken over.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from .._instants import epoch_us
from .._model import ChainOn, Upstream
from ._chains import ChainRow, claimed_rows, ready_slots, released_rows
from ._pg_connection import PGConnection

__all__ = ["PGChains"]


_READY = """
SELECT p.downstream, p.slot_us, min(p.zone) FROM {s}.chain_pending p
JOIN {s}.chain_edges e ON e.downstream = p.downstream AND e.upstream = p.upstream
GROUP BY p.downstream, p.slot_us
HAVING count(*) = (SELECT count(*) FROM {s}.chain_edges c WHERE c.downstream = p.downstream)
ORDER BY p.slot_us LIMIT %s
"""


class PGChains(PGConnection):
    """The :class:`~tickwork.stores._chains.ChainStore` methods of a ``PostgresStore``."""

    lease_time: float

    def chain_edges(self) -> dict[str, tuple[tuple[str, ...], ChainOn]]:
        edges: dict[str, tuple[list[str], str]] = {}
        rows = self._read(
            f"SELECT upstream, downstream, on_outcome FROM {self._s}.chain_edges "
            "ORDER BY downstream, upstream",
            (),
            "read the chains",
        )
        for upstream, downstream, on in rows:
            edges.setdefault(downstream, ([], on))[0].append(upstream)
        return {key: (tuple(ups), ChainOn(on)) for key, (ups, on) in edges.items()}

    def ready_chains(self, *, limit: int = 100) -> list[tuple[str, datetime]]:
        rows = self._read(_READY.format(s=self._s), (limit,), "read the chains")
        return ready_slots(rows)

    def claim_chain(
        self, downstream: str, slot: datetime, *, now: datetime
    ) -> list[ChainRow] | None:
        s = self._s
        slot_us = epoch_us(slot)
        expires = epoch_us(now) + round(self.lease_time * 1_000_000)
        with self._tx("claim a chained run") as tx:
            execute = tx.conn.execute
            rows = execute(
                f"SELECT upstream, zone, run_id, outcome, return_json, error "
                f"FROM {s}.chain_pending WHERE downstream = %s AND slot_us = %s "
                "ORDER BY upstream FOR UPDATE",
                (downstream, slot_us),
            ).fetchall()
            upstreams = {
                row[0]
                for row in execute(
                    f"SELECT upstream FROM {s}.chain_edges WHERE downstream = %s", (downstream,)
                )
            }
            if not rows or not upstreams <= {row[0] for row in rows}:
                return None  # not complete, or another process took them
            execute(
                f"DELETE FROM {s}.chain_pending WHERE downstream = %s AND slot_us = %s",
                (downstream, slot_us),
            )
            # The downstream run is leased as a claimed fire is: if this process dies
            # running it, another takes it over.
            token = execute(
                f"INSERT INTO {s}.leases (job_id, scheduled_us, attempt, owner, expires_us) "
                "VALUES (%s, %s, 1, %s, %s) ON CONFLICT DO NOTHING RETURNING token",
                (downstream, slot_us, self.owner, expires),
            ).fetchone()
            tx.wrote = True
        if token is not None:
            self._leases[(downstream, slot_us)] = token[0]
        return claimed_rows(downstream, slot_us, rows, upstreams)

    def release_chain(
        self, downstream: str, slot: datetime, upstream: Mapping[str, Upstream], *, now: datetime
    ) -> bool:
        """Give a claimed (downstream, slot) whose run never started back (see
        :class:`~tickwork.stores._chains.ChainStore`)."""
        s = self._s
        key = (downstream, epoch_us(slot))
        token = self._leases.get(key)
        if token is None:
            return False
        rows = released_rows(downstream, slot, upstream, epoch_us(now))
        with self._tx("give back a chained run") as tx:
            execute = tx.conn.execute
            if execute(f"DELETE FROM {s}.leases WHERE token = %s", (token,)).rowcount != 1:
                rows = []  # (taken over meanwhile: the taker runs it)
            for row in rows:
                execute(
                    f"INSERT INTO {s}.chain_pending (downstream, slot_us, zone, upstream, "
                    "run_id, outcome, return_json, error, recorded_us) VALUES "
                    "(%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    row,
                )
            tx.wrote = True
        self._leases.pop(key, None)
        return bool(rows)
