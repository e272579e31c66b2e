"""The outcome record of a named Celery task (``executors._celery_outcomes``), on the
tests' Redis result backend, without a worker: Celery's retry race played by hand."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tickwork.executors import _celery_outcomes
from tickwork.executors._celery import CeleryEnqueuer
from tickwork.executors._celery_outcomes import outcome_key, record_outcome

from . import queues

# Celery's Redis backend stores a state with an expiry through redis-py's setex, which
# redis-py 8.1 (what pip picks on Python 3.10) marks deprecated; the tests write states
# in this process, so Celery's own deprecation is not theirs to fail on.
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning")


@pytest.fixture
def app() -> Iterator[Any]:
    from celery import Celery

    queues.require_redis()
    made = Celery("tickwork_tests", broker=queues.REDIS, backend=queues.REDIS)
    yield made
    queues.close_app(made)


def test_a_late_retry_state_does_not_hide_the_recorded_success(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = str(uuid.uuid4())
    enqueuer = CeleryEnqueuer(app, task="proj.named")
    # The retry ran at once and succeeded (the hook recorded it); the first try, which
    # had read the state before that, stores RETRY over the success.
    app.backend.mark_as_done(task_id, 7)
    assert record_outcome(app.backend, task_id, {"tickwork": 1, "ok": True, "value": 7})
    with monkeypatch.context() as patch:
        pending = {"status": "PENDING", "result": None}
        patch.setattr(app.backend, "_get_task_meta_for", lambda _: pending)
        app.backend.mark_as_retry(task_id, ValueError("first try"))
    assert app.backend.get_task_meta(task_id)["status"] == "RETRY"
    found = enqueuer.results([task_id])
    assert found[task_id]["ok"] is True
    assert found[task_id]["value"] == 7
    app.backend.client.delete(outcome_key(app.backend, task_id))


def test_the_first_recorded_outcome_wins(app: Any) -> None:
    task_id = str(uuid.uuid4())
    assert record_outcome(app.backend, task_id, {"tickwork": 1, "ok": True, "value": 1})
    failed = {"tickwork": 1, "ok": False, "error_type": "x.Y", "error": "again"}
    assert not record_outcome(app.backend, task_id, failed)
    (outcome,) = CeleryEnqueuer(app, task="proj.named").results([task_id]).values()
    assert outcome["value"] == 1
    app.backend.client.delete(outcome_key(app.backend, task_id))


def test_a_final_state_waits_for_the_record_that_carries_the_start(app: Any) -> None:
    task_id = str(uuid.uuid4())
    enqueuer = CeleryEnqueuer(app, task="proj.named")
    # Celery stores the final state, then sends task_success, whose hook writes the
    # record (with the start time): read between the two, the state waits for it.
    app.backend.mark_as_done(task_id, 7)
    assert enqueuer.results([task_id]) == {}
    started = "2026-03-29T01:30:00.250000+00:00"
    record = {"tickwork": 1, "ok": True, "value": 7, "started_at": started}
    assert record_outcome(app.backend, task_id, record)
    assert enqueuer.results([task_id])[task_id]["started_at"] == started
    app.backend.client.delete(outcome_key(app.backend, task_id))


def test_an_expired_task_is_read_at_once_from_its_state(app: Any) -> None:
    task_id = str(uuid.uuid4())
    # (Revoked unstarted: no task code ran, no hook records anything.)
    app.backend.mark_as_revoked(task_id, "expired")
    found = CeleryEnqueuer(app, task="proj.named").results([task_id])
    assert found[task_id]["expired"] is True


def test_without_a_record_the_backend_state_is_read(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    enqueuer = CeleryEnqueuer(app, task="proj.named")
    retrying, failed = str(uuid.uuid4()), str(uuid.uuid4())
    app.backend.mark_as_retry(retrying, ValueError("once"))
    app.backend.mark_as_failure(failed, KeyError("gone"))
    # Waited for while a hook's record may still come (a worker without the hooks,
    # or an end no task code reports, has none) ...
    assert enqueuer.results([retrying, failed]) == {}
    # ... then read from the state.
    monkeypatch.setattr(_celery_outcomes, "RECORD_WAIT", 0.0)
    found = enqueuer.results([retrying, failed])
    # A retry is not an end; a failure is, with its exception's type and text.
    assert list(found) == [failed]
    assert found[failed]["ok"] is False
    assert found[failed]["error_type"] == "builtins.KeyError"
    assert "gone" in found[failed]["error"]


def test_a_tickwork_error_of_a_celery_task_is_named_as_a_local_runs_history_names_it() -> None:
    from tickwork import JobLookupError

    kind = _celery_outcomes.celery_error_type
    assert kind(JobLookupError) == "tickwork.JobLookupError"  # (not tickwork._errors.)
    assert kind(ValueError) == "builtins.ValueError"
