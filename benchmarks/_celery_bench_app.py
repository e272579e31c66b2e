"""The Celery app of ``benchmarks/celery_handoff.py``'s workers and beat processes.

Configured from the environment the script gives each process: the broker and result
backend (``BENCH_REDIS``), and, for ``celery beat``, a schedule of ``BENCH_ENTRIES``
entries every ``BENCH_EVERY`` seconds of the ``bench.stamp`` task.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta

import redis
from celery import Celery

import tickwork.celery

URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/8")
app = Celery("tickwork_bench", broker=URL, backend=URL)
app.conf.update(worker_hijack_root_logger=False, result_expires=600)
if os.environ.get("BENCH_QUEUE"):
    app.conf.task_default_queue = os.environ["BENCH_QUEUE"]
tickwork.celery.setup(app)
_client = redis.Redis.from_url(URL)

if os.environ.get("BENCH_ENTRIES"):
    every = timedelta(seconds=float(os.environ.get("BENCH_EVERY", "1")))
    app.conf.beat_schedule = {
        f"entry-{i}": {
            "task": "bench.stamp",
            "schedule": every,
            "args": [f"entry-{i}", os.environ.get("BENCH_KEY", "bench:stamps")],
        }
        for i in range(int(os.environ["BENCH_ENTRIES"]))
    }
    app.conf.beat_max_loop_interval = 0.05


@app.task(name="bench.stamp")  # type: ignore[untyped-decorator]
def stamp(name: str, key: str) -> None:
    """Note (in the list *key*) when a beat entry's task started on a worker."""
    _client.rpush(key, f"{name} {time.time()!r}")


def noop() -> None:
    """The tickwork job of the lateness measurement."""


def note(key: str) -> None:
    """Note this run's id (the doubling measurement counts them)."""
    from tickwork import current_run

    _client.rpush(key, current_run().run_id)
