"""Scheduler events and the listener registry."""

from __future__ import annotations

import enum
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["Event", "EventKind", "Listeners", "is_async"]

logger = logging.getLogger("tickwork")


class EventKind(enum.IntFlag):
    """What happened. Combine kinds with ``|`` to build a listener mask."""

    JOB_ADDED = enum.auto()
    JOB_MODIFIED = enum.auto()
    JOB_REMOVED = enum.auto()
    JOB_PAUSED = enum.auto()
    JOB_RESUMED = enum.auto()
    #: A run was handed to its executor.
    JOB_SUBMITTED = enum.auto()
    #: A run returned; ``return_value`` holds what it returned.
    JOB_EXECUTED = enum.auto()
    #: A run raised (after any retries); ``exception`` holds the error.
    JOB_FAILED = enum.auto()
    #: Fire times passed without a run (misfire grace time, catch-up policy);
    #: ``missed`` counts them.
    JOB_MISSED = enum.auto()
    #: A due run did not start because the job was at ``max_instances``.
    JOB_SKIPPED = enum.auto()
    #: A failed run will be retried; ``attempt`` is the attempt that failed.
    JOB_RETRIED = enum.auto()
    #: A run was cut off (shutdown, a timeout-free cancel, a dead worker process).
    JOB_INTERRUPTED = enum.auto()
    SCHEDULER_STARTED = enum.auto()
    SCHEDULER_PAUSED = enum.auto()
    SCHEDULER_RESUMED = enum.auto()
    SCHEDULER_SHUTDOWN = enum.auto()
    #: The job store failed (a write refused, the file deleted or replaced): dispatch
    #: waits until it answers again. ``exception`` holds the ``StoreError``. Emitted
    #: when the store starts failing, not again while it goes on failing.
    STORE_ERROR = enum.auto()

    JOB_ALL = (
        JOB_ADDED
        | JOB_MODIFIED
        | JOB_REMOVED
        | JOB_PAUSED
        | JOB_RESUMED
        | JOB_SUBMITTED
        | JOB_EXECUTED
        | JOB_FAILED
        | JOB_MISSED
        | JOB_SKIPPED
        | JOB_RETRIED
        | JOB_INTERRUPTED
    )
    SCHEDULER_ALL = (
        SCHEDULER_STARTED | SCHEDULER_PAUSED | SCHEDULER_RESUMED | SCHEDULER_SHUTDOWN | STORE_ERROR
    )
    ALL = JOB_ALL | SCHEDULER_ALL


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One thing that happened in a scheduler.

    ``at`` is when the scheduler noticed it; ``scheduled_at`` the nominal fire time
    of the run concerned (aware, in the trigger's zone). Fields that do not apply are
    None (or 0 for ``missed``).
    """

    kind: EventKind
    at: datetime
    job_id: str | None = None
    scheduled_at: datetime | None = None
    attempt: int | None = None
    return_value: Any = None
    exception: BaseException | None = None
    missed: int = 0
    reason: str | None = None
    #: For the end of a run (``JOB_EXECUTED``, ``JOB_FAILED``, ``JOB_RETRIED``,
    #: ``JOB_INTERRUPTED``): when it started, as its executor reported (None when it
    #: never started, or for a run cut off in another process).
    started_at: datetime | None = None


Listener = Callable[[Event], object]


#: What runs an ``async def`` listener's coroutine (the asyncio driver's: a task on its
#: loop). The coroutine never raises (see :func:`_guarded`).
Spawn = Callable[[Coroutine[Any, Any, None]], None]


def _name(callback: object) -> str:
    return getattr(callback, "__qualname__", None) or repr(callback)


def is_async(callback: object) -> bool:
    """Whether calling *callback* makes a coroutine (an ``async def`` function, a
    partial of one, or an object whose ``__call__`` is one; not a class, whose call
    makes an object). Listeners and job functions alike."""
    return inspect.iscoroutinefunction(callback) or (
        not isinstance(callback, type)
        and inspect.iscoroutinefunction(
            getattr(callback, "__call__", None)  # noqa: B004 - the method, not callable()
        )
    )


async def _guarded(awaitable: Awaitable[object], callback: object, kind: EventKind) -> None:
    try:
        await awaitable
    except Exception:
        logger.exception("tickwork: listener %r failed on %s", callback, kind.name)


class Listeners:
    """Listener registry. A listener that raises is logged and never stops dispatch.

    ``async def`` listeners need :attr:`spawn` (set by the asyncio driver): each call's
    coroutine is handed to it. Without it they are refused at :meth:`add`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: tuple[tuple[Listener, EventKind], ...] = ()
        self.mask = EventKind(0)
        self.spawn: Spawn | None = None

    def add(self, callback: Listener, mask: EventKind = EventKind.ALL) -> None:
        if not callable(callback):
            raise TypeError(f"listener must be callable, got {type(callback).__name__}")
        if not isinstance(mask, EventKind):
            raise TypeError(f"mask must be an EventKind (combine kinds with |), got {mask!r}")
        if self.spawn is None and is_async(callback):
            raise TypeError(
                f"listener {_name(callback)} is an async function, and this scheduler has "
                "no event loop to await it on: use AsyncScheduler, or a plain function "
                "(which may hand the work to a loop with asyncio.run_coroutine_threadsafe)"
            )
        with self._lock:
            self._entries = (*self._entries, (callback, mask))
            self.mask |= mask

    def remove(self, callback: Listener) -> None:
        with self._lock:
            kept = tuple(entry for entry in self._entries if entry[0] != callback)
            if len(kept) == len(self._entries):
                raise LookupError(f"listener {callback!r} is not registered")
            self._entries = kept
            mask = EventKind(0)
            for _, entry_mask in kept:
                mask |= entry_mask
            self.mask = mask

    def wants(self, kind: EventKind) -> bool:
        return bool(self.mask & kind)

    def emit(self, events: Iterable[Event]) -> None:
        entries = self._entries
        if not entries:
            return
        for event in events:
            for callback, mask in entries:
                if mask & event.kind:
                    try:
                        result = callback(event)
                    except Exception:
                        logger.exception(
                            "tickwork: listener %r failed on %s", callback, event.kind.name
                        )
                        continue
                    if result is not None and inspect.isawaitable(result):
                        self._await(result, callback, event.kind)

    def _await(self, awaitable: Awaitable[object], callback: object, kind: EventKind) -> None:
        """Hand an ``async`` listener's call to :attr:`spawn` (a lambda returning a
        coroutine is not found at :meth:`add`: without a loop it is closed, and logged)."""
        spawn = self.spawn
        if spawn is not None:
            spawn(_guarded(awaitable, callback, kind))
            return
        close = getattr(awaitable, "close", None)
        if close is not None:
            close()  # (no "never awaited" warning: it is reported here)
        logger.error(
            "tickwork: listener %r returned an awaitable on %s, and this scheduler has no "
            "event loop to await it on: use AsyncScheduler, or a plain function",
            callback,
            kind.name,
        )
