"""Outcomes of queued runs in a SQLite file: :class:`~tickwork.stores._queue_outcomes.
QueueOutcomes` for :class:`~tickwork.stores.SQLiteStore` (the rules are in
``_queue_outcomes``).

One table, ``queue_outcomes`` (schema in ``_sqlite_schema``): the task id, when it
started and where, and the outcome as JSON (NULL until it ends). "First write wins" is
an ``INSERT ... ON CONFLICT`` whose update applies only while no outcome is kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._queue_outcomes import outcome_json, outcome_with_start
from ._sqlite_connection import SQLiteConnection, in_lists

__all__ = ["SQLiteOutcomes"]

_START = (
    "INSERT INTO queue_outcomes (task_id, started_at, worker) VALUES (?, ?, ?) "
    "ON CONFLICT (task_id) DO NOTHING"
)
_END = (
    "INSERT INTO queue_outcomes (task_id, started_at, worker, outcome) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (task_id) DO UPDATE SET outcome = excluded.outcome, "
    "started_at = coalesce(queue_outcomes.started_at, excluded.started_at), "
    "worker = coalesce(queue_outcomes.worker, excluded.worker) "
    "WHERE queue_outcomes.outcome IS NULL"
)


class SQLiteOutcomes(SQLiteConnection):
    """The queued runs' outcomes of a SQLite file (a part of
    :class:`~tickwork.stores.SQLiteStore`)."""

    def record_start(self, task_id: str, started_at: str, worker: str) -> None:
        """Note the start of *task_id*; a start noted already is kept."""
        with self._write("record the start of a queued run") as conn:
            conn.execute(_START, (str(task_id), str(started_at), str(worker)))

    def record_outcome(self, task_id: str, outcome: Mapping[str, Any]) -> bool:
        """Keep *outcome* unless one is kept already; whether it was written."""
        text = outcome_json(task_id, outcome)
        started, worker = outcome.get("started_at"), outcome.get("worker")
        with self._write("record the outcome of a queued run") as conn:
            cursor = conn.execute(_END, (str(task_id), started, worker, text))
            return bool(cursor.rowcount == 1)

    def queue_outcomes(self, task_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The ended tasks among *task_ids*, by id."""
        found: dict[str, dict[str, Any]] = {}
        for marks, chunk in in_lists(list(dict.fromkeys(task_ids))):
            rows = self._read(
                "SELECT task_id, started_at, outcome FROM queue_outcomes "
                f"WHERE task_id IN ({marks}) AND outcome IS NOT NULL",
                chunk,
            )
            for task_id, started, text in rows:
                found[str(task_id)] = outcome_with_start(str(text), started)
        return found

    def forget_outcomes(self, task_ids: Sequence[str]) -> None:
        """Delete the rows of *task_ids*."""
        if not task_ids:
            return
        with self._write("forget the outcomes of queued runs") as conn:
            for marks, chunk in in_lists(list(dict.fromkeys(task_ids))):
                conn.execute(f"DELETE FROM queue_outcomes WHERE task_id IN ({marks})", chunk)
