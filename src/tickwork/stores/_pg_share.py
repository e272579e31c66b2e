"""A due backlog split between the dispatching processes of a ``PostgresStore``, with
no write.

When several scheduler processes share a schema and many jobs are due at once (a
backlog: after downtime, or jobs added due now), each process's window would read and
decode every due job and try to claim it, and most claims would be lost: four
processes would each decode the whole backlog, and the server would refuse three
claims in four. Instead, each process takes its *share*:

- Each process says whether its scheduler dispatches, and to which executors
  (:meth:`PGShare.dispatching`, which the scheduler calls at start, on pause and
  resume, and when its executors change): ``processes.executors``, a JSON list of
  aliases (NULL: it dispatches nothing: paused, a store object no scheduler drives
  such as the CLI's, the dashboard's or a Celery worker's, or an older tickwork), with
  ``dispatch_until_us`` (the server's clock plus a lease time, moved on by each
  heartbeat: a scheduler that stopped looking after its store drops out).
- The *dispatching* processes are the live ones (holding their advisory lock, see
  :mod:`._pg_connection`) with executors and a heartbeat not overdue. Each process
  keeps that list (:attr:`PGShare._live_set`): a page read reads it when it is not
  known, and ``maintain`` reads it again every ``poll_interval`` in the statement it
  runs anyway; a notification from a process not in it, or one that says a process's
  dispatching changed (payload: its owner and a newline), makes the next page read it.
- A due job is split among the dispatching processes that have its executor, ranked
  by owner name: with *n* of them, the one of rank *r* owns the due jobs whose
  ``hashtext(id)`` (made non-negative) is *r* modulo *n*. A job whose executor no
  dispatching process has is held by every process, as without a split. A window's
  page read (:meth:`PGShare.share_due_jobs`) lists the keys of the page as
  ``due_jobs`` does, but sends full columns only for this process's due jobs, those
  nobody is given, and the jobs not due yet (every process holds those, to fire them
  on time: the claim decides); of the other processes' due jobs it sends the id (and
  executor) alone, decoded never.
- A job left to another process is *waiting* here. :meth:`sync` reports it once it
  changed (its owner claimed, changed or removed it: the change is read as any other
  process's change), or once it is still there unclaimed ``GRACE_SECONDS`` after
  the page read (its owner is stuck), so that this process takes it in then; and when
  the dispatching processes change (one died, started, paused or resumed), the waiting
  jobs that are now this process's are read at the next sync. The window's promise
  holds: every job up to its bound is held here, or will be reported. (This
  bookkeeping is :mod:`._share`'s, which SQLite's split shares.)

The split is a hint, never a claim: nothing is written, and the claim stays exact (a
compare-and-set on the fire, guarded by the run slot), so a job runs once whoever
claims it, and processes that disagree for a moment on the dispatching set at worst
both claim a job (one loses) or both wait for the grace. When no other process
dispatches, a page read is ``due_jobs``.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .._checks import whole
from .._instants import epoch_us, instant
from .._model import Job
from ._pg_history import LOCK_HELD, PGHistory
from ._pg_schema import DB_NOW_US, JOB_COLUMNS, liveness_key
from ._share import BacklogShare

__all__ = ["DISPATCHING", "PGShare"]

#: The dispatching processes (with their executors), as ``{held}`` and ``{now}`` say.
DISPATCHING = (
    "SELECT p.owner, p.executors FROM {s}.processes p "
    "WHERE {held} AND p.executors IS NOT NULL AND p.dispatch_until_us >= {now}"
)
#: This process's executors written (with a heartbeat), and the others told.
_DISPATCH = (
    "WITH u AS (UPDATE {s}.processes SET executors = %(executors)s, "
    "dispatch_until_us = {now} + %(lease)s WHERE owner = %(owner)s RETURNING 1) "
    "SELECT count(*){notify} FROM u"
)
_NAMES = [column.split("::")[0] for column in JOB_COLUMNS.split(", ")]
#: A page of the window with this process's share decoded: a first row (kind 0) with
#: the snapshot and the server's clock; then the page's rows in key order, kind 1 (with
#: every column) or 2 (another process's due job: its id, key, hash and executor
#: alone). ``aliases``: the executors whose due jobs are split, each with the number of
#: dispatching processes that have it (``counts``) and this process's rank among them
#: (``ranks``; -1: it lacks it).
_SHARE = """
WITH h AS MATERIALIZED (
    SELECT pg_current_snapshot()::text AS snap, {now} AS now_us
)
SELECT 0, NULL::int, h.snap, NULL, {header}
FROM h
UNION ALL (
SELECT CASE WHEN p.other THEN 2 ELSE 1 END, p.bucket, p.id, {kept}
FROM (
    SELECT q.*, coalesce(q.i IS NOT NULL AND q.next_fire_us <= (SELECT now_us FROM h)
            AND q.broken IS NULL AND ((%(ranks)s::int[])[q.i] < 0
                OR q.bucket %% (%(counts)s::int[])[q.i] <> (%(ranks)s::int[])[q.i]),
            false) AS other
    FROM (
        SELECT j.*, hashtext(j.id) & 2147483647 AS bucket,
            coalesce(j.options ->> 'executor', 'default') AS alias,
            array_position(%(aliases)s::text[], coalesce(j.options ->> 'executor', 'default'))
                AS i
        FROM {s}.jobs j
        WHERE j.next_fire_us IS NOT NULL AND NOT j.paused {after}
        ORDER BY j.next_fire_us, j.id LIMIT %(limit)s
    ) q
) p
)
"""


def _kept(name: str) -> str:
    cast = "::text" if f"{name}::text" in JOB_COLUMNS else ""
    if name in ("id", "next_fire_us"):
        return f"p.{name}{cast}"
    if name == "name":
        return "CASE WHEN p.other THEN p.alias ELSE p.name END"  # (the executor, kind 2)
    return f"CASE WHEN p.other THEN NULL ELSE p.{name}{cast} END"


_KEPT = ", ".join(_kept(name) for name in _NAMES[1:])
#: The first row's columns after the snapshot and the name (the server's clock where
#: the page's rows have their next fire).
_HEADER = ", ".join("h.now_us" if name == "next_fire_us" else "NULL" for name in _NAMES[2:])


class PGShare(PGHistory, BacklogShare):
    """Page reads that split a due backlog between processes (module docstring; the
    buckets are ``hashtext(id)``, the clock the server's)."""

    def dispatching(self, executors: Collection[str] | None) -> None:
        """Say whether this process's scheduler dispatches runs, and to which executor
        aliases (None: it dispatches nothing, e.g. while paused). Called by the
        scheduler (at start, on pause and resume, when its executors change); a store
        object that no scheduler drives is never given a share of a due backlog. The
        other processes are told (a notification) and read it at their next page.

        Raises:
            StoreError: the server cannot be reached.
        """
        if not self._dispatching_changed(executors):
            return
        if self._live is None:
            return  # (written when the store registers this process)
        notify = ", pg_notify(%(channel)s, %(payload)s)" if self.notify else ""
        self._live_read(
            _DISPATCH.format(s=self._s, now=DB_NOW_US, notify=notify),
            {"executors": self._dispatching, "lease": round(self.lease_time * 1_000_000),
             "owner": self.owner, "channel": self.channel, "payload": self.owner + "\n"},
        )  # fmt: skip

    def share_due_jobs(
        self, *, after: tuple[datetime, str] | None, limit: int
    ) -> tuple[list[Job], tuple[datetime, str] | None]:
        """The next page of the window after the key *after* (as :meth:`due_jobs`, up to
        *limit* keys), with the due jobs that are other dispatching processes' shares
        left out: the jobs to hold, and the key the page reached (None: no job comes
        after it). The first page (*after* None) is where :meth:`sync` counts from."""
        whole(limit, "limit", minimum=1)
        if self._live_set is None:
            self._read_live_set()
        aliases, counts, ranks = self._split
        if after is not None and not aliases:
            jobs = self.due_jobs(after=after, limit=limit)  # nothing split: all of it
            if len(jobs) < limit:
                return jobs, None
            last = jobs[-1]
            assert last.next_fire is not None  # a page lists jobs that come due
            return jobs, (last.next_fire, last.id)
        params: dict[str, Any] = {
            "limit": limit, "aliases": aliases, "counts": counts, "ranks": ranks,
        }  # fmt: skip
        if after is None:
            after_sql = ""
        else:
            after_sql = "AND (j.next_fire_us, j.id) > (%(after_us)s, %(after_id)s)"
            params["after_us"] = epoch_us(after[0])
            params["after_id"] = after[1]
        sql = _SHARE.format(s=self._s, now=DB_NOW_US, header=_HEADER, kept=_KEPT, after=after_sql)
        with self._sync_lock:
            rows = self._read(sql, params, "read due jobs")
            header = rows[0]
            assert header[0] == 0
            if after is None:
                self._new_snapshot(header[2])
            others = [(row[2], row[1], row[3]) for row in rows if row[0] == 2]
            self._left_to_others(others, header[11])
        page = rows[1:]
        jobs = self._decode_rows([row[2:] for row in page if row[0] == 1])[0]
        if len(page) < limit:
            return jobs, None
        last = page[-1]
        return jobs, (instant(last[11], timezone.utc), last[2])

    def _read_live_set(self) -> None:
        """Read the dispatching processes (a page read that does not know them)."""
        held = LOCK_HELD.format(lock=liveness_key(self.schema))
        sql = DISPATCHING.format(s=self._s, held=held, now=DB_NOW_US)
        self._new_live_set(self._read(sql, (), "read the dispatching processes"))

    if TYPE_CHECKING:  # (PostgresStore's, JobRows' and PGLeases')

        def _new_snapshot(self, snapshot: str) -> None: ...

        def _decode_rows(self, rows: Any) -> tuple[list[Job], list[str]]: ...

        def due_jobs(self, *, after: tuple[datetime, str] | None, limit: int) -> list[Job]: ...

        def _live_read(self, sql: str, params: Any) -> list[Any]: ...
