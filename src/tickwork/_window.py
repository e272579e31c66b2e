"""The window: which stored jobs the core holds, for a store too big to hold whole.

Theory of operation
-------------------
A store that lists its jobs in due order (:class:`~tickwork.stores.WindowedJobStore`)
is not loaded whole: the core holds a *window*, the jobs due next, read a page at a
time with :meth:`~tickwork.stores.WindowedJobStore.due_jobs`. Every job has a *key*,
``(next fire µs, id)`` (paused jobs and jobs with no fire time left have none), and the
window has a *bound*, the key of the last job read. One invariant makes it correct:

    every stored job whose key is at most the bound is in the core.

It holds because the store lists keys in order, and because every way a job's key can
move below the bound goes through :meth:`Window.admits`: this process's changes
(``add_job``, ``modify_job``, ``resume_job``...), and other processes' changes, which
:meth:`~tickwork.stores.SharedJobStore.sync` reports (a store counts those from the
first page, and no later read moves that point, so none is missed). A job whose key
moves past the bound (it fired, it was changed, another process claimed its fire) may
stay in the core; it is *evicted* once idle, by a sweep before each page is read (and
whenever the core has grown past twice a window). The store still has it, and a later
page reads it again.

The next page is read *ahead of time*: each page marks a *refill* key half-way
through it, and once nothing in the core comes due before that key (the first half of
the page has fired, or was paused or removed), the page after the bound is read. So
the core holds one to two windows of jobs, and jobs due at one instant (any number of
them) stream through it a page at a time: a backlog after downtime is caught up page
by page (the first page, read by ``start()``, is smaller, so that it returns at
once). :meth:`Window.behind` tells the dispatch step to step again at once while a
page is wanted; :meth:`Window.advance` reads it.

A store may split the jobs due now between the processes that use it
(``share_due_jobs``, optional: PostgreSQL's, SQLite's): its page leaves out the due jobs
that are another process's share, and says which key it reached; the jobs left out are
ones whose key is within the bound but which the core does not hold, and the store's
``sync`` reports each that this process is to take in after all (the other process
claimed or changed it, or did not claim it in time), so the invariant above holds up to
those reports.

A page shorter than a window means every job was read: the window is then *whole*
(its bound is past every key), and the core holds every job that can fire, as with a
store loaded whole, with no page reads and no evictions. It becomes bounded again,
at the key of the window-th job the core holds, if the core grows past twice a window
(jobs added since).

Window reads never replace a job the core holds already: the core's copy is as new as
the store's (this process writes through, other processes' changes come by sync).
Nothing here reads the clock.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from datetime import datetime

from ._core import SchedulerCore
from ._errors import JobLookupError
from ._instants import EPOCH as _EPOCH
from ._instants import US as _US
from ._jobstate import JobState, listening
from ._model import Job
from .stores import SharedJobStore, WindowedJobStore
from .triggers.event import listens_for_events

__all__ = ["SIZE", "Window", "changes"]

#: Jobs read in one page (the core holds one to two windows). Tests make it small.
SIZE = 5000
#: Jobs read by the first page, at start: fewer, so that ``start()`` returns, and a
#: backlog's first runs start, after a few milliseconds (decoding a job costs tens of
#: µs); the next page is read as soon as half of it has fired.
FIRST = 500
#: A key no job reaches: the bound of a window that holds every job.
_WHOLE = (1 << 63, "")
Key = tuple[int, str]


def _key(job: Job) -> Key | None:
    """The job's key in the window (None: it never comes due as it is)."""
    fire = job.next_fire
    if fire is None or job.paused:
        return None
    return ((fire - _EPOCH) // _US, job.id)


def _state_key(state: JobState) -> Key | None:
    """The key of a job in the core (its next fire lives in the state)."""
    fire = state.next_fire
    if fire is None or state.job.paused:
        return None
    return ((fire - _EPOCH) // _US, state.job.id)


class Window:
    """The jobs of a :class:`~tickwork.stores.WindowedJobStore` the core holds (see the
    module docstring). Called with the engine's lock held. Store methods raise
    ``StoreError``, which the caller handles."""

    def __init__(
        self,
        store: WindowedJobStore,
        core: SchedulerCore,
        loadable: Callable[[Job], Job | None],
        size: int | None = None,
    ) -> None:
        self._store = store
        self._core = core
        # The job as the core may hold it, or None (broken, or not this process's).
        self._loadable = loadable
        #: Jobs per page.
        self.size = SIZE if size is None else size
        #: Whether the first page has been read (before it, the core holds no job of
        #: the store but those a caller asked for).
        self.started = False
        # The key of the last job read, and the key half-way through the last page.
        self._bound: Key = _WHOLE
        self._refill_us: int | None = None
        # The core's size past which idle jobs beyond the bound are swept out.
        self._sweep_at = 2 * self.size

    @property
    def whole(self) -> bool:
        """Whether the core holds every stored job that can fire."""
        return self.started and self._bound is _WHOLE

    def admits(self, job: Job) -> bool:
        """Whether the core is to hold *job*: its key is within the bound."""
        if not self.started:
            return False
        if self._bound is _WHOLE or listens_for_events(job.trigger):
            return True
        key = _key(job)
        return key is not None and key <= self._bound

    def sync(self, store: SharedJobStore) -> tuple[list[Job], list[str]] | None:
        """*store*'s ``sync()``; or, while the window is bounded and the store can
        (``sync_within``, optional), its changes with the jobs beyond the bound left
        undecoded: the core forgets those it holds idle (as :meth:`admits` would have
        it), and reads those with runs going again whole (they are kept as changed)."""
        within = getattr(store, "sync_within", None)
        if within is None or not self.started or self._bound is _WHOLE:
            return store.sync()
        bound_us, last_id = self._bound
        changed = within((_EPOCH + bound_us * _US, last_id))
        if changed is None:
            return None
        jobs, removed, beyond = changed
        core = self._core
        for job_id in beyond:
            if not core.busy(job_id):
                core.discard(job_id)
                continue
            try:
                jobs.append(store.get_job(job_id))
            except JobLookupError:  # (removed since, or broken: gone, as sync has it)
                removed.append(job_id)
        return jobs, removed

    def start(self) -> None:
        """Read the first page (where a shared store's sync counts from)."""
        first = min(FIRST, self.size)
        self._read(None, first)
        # Jobs that wait for events are always held (an event may come at any time):
        # those with no fire time are in no page, so they are read once here.
        listening = getattr(self._store, "event_jobs", None)
        if callable(listening):
            core = self._core
            fresh = []
            for job in listening():
                ready = None if job.id in core else self._loadable(job)
                if ready is not None:
                    fresh.append(ready)
            core.put_many(fresh)
        self.started = True

    def behind(self, next_due: datetime | None) -> bool:
        """Whether the next page is wanted: nothing in the core (whose next due time
        is *next_due*) comes due before the refill key."""
        refill = self._refill_us
        if refill is None:
            return False
        return next_due is None or (next_due - _EPOCH) // _US > refill

    def advance(self) -> None:
        """Read the next page if it is wanted, sweeping the core first; sweep it too if
        it has grown past twice a window (jobs added since)."""
        core = self._core
        if self.behind(core.next_due()):
            self._sweep()
            bound = self._bound
            self._read((_EPOCH + bound[0] * _US, bound[1]), self.size)
        elif len(core) > self._sweep_at:
            if self._bound is _WHOLE:
                self._narrow()
            self._sweep()

    def _sweep(self) -> None:
        """Evict the idle jobs beyond the bound (the store holds them till their turn)."""
        bound = self._bound
        core = self._core
        if bound is not _WHOLE:

            def keep(state: JobState) -> bool:
                key = _state_key(state)
                return (key is not None and key <= bound) or listening(state)

            core.evict(keep)
        # Jobs with runs going stay: sweep again only once a window more has come in.
        self._sweep_at = max(2 * self.size, len(core) + self.size)

    def _read(self, after: tuple[datetime, str] | None, asked: int) -> None:
        """Read the page after the key *after* (*asked* keys) and take it.

        A store that splits a due backlog between the processes that use it
        (``share_due_jobs``, optional) leaves out the due jobs that are another
        process's share, and says which key its page reached: the core holds fewer
        jobs than the page's keys, and the store's ``sync`` reports each job left out
        that this process is to take in after all (module docstring)."""
        store = self._store
        share = getattr(store, "share_due_jobs", None)
        if share is None:
            page = store.due_jobs(after=after, limit=asked)
            last = page[-1] if len(page) == asked else None
            reached = None if last is None else (last.next_fire, last.id)
            self._take(page, reached)
            return
        page, reached = share(after=after, limit=asked)
        self._take(page, reached)

    def _take(self, page: list[Job], reached: tuple[datetime | None, str] | None) -> None:
        """Put a page's jobs in the core (those it holds already stay as they are);
        move the bound to the key the page *reached* (None: no job comes after it, the
        window is whole), the refill key half-way through the page's jobs."""
        core = self._core
        loadable = self._loadable
        fresh = []
        for job in page:
            if job.id not in core:
                ready = loadable(job)
                if ready is not None:
                    fresh.append(ready)
        core.put_many(fresh)
        if reached is None:
            self._bound = _WHOLE  # nothing comes after the last job: the window is whole
            self._refill_us = None
            return
        fire, last_id = reached
        assert fire is not None  # a page lists jobs that come due
        self._bound = ((fire - _EPOCH) // _US, last_id)
        # (With no job of its own in the page, the next page is wanted at once.)
        middle = page[len(page) // 2].next_fire if page else fire
        assert middle is not None
        self._refill_us = min((middle - _EPOCH) // _US, self._bound[0])

    def _narrow(self) -> None:
        """Bound a whole window again (the core grew past twice a window): at the key
        of the window-th job it holds, the refill key half-way to it."""
        keys = [key for key in map(_key, self._core.jobs()) if key is not None]
        if len(keys) <= self.size:
            return
        first = heapq.nsmallest(self.size, keys)
        self._bound = first[-1]
        self._refill_us = first[len(first) // 2][0]


def changes(window: Window | None, store: SharedJobStore) -> tuple[list[Job], list[str]] | None:
    """Other processes' changes, as *window* takes them (:meth:`Window.sync`), or as the
    store gives them when the core holds every job (no window)."""
    return store.sync() if window is None else window.sync(store)
