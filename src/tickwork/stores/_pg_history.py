"""The run history of a ``PostgresStore``: writing it, keeping it in bounds, reading it.

:meth:`PGHistory.record_runs` writes one ``history`` row per attempt and, in the same
statement, releases the leases of runs that are over (rule 3 of
:class:`~tickwork.stores.SharedJobStore`): only by token *and* owner, so a lease taken
over since is left alone, whatever a frozen host that wakes up late sends. Retention
(``history_days``, ``history_per_job``) is applied by :meth:`PGHistory._prune`, from
``maintain`` every minute: to the history, to the run slots (the same rules: a slot
lives as long as the history of its run), to the removal tombstones (the newest ten
thousand) and to the rows of processes found dead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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
from ._pg_connection import PGConnection, Tx
from ._pg_schema import liveness_key

__all__ = ["DEAD_AFTER_US", "LOCK_HELD", "PGHistory", "still_free"]

#: A limit past what SQL can bind (a 64-bit integer) means every row.
_MOST_ROWS = 2**63 - 1

_UTC = timezone.utc
#: Tombstones of removed jobs kept for processes that have not synced yet.
_TOMBSTONES = 10_000

#: How long (µs) another process's liveness lock must stay free before it is taken for
#: dead: a live process whose connections were cut takes its lock back within it.
DEAD_AFTER_US = 1_000_000

#: Whether the process of row ``p`` of ``processes`` holds its advisory lock (is alive).
#: ``{lock}``: the lock's first key, a literal (:func:`._pg_schema.liveness_key`).
LOCK_HELD = (
    "EXISTS (SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory' AND k.granted "
    "AND k.classid = ({lock})::oid AND k.objid = p.lock_key::oid AND k.objsubid = 2 "
    "AND k.database = (SELECT oid FROM pg_database WHERE datname = current_database()))"
)


def still_free(
    before: Mapping[str, int], free: Iterable[str], now_us: int
) -> tuple[dict[str, int], list[str], int | None]:
    """The owners *free* (their liveness lock found free now), each with when it was
    first found so (*before*: the last look's answer); those free for ``DEAD_AFTER_US``,
    which are dead; and when the first of the others will be (None: no other)."""
    since = {owner: before.get(owner, now_us) for owner in free}
    dead = [owner for owner, first in since.items() if now_us - first >= DEAD_AFTER_US]
    later = [first + DEAD_AFTER_US for first in since.values() if now_us - first < DEAD_AFTER_US]
    return since, dead, min(later, default=None)


_RECORD = """
WITH released AS (
    DELETE FROM {s}.leases WHERE token = ANY(%(release)b::bigint[]) AND owner = %(owner)s
    RETURNING token
), again AS (
    -- (Unless that attempt has started already: a retry due at once is started in the
    -- step that took the failure in, before the failure is written here.)
    UPDATE {s}.leases l
    SET attempt = CASE WHEN abs(l.attempt) < abs(a.attempt) THEN a.attempt ELSE l.attempt END
    FROM unnest(%(again_token)b::bigint[], %(again_attempt)b::int[]) AS a(token, attempt)
    WHERE l.token = a.token AND l.owner = %(owner)s
    RETURNING l.token
), h AS (
    -- Fenced: the row of a run whose lease another process took over is not written
    -- (that process recorded the run cut off, and may run it again).
    INSERT INTO {s}.history (job_id, scheduled_us, zone, attempt, outcome, started_us,
        finished_us, error_type, error_message, parent_ids, return_json, process,
        recorded_us)
    SELECT job_id, scheduled_us, zone, attempt, outcome, started_us, finished_us,
        error_type, error_message, parent_ids, return_json, %(process)s, %(now)s
    FROM unnest(%(job)b::text[], %(at)b::bigint[], %(zone)b::text[], %(attempt)b::int[],
        %(outcome)b::text[], %(started)b::bigint[], %(finished)b::bigint[],
        %(etype)b::text[], %(emsg)b::text[], %(parents)b::text[], %(returned)b::text[],
        %(token)b::bigint[])
        AS r(job_id, scheduled_us, zone, attempt, outcome, started_us, finished_us,
             error_type, error_message, parent_ids, return_json, token)
    WHERE r.token IS NULL OR r.token IN (SELECT token FROM released)
        OR r.token IN (SELECT token FROM again)
    RETURNING job_id, scheduled_us, attempt, outcome
), pending AS (
    -- In the statement of the history rows: an upstream run's end and its hand-over
    -- to its downstream runs are written together or not at all.
    INSERT INTO {s}.chain_pending (downstream, slot_us, zone, upstream, run_id, outcome,
        return_json, error, recorded_us)
    SELECT e.downstream, p.slot_us, p.zone, p.upstream, p.run_id, p.outcome,
        p.return_json, p.error, %(now)s
    FROM unnest(%(p_at)b::bigint[], %(p_zone)b::text[], %(p_run)b::text[],
        %(p_outcome)b::text[], %(p_returned)b::text[], %(p_error)b::text[],
        %(p_job)b::text[], %(p_match)b::text[])
        AS p(slot_us, zone, run_id, outcome, return_json, error, upstream, match)
    JOIN {s}.chain_edges e ON e.upstream = p.upstream AND e.on_outcome IN (p.match, 'any')
    WHERE EXISTS (SELECT 1 FROM h WHERE h.job_id = p.upstream AND h.scheduled_us = p.slot_us)
    ON CONFLICT (downstream, slot_us, upstream) DO UPDATE SET run_id = excluded.run_id,
        outcome = excluded.outcome, return_json = excluded.return_json,
        error = excluded.error, recorded_us = excluded.recorded_us
)
SELECT CASE WHEN (SELECT count(*) FROM released) + (SELECT count(*) FROM again) = %(leased)s
    THEN NULL ELSE ARRAY(SELECT token FROM released UNION ALL SELECT token FROM again) END
"""


class PGHistory(PGConnection):
    """The ``history`` table: runs recorded, pruned and read."""

    history_per_job: int
    history_days: float
    _touched: set[str]  # jobs with new history since the last prune

    def record_runs(self, runs: Sequence[RunEnd], *, now: datetime) -> None:
        """Write the history rows; release the leases of runs that are over. One
        statement whatever the batch's size (the rows go in as arrays)."""
        if self._superseded:
            runs = drop_superseded(runs, self._superseded)
        if not runs:
            return
        names = ["job", "at", "zone", "attempt", "outcome", "started", "finished", "etype",
                 "emsg", "parents", "returned"]  # fmt: skip
        batch = recorded(runs, leases_of(self._leases, self._taken_from_me), chains=True)
        cols = dict(zip(names, map(list, zip(*batch.rows, strict=True)), strict=True))
        self._touched.update(end.job_id for end in runs)
        process = self.owner.rpartition(":")[0] or process_name()
        hand_over = ["p_at", "p_zone", "p_run", "p_outcome", "p_returned", "p_error", "_",
                     "p_job", "p_match"]  # fmt: skip
        with self._tx("record runs") as tx:
            # Only the runs of jobs with downstream jobs hand over (most have none): one
            # look at the edges spares the rest of the batch its hand-over rows.
            ids = list({end.job_id: None for end in runs})
            found = {
                row[0]
                for row in tx.conn.execute(
                    f"SELECT DISTINCT upstream FROM {self._s}.chain_edges WHERE upstream = ANY(%s)",
                    (ids,),
                )
            }
            pending = pending_rows([end for end in runs if end.job_id in found], 0)
            if pending:
                cols.update(zip(hand_over, map(list, zip(*pending, strict=True)), strict=True))
            else:
                cols.update((name, []) for name in hand_over)
            del cols["_"]  # (the time: the statement's own)
            [(held,)] = tx.conn.execute(
                _RECORD.format(s=self._s),
                {
                    **cols,
                    "token": batch.tokens,
                    "leased": len(batch.release) + len(batch.again),
                    "process": process,
                    "now": epoch_us(now),
                    "release": batch.release,
                    "owner": self.owner,
                    "again_token": [token for _, token in batch.again],
                    "again_attempt": [attempt for attempt, _ in batch.again],
                },
            )
            tx.wrote = True
        if held is not None:  # (some runs' leases were taken over: their rows left out)
            fenced(batch, runs, set(held))  # (logs them)
        for key in batch.released:
            self._taken_from_me.pop(key, None)  # once committed
            self._leases.pop(key, None)

    def _prune(self, tx: Tx, now_us: int) -> None:
        s = self._s
        cutoff = now_us - round(self.history_days * 86_400 * 1_000_000)
        execute = tx.conn.execute
        execute(f"DELETE FROM {s}.history WHERE recorded_us < %s", (cutoff,))
        execute(f"DELETE FROM {s}.slots WHERE claimed_us < %s", (cutoff,))
        # Hand-overs that never completed (an upstream of a fan-in failed).
        execute(f"DELETE FROM {s}.chain_pending WHERE recorded_us < %s", (cutoff,))
        touched = list(self._touched)
        if touched:
            for table, order in (("history", "id"), ("slots", "scheduled_us")):
                execute(
                    f"DELETE FROM {s}.{table} t USING (SELECT job_id, {order} AS k, "
                    f"row_number() OVER (PARTITION BY job_id ORDER BY {order} DESC) AS n "
                    f"FROM {s}.{table} WHERE job_id = ANY(%s)) old "
                    f"WHERE old.n > %s AND t.job_id = old.job_id AND t.{order} = old.k",
                    (touched, self.history_per_job),
                )
        self._touched.clear()
        # Events as old as the history that was pruned, handled, all their runs done.
        execute(
            f"DELETE FROM {s}.event_runs WHERE done AND event_id IN "
            f"(SELECT id FROM {s}.events WHERE handled AND emitted_us < %s)",
            (cutoff,),
        )
        execute(
            f"DELETE FROM {s}.events e WHERE handled AND emitted_us < %s AND NOT EXISTS "
            f"(SELECT 1 FROM {s}.event_runs r WHERE r.event_id = e.id)",
            (cutoff,),
        )
        execute(
            f"DELETE FROM {s}.removed WHERE xid <= (SELECT xid FROM {s}.removed "
            "ORDER BY xid DESC LIMIT 1 OFFSET %s)",
            (_TOMBSTONES,),
        )
        held = LOCK_HELD.format(lock=liveness_key(self.schema))
        execute(f"DELETE FROM {s}.processes p WHERE NOT {held}")

    def prune_history(self, now: datetime) -> None:
        """Apply the retention limits now (the scheduler does it every minute)."""
        with self._tx("prune the history") as tx:
            self._touched.update(
                row[0] for row in tx.conn.execute(f"SELECT DISTINCT job_id FROM {self._s}.history")
            )
            self._prune(tx, epoch_us(now))

    def run_counts(self) -> list[RunCount]:
        """The history's runs counted by job and outcome, in one grouped read (see
        :class:`~tickwork.stores.StatsListing`)."""
        return counts_from_rows(self.run_count_rows())

    def run_count_rows(self) -> list[tuple[str, str, int, int | None]]:
        """:meth:`run_counts` as rows of µs (``tickwork.stores._base.StatsRows``)."""
        history = f"{self._s}.history"
        return self._read(COUNT_RUNS.format(history=history), (), "count the runs")

    def history(self, job_id: str | None = None, *, limit: int = 100) -> list[Run]:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValueError(f"limit must be a whole number >= 0, got {limit!r}")
        limit = min(limit, _MOST_ROWS)  # (more than any table holds: all of them)
        columns = f"{HISTORY_COLUMNS}, parent_ids, return_json"
        if job_id is None:
            rows = self._read(
                f"SELECT {columns} FROM {self._s}.history WHERE {KNOWN_OUTCOME} "
                "ORDER BY id DESC LIMIT %s",
                (limit,),
                "read the history",
            )
        else:
            rows = self._read(
                f"SELECT {columns} FROM {self._s}.history WHERE job_id = %s AND {KNOWN_OUTCOME} "
                "ORDER BY id DESC LIMIT %s",
                (job_id, limit),
                "read the history",
            )
        return [run_from_row(row) for row in rows]
