"""Outcomes of queued runs in PostgreSQL: :class:`~tickwork.stores._queue_outcomes.
QueueOutcomes` for :class:`~tickwork.stores.PostgresStore` (the rules are in
``_queue_outcomes``).

The table ``queue_outcomes`` (schema in ``_pg_schema``) is the SQLite store's. Its
writes send no ``NOTIFY``: the scheduler's collector polls for outcomes anyway, and
waking every scheduler on the schema for each ended task would cost them all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._pg_connection import PGConnection
from ._queue_outcomes import outcome_json, outcome_with_start

__all__ = ["PGOutcomes"]

_START = (
    "INSERT INTO {s}.queue_outcomes (task_id, started_at, worker) VALUES (%s, %s, %s) "
    "ON CONFLICT (task_id) DO NOTHING"
)
_END = (
    "INSERT INTO {s}.queue_outcomes AS q (task_id, started_at, worker, outcome) "
    "VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (task_id) DO UPDATE SET outcome = excluded.outcome, "
    "started_at = coalesce(q.started_at, excluded.started_at), "
    "worker = coalesce(q.worker, excluded.worker) "
    "WHERE q.outcome IS NULL"
)


class PGOutcomes(PGConnection):
    """The queued runs' outcomes of a PostgreSQL schema (a part of
    :class:`~tickwork.stores.PostgresStore`)."""

    def record_start(self, task_id: str, started_at: str, worker: str) -> None:
        """Note the start of *task_id*; a start noted already is kept."""
        with self._tx("record the start of a queued run") as tx:
            tx.conn.execute(_START.format(s=self._s), (str(task_id), str(started_at), str(worker)))

    def record_outcome(self, task_id: str, outcome: Mapping[str, Any]) -> bool:
        """Keep *outcome* unless one is kept already; whether it was written."""
        text = outcome_json(task_id, outcome)
        started, worker = outcome.get("started_at"), outcome.get("worker")
        with self._tx("record the outcome of a queued run") as tx:
            cursor = tx.conn.execute(_END.format(s=self._s), (str(task_id), started, worker, text))
            return bool(cursor.rowcount == 1)

    def queue_outcomes(self, task_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The ended tasks among *task_ids*, by id."""
        if not task_ids:
            return {}
        rows = self._read(
            f"SELECT task_id, started_at, outcome FROM {self._s}.queue_outcomes "
            "WHERE task_id = ANY(%s::text[]) AND outcome IS NOT NULL",
            (list(task_ids),),
            "read the outcomes of queued runs",
        )
        return {
            str(task_id): outcome_with_start(str(text), started) for task_id, started, text in rows
        }

    def forget_outcomes(self, task_ids: Sequence[str]) -> None:
        """Delete the rows of *task_ids*."""
        if not task_ids:
            return
        with self._tx("forget the outcomes of queued runs") as tx:
            tx.conn.execute(
                f"DELETE FROM {self._s}.queue_outcomes WHERE task_id = ANY(%s::text[])",
                (list(task_ids),),
            )
