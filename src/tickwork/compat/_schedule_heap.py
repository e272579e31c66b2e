"""The list behind ``Scheduler.jobs``: a real ``list`` with a heap of due times kept in step.

``tickwork.compat.schedule`` explains the design in its "Theory of operation"; this module
holds the machinery: heap entries and their lazy invalidation, job positions, the
bookkeeping that every list mutation keeps in step, and the count of list items the
heap cannot order (which sends ``run_pending()`` back to ``schedule``'s scan).

The list knows its jobs only through :class:`_Listed`, and their class only through its
constructor argument (``schedule._JobList`` passes ``schedule.Job``), so this module
imports nothing that imports it back. A job tells the lists holding it when its
``next_run`` is assigned, by calling their ``_moved``.
"""

from __future__ import annotations

import bisect
import datetime
import heapq
import itertools
import operator
import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol, SupportsIndex, TypeVar, cast, overload

from ._schedule_time import _DATETIME

_Entry = tuple[datetime.datetime, int, int, int]  # (next_run, seq, uid, id(job))


class _Listed(Protocol):
    """What the list reads and writes on a job of its job class."""

    #: The list, or a tuple of the lists, holding the job (``None`` if none): the job
    #: calls their ``_moved`` when its ``next_run`` is assigned.
    _owner: Any
    #: The job's ``next_run``, read without side effects.
    _next_run: datetime.datetime | None

    def __lt__(self, other: Any, /) -> bool:
        """How ``sort()`` without a key orders jobs, as ``list.sort`` does."""
        ...


_J = TypeVar("_J", bound=_Listed)
_L = TypeVar("_L", bound="_HeapList[Any]")


