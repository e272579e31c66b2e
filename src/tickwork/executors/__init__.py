"""Executors: where job functions run.

* :class:`ThreadExecutor` (the default): a pool of worker threads; fast, no timeouts.
* :class:`AsyncioExecutor`: tasks on an event loop; coroutine functions, timeouts.
* :class:`ProcessExecutor`: worker processes; timeouts, isolation from crashes.
* :class:`InlineExecutor`: the calling thread, synchronously; for tests and simulations.

:class:`Executor` is the base class; its module documents the contract all of them keep.
:data:`RunHook` is what :meth:`Executor.add_run_hook` takes (the thread, inline and
asyncio executors run hooks around each job: ``tickwork.tracing`` makes its spans
current so).
"""

from __future__ import annotations

from .._context import RunHook
from ._base import Executor
from .asyncio import AsyncioExecutor
from .inline import InlineExecutor
from .process import ProcessExecutor
from .thread import ThreadExecutor

__all__ = [
    "AsyncioExecutor",
    "Executor",
    "InlineExecutor",
    "ProcessExecutor",
    "RunHook",
    "ThreadExecutor",
]
