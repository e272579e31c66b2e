"""The core's due-time index: a heap of deadlines, in the manner of trio's ``Deadlines``.

Every entry is one shape, ``(due µs, key, job id)``: the due time in integer
microseconds since the epoch (instants compare as numbers; Python compares datetimes
of one zone by wall time), a key saying what comes due, and the job it belongs to. A
key > 0 is the job's next fire (the generation of its schedule: the core numbers every
schedule it sets from one counter, so a key is never used twice); a negative key names
one pending retry (unique too). Entries due at one instant come out in the order of
their keys, so the order their schedules were set: jobs added together run in the
order they were added, and a backlog is walked through memory in the order it was
allocated (in job id order, 100,000 jobs due at once took twice as long, every job's
objects a cache miss). Job ids are compared only between equal entries.

Entries are never taken out of the middle of the heap. Whether one still counts is
asked of its *owner*, the job's state looked up by id (:class:`Holder`):

* a fire entry is live while it is the very tuple the owner holds as ``entry``. Identity,
  not equality: an equal tuple queued for a job added again under its id can never fire
  the new one (the core's keys never repeat, but the rule does not rely on it).
* a retry entry is live while its key is among the owner's ``retries`` (retry keys are
  unique for the life of the core, never reused).

Every other entry is *stale*: skipped, and counted out, when it reaches the top. The
owner reports each entry of its that goes stale (:meth:`Deadlines.went_stale`), so the
count is exact; when stale entries outnumber the live ones twice over, past
:data:`PRUNE_FLOOR`, the heap is rebuilt from the live ones (as trio does), so jobs
rescheduled, paused and removed forever do not grow it.

A big backlog (most of a big heap due at once: 100,000 one-shot jobs for one instant)
is not popped one entry at a time: a pop from a heap that size costs microseconds.
Once one :meth:`~Deadlines.expire` stopped at its limit with more due, the next takes
every due entry out of the heap at once and sorts them (two stable sorts on one int
field each, by key, then by due time), into a *run* that later calls hand out from the
front, merged with whatever was queued in the heap since. The order out is the heap's
own, for entries with distinct (due, key) pairs, as the core's are.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Container, Mapping
from operator import itemgetter
from typing import Protocol

__all__ = ["BULK_FLOOR", "PRUNE_FLOOR", "Deadlines", "Entry", "Holder"]

#: Stale entries are pruned only past this many (rebuilding a small heap would cost more
#: than the entries it frees).
PRUNE_FLOOR = 64
#: A backlog is taken out of the heap in bulk only from a heap this big...
BULK_FLOOR = 2048
#: ... when at least this share of the heap's entries (by a sample of them) is due.
BULK_SHARE = 0.25
_SAMPLES = 32

#: A heap entry: ``(due µs since the epoch, key, job id)``; ``key > 0``: the job's next
#: fire, ``key < 0``: one pending retry. Plain tuples: they compare fastest.
Entry = tuple[int, int, str]


class Holder(Protocol):
    """What the index asks of an entry's owner (a job's state) to tell live from stale."""

    @property
    def entry(self) -> Entry | None:
        """The live entry of the job's next fire (None: none queued)."""

    @property
    def retries(self) -> Container[int] | None:
        """The keys of the job's pending retries (None: none)."""


