"""The module-level API on a default scheduler: ``tickwork.every(10).minutes.do(job)``.

As the ``schedule`` library spells it, but jobs run in a background thread without a
``run_pending()`` loop.
"""

from __future__ import annotations

import os
import threading

from ._engine import SchedulerState
from ._fluent import JobBuilder, _builder
from .scheduler import Scheduler

__all__ = ["default_scheduler", "every"]

_default_lock = threading.Lock()
_default: Scheduler | None = None


def default_scheduler() -> Scheduler:
    """The scheduler that :func:`tickwork.every` adds jobs to, created on first use.

    It is a :class:`~tickwork.Scheduler` with the defaults (the local timezone, a
    :class:`~tickwork.executors.ThreadExecutor`, a memory store) and daemon threads, so
    it never keeps the program alive: keep the main thread busy (for instance with
    ``default_scheduler().run_forever()``). It starts on the first ``every(...).do()``;
    jobs added to it otherwise (``default_scheduler().add_job(...)``) wait for that or
    for an explicit ``start()``. After it is shut down, the next call makes a new one.
    """
    global _default
    with _default_lock:
        if _default is None or _default.state is SchedulerState.SHUTDOWN or _default._forked():
            # (Forked from the process that started it: it does not run here.)
            _default = Scheduler()
        return _default


def _set_default_scheduler(scheduler: Scheduler | None) -> Scheduler | None:
    """Install *scheduler* as the default (None: make a new one on next use); return the
    previous one. For tests."""
    global _default
    with _default_lock:
        previous, _default = _default, scheduler
    return previous


def _after_fork() -> None:
    """In a forked child: a fresh lock (the parent's thread may have held this one at
    the fork); a default scheduler the parent started does not run here, and the next
    call makes a new one."""
    global _default_lock, _default
    _default_lock = threading.Lock()
    if _default is not None and _default._forked():
        _default = None


if hasattr(os, "register_at_fork"):  # (not on Windows)
    os.register_at_fork(after_in_child=_after_fork)


def _start_if_stopped(scheduler: Scheduler) -> None:
    with _default_lock:
        if scheduler.state is SchedulerState.STOPPED:
            scheduler.start()


def every(interval: float = 1) -> JobBuilder:
    """Start a chain on the default scheduler: ``tickwork.every(10).minutes.do(job)``.

    The first ``.do()`` starts the default scheduler (see :func:`default_scheduler`),
    so jobs run without a ``run_pending()`` loop, in worker threads.

    Raises:
        ValueError: *interval* is not positive. TypeError: it is not a number.
    """
    scheduler = default_scheduler()
    return _builder(scheduler.engine, interval, on_added=lambda: _start_if_stopped(scheduler))
