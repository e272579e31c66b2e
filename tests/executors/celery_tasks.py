"""Celery tasks defined as users define them (``@app.task`` at the top level of a
module), for the tests of what a job's function may be. The app has no broker the
tests connect to: nothing here is sent."""

from __future__ import annotations

from celery import Celery

app = Celery("tickwork_tests_tasks", broker="memory://", backend="cache+memory://")


@app.task(name="tickwork_tests.tasks.double", bind=True, autoretry_for=(ValueError,),
          max_retries=1)  # fmt: skip
def double(self: object, value: int) -> int:
    """A bound task with Celery's own retries: ``@app.task`` wraps its body."""
    return value * 2


@app.task(name="tickwork_tests.tasks.plain")
def plain(value: int) -> int:
    return value
