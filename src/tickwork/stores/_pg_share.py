"""A due backlog split between the live processes of a ``PostgresStore``, with no write.

When several scheduler processes share a schema and many jobs are due at once (a
backlog: after downtime, or jobs added due now), each process's window would read and
decode every due job and try to claim it, and most claims would be lost: four
processes would each decode the whole backlog, and the server would refuse three
claims in four. Instead, each process takes its *share*:

- The live processes of the schema (those holding their advisory lock, see
  :mod:`._pg_connection`) are ranked by owner name. Each process keeps that list
  (:attr:`PGShare._live_set`): its first page read reads it, and ``maintain`` reads it
  again every ``poll_interval`` in the statement it runs anyway.
- With *n* live processes, the process of rank *r* owns the due jobs whose
  ``hashtext(id)`` (made non-negative) is *r* modulo *n*. A window's page read
  (:meth:`PGShare.share_due_jobs`) lists the keys of the page as ``due_jobs`` does, but
  sends full columns only for this process's due jobs and for the jobs not due yet
  (every process holds those, to fire them on time: the claim decides); of the other
  processes' due jobs it sends the id alone, decoded never.
- A job left to another process is *waiting* here. :meth:`sync` reports it once it
  changed (its owner claimed, changed or removed it: the change is read as any other
  process's change), or once it is still there unclaimed :data:`GRACE_SECONDS` after
  the page read (its owner is stuck, or lacks its executor), so that this process takes
  it in then; and when the live set changes (a process died or started), the waiting
  jobs that are now this process's are read at the next sync. The window's promise
  holds: every job up to its bound is held here, or will be reported.

The split is a hint, never a claim: nothing is written, and the claim stays exact (a
compare-and-set on the fire, guarded by the run slot), so a job runs once whoever
claims it, and processes that disagree for a moment on the live set at worst both
claim a job (one loses) or both wait for the grace. Alone (one live process), a page
read is ``due_jobs``.
"""

from __future__ import annotations

import collections
import threading
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .._checks import whole
from .._instants import epoch_us, instant
from .._model import Job
from ._pg_history import LOCK_HELD, PGHistory
from ._pg_schema import JOB_COLUMNS, liveness_key

__all__ = ["GRACE_SECONDS", "PGShare"]

#: Seconds after a page read left a due job to another live process within which that
#: process is expected to claim it; still unclaimed then, it is taken in here (at the
#: next change check: within ``poll_interval`` more).
GRACE_SECONDS = 5.0

_NOW = "(extract(epoch from now()) * 1000000)::bigint"
_LIVE = (
    # (Ranked by code point, as Python's sorted() ranks them.)
    'ARRAY(SELECT p.owner FROM {s}.processes p WHERE {held} ORDER BY p.owner COLLATE "C")'
)
_NAMES = [column.split("::")[0] for column in JOB_COLUMNS.split(", ")]
#: A page of the window with this process's share decoded: a first row (kind 0) with
#: the snapshot, the server's clock and the live processes; then the page's rows in
#: key order, kind 1 (with every column) or 2 (another process's due job: its id, key
#: and hash alone).
_SHARE = """
WITH h AS MATERIALIZED (
    SELECT pg_current_snapshot()::text AS snap, {now} AS now_us, {live} AS live
), k AS MATERIALIZED (
    SELECT coalesce(cardinality(live), 0) AS n,
        array_position(live, %(owner)s::text) - 1 AS r, now_us FROM h
)
SELECT 0, NULL::int, h.snap, array_to_string(h.live, E'\\n'), {header}
FROM h
UNION ALL (
SELECT CASE WHEN p.other THEN 2 ELSE 1 END, p.bucket, p.id, {kept}
FROM (
    SELECT j.*, hashtext(j.id) & 2147483647 AS bucket,
        coalesce((SELECT n FROM k) > 1 AND j.next_fire_us <= (SELECT now_us FROM k)
            AND j.broken IS NULL
            AND (hashtext(j.id) & 2147483647) %% (SELECT n FROM k) <> (SELECT r FROM k),
            false) AS other
    FROM {s}.jobs j
    WHERE j.next_fire_us IS NOT NULL AND NOT j.paused {after}
    ORDER BY j.next_fire_us, j.id LIMIT %(limit)s
) p
)
"""


def _kept(name: str) -> str:
    cast = "::text" if f"{name}::text" in JOB_COLUMNS else ""
    if name in ("id", "next_fire_us"):
        return f"p.{name}{cast}"
    return f"CASE WHEN p.other THEN NULL ELSE p.{name}{cast} END"


_KEPT = ", ".join(_kept(name) for name in _NAMES[1:])
#: The first row's columns after the snapshot and the live set (the server's clock
#: where the page's rows have their next fire).
_HEADER = ", ".join("h.now_us" if name == "next_fire_us" else "NULL" for name in _NAMES[2:])