class Deadlines:
    """A heap of due times over the entries of *owners* (job id -> its state).

    The core adds an entry whenever a job's next fire or a retry is queued, tells the
    index how many of its entries went stale whenever it drops some (a schedule
    changed, a job forgotten, retries dropped), asks :meth:`next_deadline` when to wake
    up and takes what is due with :meth:`expire`. *owners* is read, never changed.
    """

    __slots__ = ("_at", "_behind", "_heap", "_owners", "_run", "_stale")

    def __init__(self, owners: Mapping[str, Holder]) -> None:
        self._owners = owners
        self._heap: list[Entry] = []
        self._stale = 0
        # A backlog taken out of the heap in bulk, sorted: its entries from _at on are
        # queued still (see the module docstring).
        self._run: list[Entry] = []
        self._at = 0
        # Whether the last expire stopped at its limit with more due (a backlog).
        self._behind = False

    def __len__(self) -> int:
        """How many entries the index holds, live and stale."""
        return len(self._heap) + len(self._run) - self._at

    @property
    def stale(self) -> int:
        """How many of the entries are stale."""
        return self._stale

    def add(self, entry: Entry) -> None:
        """Queue *entry* (its owner holds it, or its retry key, already)."""
        heapq.heappush(self._heap, entry)

    def add_many(self, entries: list[Entry]) -> None:
        """Queue many entries at once: one heapify, not a push each (loading a store)."""
        heap = self._heap
        heap += entries
        heapq.heapify(heap)

    def went_stale(self, count: int) -> None:
        """*count* more entries are stale (their owner let go of them); rebuild the heap
        from the live ones when the stale ones outnumber them twice over."""
        stale = self._stale = self._stale + count
        if stale > PRUNE_FLOOR and stale > 2 * (len(self) - stale):
            self._prune()

    def is_live(self, entry: Entry) -> bool:
        """Whether *entry*'s owner still holds it."""
        owner = self._owners.get(entry[2])
        if owner is None:
            return False
        if entry[1] >= 0:
            return entry is owner.entry
        retries = owner.retries
        return retries is not None and entry[1] in retries

    def next_deadline(self) -> int | None:
        """The earliest live due time (µs since the epoch), or None when nothing is queued.

        Stale entries in front of it are dropped on the way (and counted out).
        """
        is_live = self.is_live
        run = self._run
        if run:
            at = self._at
            while at < len(run) and not is_live(run[at]):
                at += 1
                self._stale -= 1
            self._at = at
            if at == len(run):
                self._run = run = []
                self._at = 0
        heap = self._heap
        while heap:
            entry = heap[0]
            if is_live(entry):
                if run and run[self._at] < entry:
                    return run[self._at][0]
                return entry[0]
            heapq.heappop(heap)
            self._stale -= 1
        return run[self._at][0] if run else None

    def expire(self, now_us: int, limit: int | None = None) -> list[Entry]:
        """Take every entry due at *now_us* (µs since the epoch) out of the index, or the
        first *limit* live ones; return them in due order (stale ones on the way are
        counted out).

        The owners still hold the entries returned: the caller lets go of each (clears
        the state's ``entry``, pops the retry) without calling :meth:`went_stale`, since
        they are no longer in the index.
        """
        heap = self._heap
        if limit is None:
            limit = len(self)
        if (
            self._behind
            and not self._run
            and len(heap) >= BULK_FLOOR
            and heap[0][0] <= now_us
            and self._mostly_due(now_us)
        ):
            self._take_backlog(now_us)
            heap = self._heap
        owners = self._owners
        live: list[Entry] = []
        append = live.append
        run = self._run
        at, end = self._at, len(run)
        pop = heapq.heappop
        if at < end and not (heap and heap[0][0] <= now_us):
            # Nothing due in the heap: the due part of the run comes out in its order,
            # by slices (a backlog taken in bulk, the common case).
            stop = end if run[-1][0] <= now_us else bisect_right(run, now_us, at, end, key=_DUE)
            while at < stop and len(live) < limit:
                chunk = run[at : min(stop, at + limit - len(live))]
                at += len(chunk)
                found = [
                    entry
                    for entry in chunk
                    if (owner := owners.get(entry[2])) is not None
                    and (entry is owner.entry or (entry[1] < 0 and _retry_held(owner, entry[1])))
                ]
                self._stale -= len(chunk) - len(found)
                live += found
        # The next entry is the smaller of the run's front and the heap's top; is_live
        # inlined: this loop runs once per fire.
        while len(live) < limit:
            if at < end and run[at][0] <= now_us:
                entry = run[at]
                if heap and heap[0] < entry:
                    entry = pop(heap)
                else:
                    at += 1
            elif heap and heap[0][0] <= now_us:
                entry = pop(heap)
            else:
                break
            owner = owners.get(entry[2])
            if owner is not None:
                key = entry[1]
                if key >= 0:
                    if entry is owner.entry:
                        append(entry)
                        continue
                else:
                    retries = owner.retries
                    if retries is not None and key in retries:
                        append(entry)
                        continue
            self._stale -= 1
        if at >= end:
            if run:
                self._run = []
            at = 0
        self._at = at
        self._behind = len(live) >= limit and bool(heap) and heap[0][0] <= now_us
        return live

    def _mostly_due(self, now_us: int) -> bool:
        """Whether a sample of the heap says at least BULK_SHARE of it is due."""
        heap = self._heap
        step = len(heap) // _SAMPLES
        due = sum(1 for index in range(0, step * _SAMPLES, step) if heap[index][0] <= now_us)
        return due >= BULK_SHARE * _SAMPLES

    def _take_backlog(self, now_us: int) -> None:
        """Move every entry due at *now_us* from the heap to the run, sorted."""
        heap = self._heap
        due = [entry for entry in heap if entry[0] <= now_us]
        rest = [entry for entry in heap if entry[0] > now_us]
        heapq.heapify(rest)
        # The heap's order, (due, key), from stable sorts on one field at a time (the
        # last sort decides first): each compares ints directly, not tuples.
        due.sort(key=_KEY)
        due.sort(key=_DUE)
        self._heap = rest
        self._run = due
        self._at = 0

    def _prune(self) -> None:
        is_live = self.is_live
        live = [entry for entry in self._heap if is_live(entry)]
        live += (entry for entry in self._run[self._at :] if is_live(entry))
        heapq.heapify(live)
        self._heap = live
        self._run = []
        self._at = 0
        self._stale = 0


_DUE = itemgetter(0)
_KEY = itemgetter(1)


def _retry_held(owner: Holder, key: int) -> bool:
    """Whether *owner* still holds the retry of heap key *key*."""
    retries = owner.retries
    return retries is not None and key in retries