class _HeapList(list[_J]):
    """``Scheduler.jobs``: a real list of jobs, with a heap of due times kept in step.

    Generic over the job class, which a subclass fixes (``schedule._JobList``): its
    constructor takes only the jobs, as copying and pickling call it with none. Items of
    other classes are listed but not ordered by the heap.

    Heap entries are tuples ``(next_run, seq, uid, key)`` where ``key`` is ``id(job)``:
    they hold no reference to the job, so the garbage collector stops tracking them.
    ``_members`` maps the key of each job listed once to the job, ``_seqs`` to its
    position number and ``_uids`` to the ``uid`` of its live entry: older entries are dead
    and skipped (a ``uid`` of -1 means the job has no entry because its ``next_run`` is
    not a naive datetime). ``_extras`` counts occurrences the heap cannot order (a job listed twice,
    objects that are not jobs). ``_irregular`` counts those plus the jobs without entries;
    while it is non-zero the scheduler scans the list the way ``schedule`` does.
    ``_inflight`` counts ``run_pending()`` batches popped and not yet finished.
    """

    __slots__ = (
        "_extras",
        "_heap",
        "_inflight",
        "_irregular",
        "_job_type",
        "_lock",
        "_members",
        "_seq",
        "_seqs",
        "_uids",
    )

    def __init__(self, job_type: type[_J], jobs: Iterable[_J] = ()) -> None:
        super().__init__()
        self._job_type = job_type
        self._heap: list[_Entry] = []
        self._members: dict[int, _J] = {}
        self._seqs: dict[int, int] = {}
        self._uids: dict[int, int] = {}
        self._extras: dict[int, int] = {}
        self._irregular = 0
        self._inflight = 0
        self._seq = itertools.count()
        self._lock = threading.RLock()
        self.extend(jobs)

    # -- bookkeeping (callers hold the lock) ---------------------------------------------

    def _attach(self, job: object) -> None:
        key = id(job)
        if key in self._members or not isinstance(job, self._job_type):
            self._extras[key] = self._extras.get(key, 0) + 1
            self._irregular += 1
            return
        self._members[key] = job
        # getattr: copy and pickle append jobs whose state is not set yet (see __setstate__).
        owner = getattr(job, "_owner", None)
        if owner is None:
            job._owner = self
        else:
            job._owner = (*owner, self) if isinstance(owner, tuple) else (owner, self)
        value = getattr(job, "_next_run", None)
        seq = next(self._seq)
        self._seqs[key] = seq
        if isinstance(value, _DATETIME) and value.tzinfo is None:
            self._uids[key] = seq
            heapq.heappush(self._heap, (value, seq, seq, key))
        else:
            self._uids[key] = -1
            self._irregular += 1

    def _disown(self, job: _J) -> None:
        owner = job._owner
        if owner is self:
            job._owner = None
        elif isinstance(owner, tuple):
            rest = tuple(other for other in owner if other is not self)
            job._owner = rest[0] if len(rest) == 1 else rest

    def _detach(self, job: object) -> None:
        key = id(job)
        extra = self._extras.get(key)
        if extra is not None:
            self._irregular -= 1
            if extra > 1:
                self._extras[key] = extra - 1
                return
            del self._extras[key]
            if not self._extras and key in self._members:
                # The survivor's position may differ from its recorded one: renumber.
                self._rebuild()
            return
        del self._members[key]
        del self._seqs[key]
        if self._uids.pop(key) < 0:
            self._irregular -= 1
        self._disown(cast(_J, job))

    def _reset(self) -> None:
        for job in self._members.values():
            self._disown(job)
        self._members.clear()
        self._seqs.clear()
        self._uids.clear()
        self._extras.clear()
        self._heap.clear()
        self._irregular = 0

    def _rebuild(self) -> None:
        """Renumber every job by its list position and rebuild the heap: O(n), rare."""
        self._reset()
        for job in list.__iter__(self):
            self._attach(job)

    def _moved(self, job: _J, value: object) -> None:
        """Called by ``Job.next_run``'s setter: give the job a fresh entry."""
        with self._lock:
            key = id(job)
            if self._members.get(key) is not job:
                return
            if self._uids[key] < 0:
                self._irregular -= 1
            if isinstance(value, _DATETIME) and value.tzinfo is None:
                uid = next(self._seq)
                self._uids[key] = uid
                heap = self._heap
                heapq.heappush(heap, (value, self._seqs[key], uid, key))
                if len(heap) > 2 * len(self._members) + 64:
                    self._compact()
            else:
                self._uids[key] = -1
                self._irregular += 1

    def _live(self, entry: _Entry) -> bool:
        return self._uids.get(entry[3]) == entry[2]

    def _compact(self) -> None:
        heap = self._heap
        heap[:] = [entry for entry in heap if self._live(entry)]
        heapq.heapify(heap)

    def _pop_due(self, now: datetime.datetime) -> list[tuple[_Entry, _J]]:
        """Pop the live entries due at *now*, earliest (then first listed) first."""
        due: list[tuple[_Entry, _J]] = []
        with self._lock:
            heap = self._heap
            uids = self._uids
            while heap and heap[0][0] <= now:
                entry = heapq.heappop(heap)
                if uids.get(entry[3]) == entry[2]:
                    due.append((entry, self._members[entry[3]]))
            if due:
                self._inflight += 1
        return due

    def _restore(self, due: list[tuple[_Entry, _J]]) -> None:
        """Push back popped entries whose job was neither rescheduled nor removed."""
        with self._lock:
            self._inflight -= 1
            for entry, _ in due:
                if self._live(entry):
                    heapq.heappush(self._heap, entry)

    def _earliest(self) -> datetime.datetime | None:
        with self._lock:
            heap = self._heap
            while heap and not self._live(heap[0]):
                heapq.heappop(heap)
            return heap[0][0] if heap else None

    # -- the list interface --------------------------------------------------------------

    def append(self, job: _J, /) -> None:
        key = id(job)
        with self._lock:
            list.append(self, job)
            if key in self._members or type(job) is not self._job_type:
                self._attach(job)
                return
            # _attach's common case, inlined: adding jobs is a hot path.
            self._members[key] = job
            owner = job._owner
            if owner is None:
                job._owner = self
            else:
                job._owner = (*owner, self) if isinstance(owner, tuple) else (owner, self)
            value = job._next_run
            seq = next(self._seq)
            self._seqs[key] = seq
            if isinstance(value, _DATETIME) and value.tzinfo is None:
                self._uids[key] = seq
                heapq.heappush(self._heap, (value, seq, seq, key))
            else:
                self._uids[key] = -1
                self._irregular += 1

    def extend(self, jobs: Iterable[_J], /) -> None:
        items = list(jobs)
        with self._lock:
            list.extend(self, items)
            for job in items:
                self._attach(job)

    def __iadd__(self: _L, jobs: Iterable[_J], /) -> _L:  # type: ignore[override, misc]
        self.extend(jobs)
        return self

    def insert(self, index: SupportsIndex, job: _J, /) -> None:
        with self._lock:
            at_end = operator.index(index) >= len(self)
            list.insert(self, index, job)
            if at_end:
                self._attach(job)
            else:
                self._rebuild()

    def remove(self, job: _J, /) -> None:
        with self._lock:
            if type(job).__eq__ is object.__eq__:
                key = id(job)
                if key not in self._members and key not in self._extras:
                    raise ValueError("list.remove(x): x not in list")
                if not self._extras:
                    # Every item is a job listed once, in increasing seq order: find the
                    # position by bisection (cancelling is O(log n), not a scan).
                    seqs = self._seqs
                    index = bisect.bisect_left(self, seqs[key], key=lambda item: seqs[id(item)])
                    if index < len(self) and list.__getitem__(self, index) is job:
                        list.__delitem__(self, index)
                        self._detach(job)
                        return
                list.remove(self, job)
                self._detach(job)
                return
            for index, item in enumerate(list.__iter__(self)):
                if item == job:
                    list.__delitem__(self, index)
                    self._detach(item)
                    return
            raise ValueError("list.remove(x): x not in list")

    def pop(self, index: SupportsIndex = -1, /) -> _J:
        with self._lock:
            job = list.pop(self, index)
            self._detach(job)
            return job

    def clear(self) -> None:
        with self._lock:
            list.clear(self)
            self._reset()

    def __delitem__(self, key: SupportsIndex | slice, /) -> None:
        with self._lock:
            if isinstance(key, slice):
                removed = list.__getitem__(self, key)
                if len(removed) == len(self):
                    list.clear(self)
                    self._reset()
                    return
                list.__delitem__(self, key)
                for job in removed:
                    self._detach(job)
            else:
                job = list.__getitem__(self, key)
                list.__delitem__(self, key)
                self._detach(job)

    @overload
    def __setitem__(self, key: SupportsIndex, value: _J, /) -> None: ...
    @overload
    def __setitem__(self, key: slice, value: Iterable[_J], /) -> None: ...
    def __setitem__(self, key: Any, value: Any, /) -> None:
        with self._lock:
            list.__setitem__(self, key, value)
            self._rebuild()

    def __imul__(self: _L, times: SupportsIndex, /) -> _L:
        with self._lock:
            list.__imul__(self, times)
            self._rebuild()
        return self

    def sort(self, *, key: Callable[[_J], Any] | None = None, reverse: bool = False) -> None:
        with self._lock:
            list.sort(self, key=key, reverse=reverse)
            self._rebuild()

    def reverse(self) -> None:
        with self._lock:
            list.reverse(self)
            self._rebuild()

    def __reduce__(self) -> tuple[Any, ...]:
        # Copy and pickle the jobs, not the heap or the lock: appending rebuilds them.
        return (type(self), (), None, iter(list(list.__iter__(self))))

    def _retain(self, keep: Callable[[_J], bool]) -> None:
        """Keep the jobs *keep* accepts, in order (``clear(tag)``)."""
        with self._lock:
            kept: list[_J] = []
            dropped: list[_J] = []
            for job in list.__iter__(self):
                (kept if keep(job) else dropped).append(job)
            if dropped:
                list.__setitem__(self, slice(None), kept)
                for job in dropped:
                    self._detach(job)
