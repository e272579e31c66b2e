"""The executor link: the engine's executors, and runs handed to them in batches.

The counterpart of ``_storelink`` for the other kind of plug-in. It holds the
configured executors by alias (a ``"default"`` one is always there), starts each at
its first run (after the driver has prepared it: the asyncio driver gives an
``AsyncioExecutor`` its loop), hands a decision's runs to each executor in one call,
and turns a run that cannot start (an executor this process lacks, one that refuses)
into an ``INTERRUPTED`` result instead of losing it. Once the scheduler shuts down it
starts nothing more: what the executors hold unstarted, and what it is handed after,
goes back to the engine (:meth:`ExecutorLink.take_unstarted`). It decides nothing
about what runs.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref
from collections.abc import Callable, Collection, Iterator, Mapping
from operator import itemgetter
from typing import Any

from ._clock import Clock
from ._context import request_fields
from ._errors import SchedulerStateError
from ._model import Outcome, RunRequest, RunResult
from .executors import Executor

__all__ = ["ExecutorLink"]

logger = logging.getLogger("tickwork")
#: The scheduler (its link) each executor serves, while it runs.
_owners: weakref.WeakKeyDictionary[Executor, ExecutorLink] = weakref.WeakKeyDictionary()
_ALIAS = itemgetter(0)
_REQUEST = itemgetter(1)


def _fields(requests: list[RunRequest]) -> dict[str, object] | None:
    """The run fields of a record about *requests*: those of the run, if it is one (a
    record about many runs at once carries none; each run's event names it)."""
    return request_fields(requests[0]) if len(requests) == 1 else None


class ExecutorLink:
    """The executors of one engine (see the module docstring)."""

    def __init__(
        self,
        executors: Mapping[str, Executor] | None,
        defaults: Callable[[], dict[str, Executor]],
    ) -> None:
        """Take the configured *executors* (None or empty: ``defaults()``).

        Raises:
            TypeError: *executors* is not a mapping of alias (a str) to ``Executor``.
        """
        self.executors: dict[str, Executor] = {}
        if executors is not None and not isinstance(executors, Mapping):
            raise TypeError(f"executors must be a mapping of alias to Executor, got {executors!r}")
        for alias, executor in (executors or defaults()).items():
            if not isinstance(alias, str) or not alias:
                raise TypeError(f"an executor alias must be a non-empty str, got {alias!r}")
            if not isinstance(executor, Executor):
                raise TypeError(f"executor {alias!r} must be an Executor, got {executor!r}")
            self.executors[alias] = executor
        if "default" not in self.executors:
            # Only extra executors given (say {"cpu": ProcessExecutor()}): jobs without
            # executor= still need somewhere to run, as when none are given.
            self.executors["default"] = defaults()["default"]
        self._started: set[str] = set()
        self._lock = threading.Lock()
        # Shutting down or pausing (take_unstarted was called): runs handed over are
        # held here, not submitted (guarded by _lock).
        self._holding = False
        self._held: list[RunRequest] = []
        self._report_held: Callable[[RunResult], None] | None = None
        #: Whether its scheduler has claimed the executors and not shut them down yet.
        self.live = False

    def claim(self) -> None:
        """Take the executors for this scheduler, as it starts: one that another
        scheduler started and has not shut down is refused (runs and their results
        would cross between the two; give each scheduler executors of its own).

        Raises:
            SchedulerStateError: an executor is in use by another running scheduler.
        """
        tracked = []
        for alias, executor in self.executors.items():
            try:
                owner = _owners.get(executor)
            except TypeError:  # (an executor that cannot be a weak key: not tracked)
                continue
            if owner is not None and owner is not self and owner.live:
                raise SchedulerStateError(
                    f"executor {alias!r} is in use by another scheduler that has not shut "
                    "down; give each scheduler executors of its own"
                )
            tracked.append(executor)
        for executor in tracked:
            _owners[executor] = self
        self.live = True

    def started(self) -> list[Executor]:
        """The executors that have been started (each at its first run)."""
        return [self.executors[alias] for alias in list(self._started)]

    def submit(
        self,
        runs: list[tuple[str, RunRequest]],
        *,
        report: Callable[[RunResult], None],
        clock: Clock,
        prepare: Callable[[Executor], None],
    ) -> None:
        """Hand *runs* (executor alias, request) over, one call per executor; start an
        executor first if it has not run anything yet (``prepare``, then ``start``
        with *report* and *clock*). A run that cannot start is reported ``INTERRUPTED``
        through *report*, with the reason."""
        if self._holding:
            with self._lock:
                if self._holding:
                    self._held += map(_REQUEST, runs)
                    self._report_held = report
                    return
        by_executor: dict[str, list[Any]] = {}
        if len(set(map(_ALIAS, runs))) == 1:
            # Most often all go to one executor (10,000 due runs, say): two passes in C.
            by_executor[runs[0][0]] = list(map(_REQUEST, runs))
        else:
            for alias, request in runs:
                group = by_executor.get(alias)
                if group is None:
                    group = by_executor[alias] = []
                group.append(request)
        for alias, requests in by_executor.items():
            executor = self.executors.get(alias)
            if executor is None:
                # A job stored by a process configured with more executors.
                error: Exception = LookupError(
                    f"no executor named {alias!r} in this process (it has "
                    f"{', '.join(sorted(self.executors))}); configure the same executors "
                    "in every process that shares a store"
                )
                logger.error("tickwork: %s; %d run(s) not started", error, len(requests),
                             extra=_fields(requests))  # fmt: skip
                for request in requests:
                    report(RunResult(request, Outcome.INTERRUPTED, exception=error))
                continue
            if alias not in self._started:
                try:
                    with self._lock:
                        if alias not in self._started:
                            prepare(executor)
                            executor.start(report, clock)
                            self._started.add(alias)
                except Exception as error:
                    # (Say an asyncio executor held by another loop.) Its runs end here,
                    # with the reason; the other executors' runs go on.
                    logger.error("tickwork: executor %r could not start: %s; %d run(s) not "
                                 "started", alias, error, len(requests),
                                 extra=_fields(requests))  # fmt: skip
                    for request in requests:
                        report(RunResult(request, Outcome.INTERRUPTED, exception=error))
                    continue
            try:
                executor.submit_many(requests)
            except Exception as error:
                logger.exception("tickwork: executor %r refused %d run(s)", alias, len(requests),
                                 extra=_fields(requests))  # fmt: skip
                for request in requests:
                    report(RunResult(request, Outcome.INTERRUPTED, exception=error))

    def take_unstarted(self) -> list[RunRequest]:
        """From now on nothing handed over starts: runs submitted later are held here,
        and no started executor starts one it holds. Returns the runs held since the
        last call and those the executors held unstarted (``Executor.take_unstarted``;
        one that fails is logged and left to report its own at shutdown)."""
        with self._lock:
            self._holding = True
            taken, self._held = self._held, []
        for alias in list(self._started):
            try:
                taken += self.executors[alias].take_unstarted()
            except Exception:
                logger.exception("tickwork: executor %r failed to hand back its queue", alias)
        return taken

    def hold(self) -> None:
        """From now on, runs handed over are held here (pausing: see :meth:`release`)."""
        with self._lock:
            self._holding = True

    def release(self) -> list[RunRequest]:
        """Hand runs over again after :meth:`hold`; returns the runs held meanwhile."""
        with self._lock:
            self._holding = False
            held, self._held = self._held, []
        return held

    def withdraw(self, job_ids: Collection[str]) -> list[RunRequest]:
        """The runs of *job_ids* the started executors hold unstarted, taken back
        (``Executor.withdraw``; one that fails is logged, and its runs start)."""
        taken: list[RunRequest] = []
        for alias in list(self._started):
            try:
                taken += self.executors[alias].withdraw(job_ids)
            except Exception:
                logger.exception("tickwork: executor %r failed to give runs back", alias)
        return taken

    def shutdown(
        self, wait: bool, timeout: float | None, tend: Callable[[], None] | None = None
    ) -> None:
        """Shut down every started executor; one that fails to is logged, not raised.
        Runs held since the last :meth:`take_unstarted` are reported ``INTERRUPTED``.
        While it waits for running jobs, *tend* is called every :data:`TEND_EVERY`
        seconds (:func:`tended`)."""
        with self._lock:
            held, self._held = self._held, []
        for request in held:
            assert self._report_held is not None
            self._report_held(RunResult(request, Outcome.INTERRUPTED))
        with tended(tend if wait and self._started else None):
            for alias in list(self._started):
                try:
                    self.executors[alias].shutdown(wait=wait, timeout=timeout)
                except Exception:
                    logger.exception("tickwork: executor %r failed to shut down", alias)
        self.live = False


#: How often (seconds) a shutdown that waits for running jobs looks after the store.
TEND_EVERY = 0.05


@contextlib.contextmanager
def tended(tend: Callable[[], None] | None) -> Iterator[None]:
    """Call *tend* every :data:`TEND_EVERY` seconds, in a thread of its own, while the
    block runs: a shutdown waiting for running jobs, once the driver's thread (or task),
    which renews the leases of a shared store and records the runs that end, has
    stopped. A run still going must keep its claim (another process would run it
    again), and one that ended must be recorded and let go at once, not when the last
    ends (a worker killed meanwhile would leave it to be run again). None: nothing to
    look after."""
    if tend is None:
        yield
        return
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(TEND_EVERY):
            try:
                tend()
            except Exception:
                logger.exception("tickwork: could not look after the store while shutting down")

    thread = threading.Thread(target=loop, name="tickwork-shutdown-upkeep", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
