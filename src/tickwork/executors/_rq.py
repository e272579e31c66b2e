"""``RQExecutor``: runs handed to RQ workers (the ``tickwork[rq]`` extra).

The proof that an :class:`~tickwork.executors.Enqueuer` is small: runs are enqueued in
one pipeline per batch as RQ jobs of :func:`perform` (which RQ workers import by its
name, so they need only tickwork installed: ``rq worker <queue>``), with the run's task
id as the RQ job id, ``ttl`` = seconds until nominal time + misfire grace, and the
job's ``timeout`` as RQ's. :func:`perform` runs the message under the same Redis guard
as the Celery task. Outcomes are read back with ``Job.fetch_many``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from .._checks import seconds
from ._queue import QueuedTask, QueueExecutor
from ._worker import RedisGuard, run_guarded

__all__ = ["RQEnqueuer", "RQExecutor", "perform"]

#: What RQ workers import to run a tickwork message.
PERFORM = "tickwork.executors._rq.perform"
#: Seconds RQ keeps a finished job's result (the collector reads it well before).
RESULT_TTL = 3600
#: RQ's job timeout for "no limit" (None would be the queue's default, 180 s).
NO_LIMIT = -1


def _check_connection(connection: object) -> None:
    """Refuse what is not a ``redis.Redis`` client (a URL, None), which RQ would take
    and fail on at each run, far from the call."""
    import redis

    if isinstance(connection, redis.Redis):
        return
    hint = ""
    if isinstance(connection, str):
        hint = f"; for a URL, give redis.Redis.from_url({connection!r})"
    raise TypeError(
        f"connection must be a redis.Redis client, got {type(connection).__name__} "
        f"{connection!r}{hint}"
    )


def _import_rq() -> Any:
    try:
        import rq
    except ImportError as error:  # pragma: no cover - rq is in the test extra
        raise ImportError(
            "RQExecutor needs RQ: install tickwork[rq] (pip install 'tickwork[rq]')"
        ) from error
    return rq


def perform(task_id: str, message: Mapping[str, Any], lease: float = 10.0) -> dict[str, Any]:
    """Run a tickwork message on an RQ worker, once per *task_id* (RQ calls this)."""
    from rq import get_current_job
    from rq.timeouts import JobTimeoutException

    job = get_current_job()
    guard = None if job is None else RedisGuard(job.connection, lease=lease)
    return run_guarded(task_id, message, guard, (JobTimeoutException,))


class RQEnqueuer:
    """The :class:`~tickwork.executors.Enqueuer` of an RQ queue.

    Args:
        connection: a ``redis.Redis`` client (``decode_responses`` off, as RQ needs).
        queue: the RQ queue's name.
        lease: the guard's lease on a running job, in seconds (see
            ``tickwork.celery.setup``); a started job whose lease has been gone this
            long is reported as ``WorkerDied``.
    """

    def __init__(self, connection: Any, *, queue: str = "default", lease: float = 10.0) -> None:
        rq = _import_rq()
        _check_connection(connection)
        if not isinstance(queue, str) or not queue:
            raise TypeError(f"queue must be a queue name (str), got {queue!r}")
        # (Checked here, not on the workers, where a bad lease failed every run.)
        self.lease = seconds(lease, "lease", positive=True)
        self.connection = connection
        self.queue = rq.Queue(queue, connection=connection)
        # Started RQ jobs seen without a guard lease: since when (time.monotonic()).
        self._unleased: dict[str, float] = {}
        # When each task sent with an expiry expires: RQ deletes a job whose ttl ran
        # out unstarted, so a job gone after this is one that expired.
        self._expires: dict[str, datetime] = {}

    def send(self, tasks: Sequence[QueuedTask]) -> None:
        """Enqueue *tasks* in one pipeline (see :class:`~tickwork.executors.Enqueuer`)."""
        now = datetime.now(timezone.utc)
        datas = []
        for task in tasks:
            ttl = None
            if task.expires is not None:
                ttl = max(1, math.ceil((task.expires - now).total_seconds()))
                self._expires[task.task_id] = now + timedelta(seconds=ttl)
            # RQ reads a None timeout as its queue's default (180 s); tickwork's None is
            # no limit, which RQ spells -1.
            timeout = NO_LIMIT if task.timeout is None else max(1, math.ceil(task.timeout))
            datas.append(
                self.queue.prepare_data(
                    PERFORM,
                    args=(task.task_id, task.message, self.lease),
                    job_id=task.task_id,
                    ttl=ttl,
                    timeout=timeout,
                    result_ttl=RESULT_TTL,
                    failure_ttl=RESULT_TTL,
                )
            )
        with self.connection.pipeline() as pipe:
            self.queue.enqueue_many(datas, pipeline=pipe)
            pipe.execute()

    def results(self, task_ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        """Outcomes of the finished (or failed) RQ jobs among *task_ids*; and of those
        RQ still shows as started whose worker died (see :meth:`_started`)."""
        from rq.job import Job, JobStatus

        found: dict[str, Mapping[str, Any]] = {}
        started: list[str] = []
        jobs = Job.fetch_many(task_ids, connection=self.connection)
        now = datetime.now(timezone.utc)
        for task_id, job in zip(task_ids, jobs, strict=True):
            if job is None:
                expires = self._expires.get(task_id)
                if expires is not None and expires <= now:
                    del self._expires[task_id]
                    found[task_id] = {
                        "ok": False,
                        "expired": True,
                        "error_type": "rq.job.Expired",
                        "error": "the task expired (its RQ ttl ran out) before a worker started it",
                    }
                continue
            status = job.get_status(refresh=False)
            if status != JobStatus.QUEUED:
                self._expires.pop(task_id, None)  # taken by a worker: it cannot expire
            if status == JobStatus.STARTED:
                started.append(task_id)
                continue
            self._unleased.pop(task_id, None)
            if status == JobStatus.FINISHED:
                value = job.return_value(refresh=False)
                if isinstance(value, dict) and value.get("tickwork") == 1:
                    found[task_id] = value
            elif status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
                # (job.exc_info is deprecated since RQ 1.12: the latest result has it.)
                result = job.latest_result()
                text = str(getattr(result, "exc_string", None) or "")
                found[task_id] = _failure(text, str(status))
        if started:
            found.update(self._started(started))
        return found

    def _started(self, task_ids: list[str]) -> dict[str, Mapping[str, Any]]:
        """The runs among *task_ids* (RQ jobs still marked started) whose worker died.

        RQ marks a job failed when its work horse dies, but a worker that dies itself
        (killed, its machine lost) leaves the job "started" until another worker's
        maintenance, minutes later. The guard's lease tells: a live worker renews it
        every third of ``lease``, so a lease missing for longer than ``lease`` (timed
        here, so the clocks of the machines do not matter) means the worker is gone.
        An outcome in its place (the worker died after the job, before RQ stored the
        result) is the run's outcome."""
        guard = RedisGuard(self.connection, lease=self.lease)
        values = self.connection.mget([guard.prefix + task_id for task_id in task_ids])
        clock = time.monotonic()
        found: dict[str, Mapping[str, Any]] = {}
        for task_id, value in zip(task_ids, values, strict=True):
            text = "" if value is None else value.decode() if isinstance(value, bytes) else value
            if text.startswith("done:"):
                self._unleased.pop(task_id, None)
                found[task_id] = json.loads(text[5:])
            elif text:
                self._unleased.pop(task_id, None)
            elif clock - self._unleased.setdefault(task_id, clock) > self.lease:
                del self._unleased[task_id]
                found[task_id] = {
                    "ok": False,
                    "error_type": "tickwork.WorkerDied",
                    "error": f"the worker stopped renewing its lease for over {self.lease} s "
                    "while the RQ job was started",
                }
        return found

    def started(self, task_ids: Sequence[str]) -> dict[str, datetime]:
        """When a worker started each of *task_ids*, as RQ recorded it (see
        :class:`~tickwork.executors.Enqueuer`)."""
        from rq.job import Job

        found: dict[str, datetime] = {}
        jobs = Job.fetch_many(list(task_ids), connection=self.connection)
        for task_id, job in zip(task_ids, jobs, strict=True):
            if job is None or job.started_at is None:
                continue  # (not taken by a worker, or gone)
            moment = job.started_at
            found[task_id] = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        return found

    def close(self) -> None:
        """Nothing to release: the caller owns the connection."""


