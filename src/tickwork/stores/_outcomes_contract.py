"""The queued runs' outcomes contract: :class:`~tickwork.stores._queue_outcomes.
QueueOutcomes` of a shared store, as pytest tests.

Part of ``tickwork.testing.SharedJobStoreContract`` (which subclasses this class): each
test runs for a shared store that keeps queued runs' outcomes and is skipped for one
that does not. A worker and the scheduler are stood for by two store objects on the
same data (the ``store`` and ``peer`` fixtures of the shared suite).
"""

from __future__ import annotations

from typing import Any

import pytest

from ._base import SharedJobStore
from ._queue_outcomes import QueueOutcomes

__all__ = ["QueueOutcomesContract"]

STARTED = "2026-03-01T12:00:00.250000+00:00"


def _outcomes(store: SharedJobStore) -> QueueOutcomes:
    if not isinstance(store, QueueOutcomes):
        pytest.skip(f"{type(store).__name__} keeps no queued runs' outcomes (QueueOutcomes)")
    return store


def _ended(value: Any, **more: Any) -> dict[str, Any]:
    return {"tickwork": 1, "ok": True, "value": value,
            "finished_at": "2026-03-01T12:00:01+00:00", "worker": "w1:7", **more}  # fmt: skip


class QueueOutcomesContract:
    """The :class:`~tickwork.stores._queue_outcomes.QueueOutcomes` tests of
    ``SharedJobStoreContract``."""

    def test_a_started_task_is_not_ended_until_its_outcome_is_written(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        worker, scheduler = _outcomes(peer), _outcomes(store)
        worker.record_start("t1", STARTED, "w1:7")
        assert scheduler.queue_outcomes(["t1", "unknown"]) == {}
        assert worker.record_outcome("t1", _ended({"n": [1, None, 1.5]}))
        # The start row's start goes with an outcome that has none of its own.
        assert scheduler.queue_outcomes(["t1", "unknown"]) == {
            "t1": _ended({"n": [1, None, 1.5]}, started_at=STARTED)
        }

    def test_the_first_outcome_and_the_first_start_win(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        first, second = _outcomes(store), _outcomes(peer)
        first.record_start("t2", STARTED, "w1:7")
        second.record_start("t2", "2026-03-01T13:00:00+00:00", "w2:8")
        failed = {"tickwork": 1, "ok": False, "error_type": "builtins.KeyError",
                  "error": "'k'", "traceback": "Traceback ...", "started_at": STARTED}  # fmt: skip
        assert first.record_outcome("t2", failed)
        assert not second.record_outcome("t2", _ended(2))
        assert second.queue_outcomes(["t2"]) == {"t2": failed}
        # An outcome written with no start noted before is kept whole too.
        assert second.record_outcome("t3", _ended(3, started_at=STARTED))
        assert not first.record_outcome("t3", _ended(4))
        assert first.queue_outcomes(["t3"])["t3"]["value"] == 3

    def test_forgotten_outcomes_are_gone_and_others_stay(self, store: SharedJobStore) -> None:
        outcomes = _outcomes(store)
        ids = [f"task-{n}" for n in range(700)]  # more than one IN list's worth
        for task_id in ids:
            assert outcomes.record_outcome(task_id, _ended(task_id))
        outcomes.record_start("only-started", STARTED, "w1:7")
        found = outcomes.queue_outcomes([*ids, *ids[:3]])
        assert sorted(found) == sorted(ids)
        assert all(found[task_id]["value"] == task_id for task_id in ids)
        outcomes.forget_outcomes([*ids[:650], "only-started"])
        assert sorted(outcomes.queue_outcomes(ids)) == sorted(ids[650:])
        # A forgotten id can be written again (a task id is a run's: never reused).
        assert outcomes.record_outcome(ids[0], _ended(0))
        outcomes.forget_outcomes([])

    def test_an_outcome_that_is_not_json_is_refused_naming_the_task(
        self, store: SharedJobStore
    ) -> None:
        outcomes = _outcomes(store)
        with pytest.raises(TypeError, match=r"'t5'.*not JSON"):
            outcomes.record_outcome("t5", {"ok": True, "value": object()})
        assert outcomes.queue_outcomes(["t5"]) == {}