class PGShare(PGHistory):
    """Page reads that split a due backlog between processes (module docstring)."""

    _sync_lock: threading.Lock  # held by sync and by the reads it counts from
    _recheck: set[str]  # jobs the next sync reports as they are, changed or not
    #: The live processes of the schema, by owner name (None: not read yet).
    _live_set: tuple[str, ...] | None
    #: Due jobs left to another process: id -> hashtext bucket (the next sync reports
    #: each once changed, or once its grace is over).
    _waiting: dict[str, int]
    #: (server µs after which still unclaimed, ids) of the waiting jobs, by page read.
    _graces: collections.deque[tuple[int, list[str]]]
    #: The server's clock at the last read that told it (µs).
    _db_now_us: int

    def share_due_jobs(
        self, *, after: tuple[datetime, str] | None, limit: int
    ) -> tuple[list[Job], tuple[datetime, str] | None]:
        """The next page of the window after the key *after* (as :meth:`due_jobs`, up to
        *limit* keys), with the due jobs that are other live processes' shares left
        out: the jobs to hold, and the key the page reached (None: no job comes after
        it). The first page (*after* None) is where :meth:`sync` counts from."""
        whole(limit, "limit", minimum=1)
        live = self._live_set
        if after is not None and live is not None and len(live) < 2:
            jobs = self.due_jobs(after=after, limit=limit)  # alone: all of it is ours
            if len(jobs) < limit:
                return jobs, None
            last = jobs[-1]
            assert last.next_fire is not None  # a page lists jobs that come due
            return jobs, (last.next_fire, last.id)
        params: dict[str, Any] = {"owner": self.owner, "limit": limit}
        if live is None:
            live_sql = _LIVE.format(
                s=self._s, held=LOCK_HELD.format(lock=liveness_key(self.schema))
            )
        else:
            live_sql = "%(live)s::text[]"
            params["live"] = list(live)
        if after is None:
            after_sql = ""
        else:
            after_sql = "AND (j.next_fire_us, j.id) > (%(after_us)s, %(after_id)s)"
            params["after_us"] = epoch_us(after[0])
            params["after_id"] = after[1]
        sql = _SHARE.format(
            s=self._s, now=_NOW, live=live_sql, header=_HEADER, kept=_KEPT, after=after_sql
        )
        with self._sync_lock:
            rows = self._read(sql, params, "read due jobs")
            header = rows[0]
            assert header[0] == 0
            if after is None:
                self._new_snapshot(header[2])
            now_us = header[11]
            self._db_now_us = max(self._db_now_us, now_us)
            others = [row[2] for row in rows if row[0] == 2]
            if others:
                waiting = self._waiting
                for row in rows:
                    if row[0] == 2:
                        waiting.setdefault(row[2], row[1])
                self._graces.append((now_us + round(GRACE_SECONDS * 1_000_000), others))
        if live is None:
            self._new_live_set(header[3].split("\n") if header[3] else [])
        page = rows[1:]
        jobs = self._decode_rows([row[2:] for row in page if row[0] == 1])[0]
        if len(page) < limit:
            return jobs, None
        last = page[-1]
        return jobs, (instant(last[11], timezone.utc), last[2])

    def waiting_on_others(self) -> bool:
        """Whether due jobs this process left to other processes are not yet reported
        claimed (or taken in), and none is to be taken in now: the scheduler then reads
        the others' changes at the poll rather than at each notification, as while a
        backlog of its own is due. (Jobs that are this process's share after all, the
        live processes having changed, are read at the next notified read.)"""
        return bool(self._waiting) and not self._recheck

    def _new_live_set(self, owners: list[str]) -> None:
        """Take the live processes just read (``maintain``, a first page). If they
        changed, the waiting jobs that are now this process's share are read at the
        next sync."""
        live = tuple(sorted(owners))
        if live == self._live_set:
            return
        self._live_set = live
        if not self._waiting:
            return
        count = len(live)
        rank = live.index(self.owner) if self.owner in live else None
        with self._sync_lock:
            waiting = self._waiting
            ours = [
                job_id
                for job_id, bucket in waiting.items()
                if count < 2 or rank is None or bucket % count == rank
            ]
            for job_id in ours:
                del waiting[job_id]
            self._recheck.update(ours)

    def _overdue(self) -> None:
        """Move the waiting jobs whose grace is over (by the server's clock last read)
        to the next sync's rechecks. Called with the sync lock held."""
        graces = self._graces
        waiting = self._waiting
        now_us = self._db_now_us
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

    if TYPE_CHECKING:  # (PostgresStore's and JobRows')

        def _new_snapshot(self, snapshot: str) -> None: ...

        def _decode_rows(self, rows: Any) -> tuple[list[Job], list[str]]: ...

        def due_jobs(self, *, after: tuple[datetime, str] | None, limit: int) -> list[Job]: ...