def _failure(text: str, status: str) -> dict[str, Any]:
    """The outcome of an RQ job that failed with *text* (its exception string)."""
    text = text.strip()
    last = text.splitlines()[-1] if text else status
    if "Work-horse terminated" in text or "AbandonedJobError" in text:
        kind = "tickwork.WorkerDied"  # its work horse died, or its worker did
    elif "JobTimeoutException" in text:
        kind = "tickwork.JobTimeout"
    else:
        kind = "rq.job.JobFailed"
    return {"ok": False, "error_type": kind, "error": last, "traceback": text}


class RQExecutor(QueueExecutor):
    """Hands runs to RQ workers (``rq worker <queue>``; see ``docs/task-queues.md``).

    Args:
        connection: a ``redis.Redis`` client for the queue (RQ's).
        queue: the RQ queue's name.
        poll_interval: seconds between two reads of the jobs' outcomes.
        resend_after: seconds after which a run with no outcome yet is sent again, the
            same task (see :class:`~tickwork.executors.QueueExecutor`); None: never.
        lease: the workers' guard lease on a running job, in seconds; a run whose
            worker died mid-run is reported as ``WorkerDied`` about this long after.

    Raises:
        ImportError: RQ is not installed (``pip install 'tickwork[rq]'``).
        TypeError: *connection* is not a ``redis.Redis`` client (a URL: give
            ``redis.Redis.from_url(url)``), *queue* not a name, or a number not a number.
        ValueError: *poll_interval*, *resend_after* or *lease* is not a positive,
            finite number of seconds.
    """

    def __init__(
        self,
        connection: Any,
        *,
        queue: str = "default",
        poll_interval: float = 0.01,
        resend_after: float | None = 30.0,
        lease: float = 10.0,
    ) -> None:
        super().__init__(
            RQEnqueuer(connection, queue=queue, lease=lease),
            poll_interval=poll_interval,
            resend_after=resend_after,
        )
