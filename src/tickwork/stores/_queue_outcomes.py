"""The store seam for runs handed to a task queue: :class:`QueueOutcomes`.

A run sent to a task queue (``CeleryExecutor(app, outcomes="store")``) runs on a
worker that may write to the scheduler's own store (a SQLite file on the same host, a
PostgreSQL database anywhere). The worker writes one row per task id: when the task
started (:meth:`QueueOutcomes.record_start`), then how it ended
(:meth:`QueueOutcomes.record_outcome`). The scheduler's collector reads the ended
ones (:meth:`QueueOutcomes.queue_outcomes`), records them in its run history as for
a local run, and deletes the rows it collected (:meth:`QueueOutcomes.forget_outcomes`).

Rules:

1. *First write wins*: a second delivery of a task (brokers deliver at least once)
   never replaces the start or the outcome the first one wrote. (Nor does it write
   once the first one's row is collected: the worker's guard answers it, and only the
   delivery that ran the job writes, unless its write failed; see
   ``executors._worker.run_guarded``.)
2. *Plain data*: an outcome is the worker's JSON-able dict (``ok``, ``value`` or
   ``error_type``/``error``/``traceback``, ``started_at``, ``finished_at``,
   ``worker``), stored as JSON text and given back equal.
3. A row is only ever deleted by :meth:`QueueOutcomes.forget_outcomes`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = ["QueueOutcomes", "outcome_json", "outcome_with_start"]


@runtime_checkable
class QueueOutcomes(Protocol):
    """A store that keeps the starts and outcomes of runs handed to a task queue (see
    the module docstring). :class:`~tickwork.stores.SQLiteStore` and
    :class:`~tickwork.stores.PostgresStore` are; a
    :class:`~tickwork.stores.MemoryStore` is not (no worker can reach it).

    Every method raises :class:`~tickwork.StoreError` when the store fails, having
    changed nothing.
    """

    def record_start(self, task_id: str, started_at: str, worker: str) -> None:
        """Note that *task_id* started at *started_at* (ISO 8601 text) on *worker*;
        a start already noted is kept."""
        ...

    def record_outcome(self, task_id: str, outcome: Mapping[str, Any]) -> bool:
        """Keep *outcome* (JSON-able) as how *task_id* ended, unless an outcome is kept
        already. Returns whether it was written."""
        ...

    def queue_outcomes(self, task_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The outcomes of the ended tasks among *task_ids*, by task id (with
        ``started_at`` from the start row when the outcome has none); tasks only
        started, or unknown, are left out."""
        ...

    def forget_outcomes(self, task_ids: Sequence[str]) -> None:
        """Delete the rows of *task_ids* (started or ended)."""
        ...


def outcome_json(task_id: str, outcome: Mapping[str, Any]) -> str:
    """*outcome* as JSON text.

    Raises:
        TypeError: *outcome* is not a mapping, or holds values that are not JSON; the
            message names the task.
    """
    if not isinstance(outcome, Mapping):
        raise TypeError(f"the outcome of task {task_id!r} must be a mapping, got {outcome!r}")
    try:
        return json.dumps(dict(outcome), separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise TypeError(f"the outcome of task {task_id!r} is not JSON ({error})") from None


def outcome_with_start(text: str, started_at: object) -> dict[str, Any]:
    """The outcome stored as *text*, with *started_at* (the start row's) when it has
    no start of its own."""
    outcome: dict[str, Any] = json.loads(text)
    if outcome.get("started_at") is None and started_at is not None:
        outcome["started_at"] = started_at
    return outcome
