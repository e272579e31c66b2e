"""The run history of a ``SQLiteStore``: writing it, keeping it in bounds, reading it.

:meth:`SQLiteHistory.record_runs` writes one ``history`` row per attempt and, in the
same transaction, releases the leases of runs that are over (rule 3 of
:class:`~tickwork.stores.SharedJobStore`: a lease is deleted only by its token, so one
taken over since is left alone). Retention: ``history_days`` and ``history_per_job``,
applied by :meth:`SQLiteHistory._prune` (from ``maintain`` every minute, or
:meth:`SQLiteHistory.prune_history`), which also keeps the removal tombstones that
``sync`` reads to the newest ten thousand.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timezone

from .._model import Run, RunEnd
from .._tz import epoch_us
from ._base import RunCount
from ._chains import pending_rows
from ._history import (
    COUNT_RUNS,
    HISTORY_COLUMNS,
    KNOWN_OUTCOME,
    counts_from_rows,
    drop_superseded,
    fenced,
    leases_of,
    process_name,
    recorded,
    run_from_row,
)
from ._sqlite_chains import PENDING_INSERT
from ._sqlite_connection import SQLiteConnection, delete_counted, in_lists, insert_rows

__all__ = ["SQLiteHistory"]

#: A lease set to the next attempt (negative: waiting for its time), unless that attempt
#: has started already: a retry due at once is started (``start_retries``) in the step
#: that took the failure in, before that failure is written here.
_AGAIN = (
    "UPDATE leases SET attempt = CASE WHEN abs(attempt) < abs(?) THEN ? ELSE attempt END "
    "WHERE token = ?"
)

#: A limit past what SQL can bind (a 64-bit integer) means every row.
_MOST_ROWS = 2**63 - 1

_UTC = timezone.utc
_HISTORY_INSERT = (
    "INSERT INTO history (job_id, scheduled_us, zone, attempt, outcome, started_us, "
    "finished_us, error_type, error_message, parent_ids, return_json, process, recorded_us) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
#: The history columns a batch's rows mostly have alike (all but the job id and its
#: times): bound once per statement (see :func:`insert_rows`).
_HISTORY_ALIKE = (2, 3, 4, 7, 8, 9, 10, 11, 12)
#: Whether any job has upstream jobs.
_ANY_EDGE = "SELECT 1 FROM chain_edges LIMIT 1"
#: The history columns read: HISTORY_COLUMNS, then the chain columns.
_READ = f"{HISTORY_COLUMNS}, parent_ids, return_json"
#: Tombstones of removed jobs kept for processes that have not synced yet (one that
#: misses a removal still finds out: its claim on the job fails and it reloads it).
_TOMBSTONES = 10_000


def _upstream_runs(conn: sqlite3.Connection, runs: Sequence[RunEnd]) -> list[RunEnd]:
    """The runs of *runs* whose job is upstream of another (most files have no chains:
    one look at ``chain_edges`` says so; otherwise ``IN`` lists of the jobs' ids)."""
    if conn.execute(_ANY_EDGE).fetchone() is None:
        return []
    found: set[str] = set()
    for marks, chunk in in_lists(list({end.job_id: None for end in runs})):
        found.update(
            row[0]
            for row in conn.execute(
                f"SELECT DISTINCT upstream FROM chain_edges WHERE upstream IN ({marks})", chunk
            )
        )
    return [end for end in runs if end.job_id in found] if found else []


class SQLiteHistory(SQLiteConnection):
    """The ``history`` table: runs recorded, pruned and read."""

    history_per_job: int
    history_days: float
    _touched: set[str]  # jobs with new history since the last prune

    def record_runs(self, runs: Sequence[RunEnd], *, now: datetime) -> None:
        """Write the history rows; release the leases of runs that are over.

        A batch costs a few statements whatever its size: the rows go in by the
        dozen per ``INSERT``, the leases are released by ``IN`` lists of their tokens.
        """
        if self._superseded:
            runs = drop_superseded(runs, self._superseded)
        if not runs:
            return
        now_us = epoch_us(now)
        self._connection()  # (which names this process's owner: a forked child's own)
        process = self.owner.rpartition(":")[0] if self.owner else process_name()
        batch = recorded(
            runs, leases_of(self._leases, self._taken_from_me), (process, now_us), chains=True
        )
        self._touched.update(end.job_id for end in runs)
        with self._write("record runs") as conn:
            # Fenced: a lease another process took over has a new token, untouched here,
            # and the run's row is not written (that process recorded it cut off).
            released = delete_counted(conn, "leases", "token", batch.release)
            lost = {
                token
                for attempt, token in batch.again
                if not conn.execute(_AGAIN, (attempt, attempt, token)).rowcount
            }
            rows = batch.rows
            if lost or released is not batch.release:
                held = {*released, *(token for _, token in batch.again if token not in lost)}
                rows, runs = fenced(batch, runs, held)
            insert_rows(conn, _HISTORY_INSERT, rows, _HISTORY_ALIKE)
            # In the transaction of the history rows: an upstream run's end and the
            # hand-over to its downstream runs are written together or not at all. Only
            # the runs of jobs with downstream jobs hand over: read here, under the
            # write lock, so an edge added a moment ago counts.
            upstream = _upstream_runs(conn, runs)
            if upstream:
                pending = pending_rows(upstream, now_us)
                if pending:
                    conn.executemany(PENDING_INSERT, pending)
        # Once committed: the released leases are no longer this process's.
        for key in batch.released:
            self._taken_from_me.pop(key, None)
            self._leases.pop(key, None)

    def _prune(self, conn: sqlite3.Connection, now_us: int) -> None:
        cutoff = now_us - round(self.history_days * 86_400 * 1_000_000)
        first_kept = conn.execute(
            "SELECT id FROM history WHERE recorded_us >= ? ORDER BY id LIMIT 1", (cutoff,)
        ).fetchone()
        if first_kept is None:
            conn.execute("DELETE FROM history WHERE recorded_us < ?", (cutoff,))
        else:
            conn.execute(
                "DELETE FROM history WHERE id < ? AND recorded_us < ?", (first_kept[0], cutoff)
            )
        keep = self.history_per_job
        for job_id in self._touched:
            conn.execute(
                "DELETE FROM history WHERE job_id = ? AND id <= (SELECT id FROM history "
                "WHERE job_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (job_id, job_id, keep),
            )
        self._touched.clear()
        # Events as old as the history that was pruned, handled, all their runs done.
        conn.execute(
            "DELETE FROM event_runs WHERE done = 1 AND event_id IN "
            "(SELECT id FROM events WHERE handled = 1 AND emitted_us < ?)",
            (cutoff,),
        )
        conn.execute(
            "DELETE FROM events WHERE handled = 1 AND emitted_us < ? AND NOT EXISTS "
            "(SELECT 1 FROM event_runs r WHERE r.event_id = events.id)",
            (cutoff,),
        )
        # Hand-overs that never completed (an upstream of a fan-in failed) go with the
        # history of their time.
        conn.execute("DELETE FROM chain_pending WHERE recorded_us < ?", (cutoff,))
        conn.execute(
            "DELETE FROM removed WHERE seq <= (SELECT seq FROM removed ORDER BY seq DESC "
            "LIMIT 1 OFFSET ?)",
            (_TOMBSTONES,),
        )

    def prune_history(self, now: datetime) -> None:
        """Apply the retention limits now (the scheduler does it every minute)."""
        with self._write("prune the history") as conn:
            self._touched.update(
                row[0] for row in conn.execute("SELECT DISTINCT job_id FROM history")
            )
            self._prune(conn, epoch_us(now))

    def run_counts(self) -> list[RunCount]:
        """The history's runs counted by job and outcome, in one grouped read (see
        :class:`~tickwork.stores.StatsListing`)."""
        return counts_from_rows(self.run_count_rows())

    def run_count_rows(self) -> list[tuple[str, str, int, int | None]]:
        """:meth:`run_counts` as rows of µs (``tickwork.stores._base.StatsRows``)."""
        return self._read(COUNT_RUNS.format(history="history"))

    def history(self, job_id: str | None = None, *, limit: int = 100) -> list[Run]:
        if not isinstance(limit, int) or limit < 0:
            raise ValueError(f"limit must be a whole number >= 0, got {limit!r}")
        limit = min(limit, _MOST_ROWS)  # (more than any table holds: all of them)
        columns = _READ
        if job_id is None:
            rows = self._read(
                f"SELECT {columns} FROM history WHERE {KNOWN_OUTCOME} ORDER BY id DESC LIMIT ?",
                (limit,),
            )
        else:
            rows = self._read(
                f"SELECT {columns} FROM history WHERE job_id = ? AND {KNOWN_OUTCOME} "
                "ORDER BY id DESC LIMIT ?",
                (job_id, limit),
            )
        return [run_from_row(row) for row in rows]
