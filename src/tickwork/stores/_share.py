"""The bookkeeping of a due backlog split between the processes that dispatch from one
shared store (``PostgresStore``: :mod:`._pg_share`; ``SQLiteStore``:
:mod:`._sqlite_share`), with no write.

Each store records which of its processes dispatch, and to which executor aliases, and
reads that list back as *(owner, aliases)* entries (:meth:`BacklogShare._new_live_set`).
A due job is split among the dispatching processes that have its executor, ranked by
owner name: with *n* of them, the one of rank *r* owns the due jobs whose *bucket* (a
non-negative hash of the id: the store picks it) is *r* modulo *n*. A job whose
executor no dispatching process has is held by every process, as without a split.

A store's page read decodes this process's due jobs and keeps the others' by id alone:
they are *waiting* here (:meth:`BacklogShare._left_to_others`). The store's ``sync``
reports a waiting job once it changed (its owner claimed, changed or removed it), or
once :data:`GRACE_SECONDS` have passed since the page read left it (its owner is stuck:
:meth:`BacklogShare._overdue` puts it in ``_recheck``, the jobs the next sync reports as
they are), or when the dispatching processes change and it is this process's after all.
The split is a hint, never a claim: the claim stays an exact compare-and-set, so a job
runs once whoever claims it.

The clock here is the store's (``_now_us``): the server's for PostgreSQL, the latest
instant a SQLite store was given by its caller.
"""

from __future__ import annotations

import collections
import json
import threading
from collections.abc import Collection, Sequence

__all__ = ["GRACE_SECONDS", "BacklogShare", "aliases_of"]

#: Seconds after a page read left a due job to another live process within which that
#: process is expected to claim it; still unclaimed then, it is taken in here (at the
#: next change check: within ``poll_interval`` more).
GRACE_SECONDS = 5.0


def aliases_of(text: str | None) -> tuple[str, ...] | None:
    """The executor aliases of a stored ``processes.executors`` (None: not a list of
    them, or no text)."""
    if text is None:
        return None
    try:
        aliases = json.loads(text)
    except ValueError:
        return None
    if not isinstance(aliases, list) or not all(isinstance(alias, str) for alias in aliases):
        return None
    return tuple(sorted(set(aliases)))


class BacklogShare:
    """Who owns which due job, and the jobs left to others (module docstring; a mixin
    whose state the store's ``__init__`` sets)."""

    owner: str
    _sync_lock: threading.Lock  # held by sync and by the reads it counts from
    _recheck: set[str]  # jobs the next sync reports as they are, changed or not
    #: The dispatching processes: (owner, executor aliases), by owner (None: to be read).
    _live_set: tuple[tuple[str, tuple[str, ...]], ...] | None
    #: For the page reads, from the dispatching processes: the executors whose due jobs
    #: are split, with how many processes have each and this process's rank (-1: none).
    _split: tuple[list[str], list[int], list[int]]
    #: Due jobs left to another process: id -> (bucket, executor) (the next sync
    #: reports each once changed, or once its grace is over).
    _waiting: dict[str, tuple[int, str]]
    #: (store's µs after which still unclaimed, ids) of the waiting jobs, by page read.
    _graces: collections.deque[tuple[int, list[str]]]
    #: The store's clock at the last read (or call) that told it (µs).
    _now_us: int
    #: This process's executor aliases as stored (JSON text; None: it dispatches nothing).
    _dispatching: str | None

    def _dispatching_changed(self, executors: Collection[str] | None) -> bool:
        """Take *executors* as this process's (``dispatching``): whether the stored text
        changes, which the store then writes."""
        text = None if executors is None else json.dumps(sorted(set(executors)))
        if text == self._dispatching:
            return False
        self._dispatching = text
        self._live_set = None  # (this process's own entry changed)
        return True

    def waiting_on_others(self) -> bool:
        """Whether due jobs this process left to other processes are not yet reported
        claimed (or taken in), and none is to be taken in now: the scheduler then reads
        the others' changes at the poll rather than at each notification, as while a
        backlog of its own is due. (Jobs that are this process's share after all, the
        live processes having changed, are read at the next notified read.)"""
        return bool(self._waiting) and not self._recheck

    def refresh_split(self) -> bool:
        """Read the dispatching processes now if they are not known (a notification said
        they changed: a process started, stopped, paused or resumed) while due jobs are
        left to others: whether jobs left to others are this process's after all, which
        the next sync reports. Called by the scheduler at each upkeep (optional: a store
        without it has its list read at its next page read or ``maintain``); a page read
        that is over leaves no later one to read it, and a stale list leaves a share
        nobody holds until the grace is over.

        Raises:
            StoreError: the store failed.
        """
        if self._live_set is not None or not self._waiting:
            return False
        self._read_live_set()
        return bool(self._recheck)

    def _read_live_set(self) -> None:
        """Read the dispatching processes and take them (:meth:`_new_live_set`)."""
        raise NotImplementedError

    def _new_live_set(self, entries: Sequence[tuple[str, str | None]]) -> None:
        """Take the dispatching processes just read, (owner, executors as stored) each.
        If they changed, the waiting jobs that are now this process's share are read at
        the next sync."""
        live = []
        for owner, text in entries:
            aliases = aliases_of(text)
            if aliases:
                live.append((owner, aliases))
        found = tuple(sorted(live))
        if found == self._live_set:
            return
        self._live_set = found
        members: dict[str, list[str]] = {}
        for owner, aliases in found:  # (ranked by owner)
            for alias in aliases:
                members.setdefault(alias, []).append(owner)
        me = self.owner
        split: tuple[list[str], list[int], list[int]] = ([], [], [])
        for alias, owners in sorted(members.items()):
            rank = owners.index(me) if me in owners else -1
            if rank < 0 or len(owners) > 1:
                split[0].append(alias)
                split[1].append(len(owners))
                split[2].append(rank)
        self._split = split
        if not self._waiting:
            return

        def ours(bucket: int, alias: str) -> bool:
            owners = members.get(alias)
            if not owners:
                return True  # no process dispatches it: every process holds it
            return me in owners and bucket % len(owners) == owners.index(me)

        with self._sync_lock:
            waiting = self._waiting
            taken = [job_id for job_id, (bucket, alias) in waiting.items() if ours(bucket, alias)]
            for job_id in taken:
                del waiting[job_id]
            self._recheck.update(taken)

    def _left_to_others(self, others: list[tuple[str, int, str]], now_us: int) -> None:
        """Due jobs a page read (at the store's *now_us*) left to other processes: (id,
        bucket, executor) each; each waits here for its grace. Called with the sync lock
        held."""
        self._now_us = max(self._now_us, now_us)
        if not others:
            return
        waiting = self._waiting
        for job_id, bucket, alias in others:
            waiting.setdefault(job_id, (bucket, alias))
        self._graces.append(
            (now_us + round(GRACE_SECONDS * 1_000_000), [other[0] for other in others])
        )

    def _overdue(self) -> None:
        """Move the waiting jobs whose grace is over (by the store's clock last read)
        to the next sync's rechecks. Called with the sync lock held."""
        graces = self._graces
        waiting = self._waiting
        now_us = self._now_us
        while graces and graces[0][0] <= now_us:
            for job_id in graces.popleft()[1]:
                if waiting.pop(job_id, None) is not None:
                    self._recheck.add(job_id)
        if not waiting:
            graces.clear()

    def _reported_back(self, job_ids: list[str]) -> None:
        """Jobs a sync reported: no longer waiting. Called with the sync lock held."""
        waiting = self._waiting
        if waiting:
            for job_id in job_ids:
                waiting.pop(job_id, None)
