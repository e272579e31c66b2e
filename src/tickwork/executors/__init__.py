"""Executors: where job functions run.

* :class:`ThreadExecutor` (the default): a pool of worker threads; fast, no timeouts.
* :class:`AsyncioExecutor`: tasks on an event loop; coroutine functions, timeouts.
* :class:`ProcessExecutor`: worker processes; timeouts, isolation from crashes.
* :class:`InlineExecutor`: the calling thread, synchronously; for tests and simulations.
* :class:`CeleryExecutor`, :class:`RQExecutor`: a task queue's workers, on other
  machines (``docs/task-queues.md``); :class:`QueueExecutor` over an :class:`Enqueuer`
  for another queue.

:class:`Executor` is the base class; its module documents the contract all of them keep.
:data:`RunHook` is what :meth:`Executor.add_run_hook` takes (the thread, inline and
asyncio executors run hooks around each job: ``tickwork.tracing`` makes its spans
current so).
"""

from __future__ import annotations

from .._context import RunHook
from .._errors import RemoteJobError
from ._base import Executor
from ._celery import CeleryEnqueuer, CeleryExecutor
from ._queue import Enqueuer, QueuedTask, QueueExecutor
from ._rq import RQEnqueuer, RQExecutor
from .asyncio import AsyncioExecutor
from .inline import InlineExecutor
from .process import ProcessExecutor
from .thread import ThreadExecutor

__all__ = [
    "AsyncioExecutor",
    "CeleryEnqueuer",
    "CeleryExecutor",
    "Enqueuer",
    "Executor",
    "InlineExecutor",
    "ProcessExecutor",
    "QueueExecutor",
    "QueuedTask",
    "RQEnqueuer",
    "RQExecutor",
    "RemoteJobError",
    "RunHook",
    "ThreadExecutor",
]
