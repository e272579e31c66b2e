"""A due backlog split between the dispatching processes of a ``SQLiteStore``, with no
write.

When several scheduler processes share a file and many jobs are due at once (a backlog:
after downtime, or jobs added due now), each process's window would read and decode
every due job and try to claim it, and most claims would be lost: on two cores, four
processes would each decode and plan the whole backlog. Instead, each process takes its
*share* (the bookkeeping is :mod:`._share`'s, as PostgreSQL's split):

- Each process says whether its scheduler dispatches, and to which executors
  (:meth:`SQLiteShare.dispatching`, which the scheduler calls at start, on pause and
  resume, and when its executors change): ``processes.executors``, a JSON list of
  aliases (NULL: it dispatches nothing: paused, or a store object no scheduler drives,
  such as the CLI's, the dashboard's or a Celery worker's), written with the heartbeat
  of ``maintain`` (which registers the process) and at once when it changes.
- The *dispatching* processes are those with executors whose heartbeat (``seen_us``)
  is within ``lease_time`` of this process's clock and that are not found dead on this
  machine (:mod:`._liveness`); this process counts itself in from what it was told.
  ``maintain`` (every ``poll_interval``) reads them in the statement it runs anyway,
  and each page read again once jobs can be due (there are no notifications here, and
  a page is thousands of jobs).
- A due job is split among the dispatching processes that have its executor, ranked by
  owner name, by ``zlib.crc32`` of its id. A window's page read
  (:meth:`SQLiteShare.share_due_jobs`) reads the page's rows as ``due_jobs`` does, and
  decodes this process's due jobs, those nobody is given, and the jobs not due yet
  (every process holds those, to fire them on time: the claim decides); the other
  processes' due jobs it keeps by id alone, never decoded. *Due* is by the latest
  instant the scheduler gave the store (its last claim or ``maintain``): a job that came
  due since is held by every process, as without a split.
- A job left to another process is *waiting* here; :meth:`sync` reports it once it
  changed (it is read as any other process's change: a removed one by its tombstone),
  once it is still there unclaimed ``GRACE_SECONDS`` after the page read (by this
  process's clock), or once the dispatching processes changed and it is this
  process's after all.

The split is a hint, never a claim: nothing is written, and the claim stays exact (a
compare-and-set on the fire under the write lock), so a job runs once whoever claims
it, and processes that disagree for a moment on the dispatching set at worst both
claim a job (one loses) or both wait for the grace. When no other process dispatches,
a page read is ``due_jobs``.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Collection
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .._checks import whole
from .._instants import instant
from .._model import Job
from ._liveness import is_dead
from ._share import BacklogShare
from ._sqlite_leases import PEERS, SQLiteLeases

__all__ = ["SQLiteShare"]

_UTC = timezone.utc
#: Options texts whose executor is remembered (most jobs share a few texts).
_KNOWN = 4096


def _executor(options: Any) -> str | None:
    """The executor alias of a row's options text (None: it cannot be read)."""
    try:
        decoded = json.loads(options)
    except (TypeError, ValueError):
        return None
    if not isinstance(decoded, dict):
        return None
    alias = decoded.get("executor", "default")
    return alias if isinstance(alias, str) else None


class SQLiteShare(SQLiteLeases, BacklogShare):
    """Page reads that split a due backlog between processes (module docstring)."""

    #: The executor of each options text seen (many jobs share one text).
    _executors: dict[str, str | None]

    def dispatching(self, executors: Collection[str] | None) -> None:
        """Say whether this process's scheduler dispatches runs, and to which executor
        aliases (None: it dispatches nothing, e.g. while paused). Called by the
        scheduler (at start, on pause and resume, when its executors change); a store
        object that no scheduler drives is never given a share of a due backlog. The
        other processes read it at their next ``maintain``.

        Raises:
            StoreError: the file cannot be written.
        """
        if not self._dispatching_changed(executors):
            return
        if self._registered and self._registered == self.owner:
            with self._write("say which executors this process dispatches to") as conn:
                conn.execute(
                    "UPDATE processes SET executors = ? WHERE owner = ?",
                    (self._dispatching, self.owner),
                )
        # (Otherwise written when maintain registers this process.)

    def _new_peers(self, rows: list[tuple[str, str | None, str | None]]) -> None:
        """Take the other processes whose heartbeat is recent, (owner, identity,
        executors) each (``maintain``, a page read): the dispatching processes are
        those of them not found dead, and this one if it dispatches."""
        entries = [
            (owner, executors)
            for owner, holder, executors in rows
            if executors is not None and not (holder and is_dead(holder))
        ]
        if self._dispatching is not None:
            entries.append((self.owner, self._dispatching))
        self._new_live_set(entries)

    def _read_live_set(self) -> None:
        """Read the dispatching processes: those that beat within a lease time."""
        lease_us = round(self.lease_time * 1_000_000)
        self._new_peers(self._read(PEERS, (self.owner, self._now_us - lease_us)))

    def share_due_jobs(
        self, *, after: tuple[datetime, str] | None, limit: int
    ) -> tuple[list[Job], tuple[datetime, str] | None]:
        """The next page of the window after the key *after* (as :meth:`due_jobs`, up to
        *limit* keys), with the due jobs that are other dispatching processes' shares
        left out: the jobs to hold, and the key the page reached (None: no job comes
        after it). The first page (*after* None) is where :meth:`sync` counts from."""
        whole(limit, "limit", minimum=1)
        if self._live_set is None or self._now_us:
            # (Read again for each page once jobs can be due: a small read, and a page
            # is thousands of jobs. Processes that started since the last maintain are
            # counted in; with no notifications, the cached list can be a poll old.)
            self._read_live_set()
        aliases, counts, ranks = self._split
        if not aliases:
            jobs = self.due_jobs(after=after, limit=limit)  # nothing split: all of it
            if len(jobs) < limit:
                return jobs, None
            last = jobs[-1]
            assert last.next_fire is not None  # a page lists jobs that come due
            return jobs, (last.next_fire, last.id)
        split = {
            alias: (count, rank) for alias, count, rank in zip(aliases, counts, ranks, strict=True)
        }
        with self._sync_lock:
            rows = self._due_rows(after, limit)
            now_us = self._now_us
            known = self._executors
            kept = []
            others: list[tuple[str, int, str]] = []
            for row in rows:
                # (Columns: id 0, options 6, next_fire_us 7, broken 12.)
                if row[7] <= now_us and row[12] is None:
                    text = row[6]
                    if text in known:
                        alias = known[text]
                    else:
                        if len(known) >= _KNOWN:
                            known.clear()
                        alias = known[text] = _executor(text)
                    share = None if alias is None else split.get(alias)
                    if share is not None and alias is not None:
                        bucket = zlib.crc32(row[0].encode())
                        if share[1] < 0 or bucket % share[0] != share[1]:
                            others.append((row[0], bucket, alias))
                            continue
                kept.append(row)
            self._left_to_others(others, now_us)
        jobs = self._decode_rows(kept)[0]
        if len(rows) < limit:
            return jobs, None
        last = rows[-1]
        return jobs, (instant(last[7], _UTC), last[0])

    if TYPE_CHECKING:  # (SQLiteStore's and JobRows')

        def _due_rows(self, after: tuple[datetime, str] | None, limit: int) -> list[Any]: ...

        def _decode_rows(self, rows: Any) -> tuple[list[Job], list[str]]: ...

        def due_jobs(self, *, after: tuple[datetime, str] | None, limit: int) -> list[Job]: ...
