"""A job store in one SQLite file, shared safely by several processes.

Theory of operation
-------------------
Jobs are rows of plain data (:mod:`tickwork.stores.codec`): the function by its
``"module:qualname"`` reference, arguments as JSON (pickle only when asked), the trigger
as its dict, every option, the next fire time in integer microseconds, the paused flag.

The store keeps the :class:`~tickwork.stores.SharedJobStore` contract, lease rules
included; what follows is how.

*Exactly once.* Every process that shares the file runs its own scheduler over the same
jobs. A scheduled fire becomes a run only through :meth:`SQLiteStore.claim_fires`: in one
write transaction it moves the job's stored next fire time from the instant the process
expected to the following one (a compare-and-set; the loser of a race sees the row
changed and takes nothing) and inserts a *lease* row for each run the claim starts,
keyed by job id and scheduled instant. A lease has an owner (``host:pid:nonce``), an
expiry and a fencing token (its row id, never reused). The owner renews its leases from
:meth:`SQLiteStore.maintain`, which the scheduler calls every third of ``lease_time``
whatever its jobs are doing, and deletes each when the run's last attempt ends, in the
same transaction as the run's history row, and only if the token is still its own.

*Crashes.* A process killed mid-run stops renewing. Each lease also records its
holder's identity on the machine (``stores/_liveness.py``: PID namespace, PID, start
time). :meth:`SQLiteStore.maintain`, which the scheduler calls every ``poll_interval``,
takes over the leases of a holder found dead on this machine at once, and any other
lease once it has expired, under a new token (so the dead process's release, should it
come back, matches nothing); the scheduler records the run as interrupted and applies
the job's retry policy. Only a process that can run the run takes it (its scheduler
dispatches to the job's executor, and the job loads there); the others leave it. A
process that finds one of its own leases gone (it could not renew in time) is told,
and drops that fire's waiting runs.

*Shutdown.* Runs waiting for a free instance are recorded skipped and their leases
released. A retry waiting for its time is *handed off*: its lease stays, owned by no
one (owner ``''``), with the attempt to run and its due time as expiry; the first
process to look once it is due takes it over and runs that attempt.

*Lost files.* The store remembers the device and inode of the file it opened and
checks them at each poll and each write: a file deleted or replaced under it makes
every write a ``StoreError`` (SQLite would go on writing to the unlinked file).

*Changes.* Each job row and each removal tombstone carries a change counter, ``seq``:
every write transaction stamps its rows with one more than the highest ``seq`` stored
(read under the write lock, so no two transactions share a value, and never going
down: a removal's tombstone outlives the row). :meth:`SQLiteStore.sync` asks SQLite's
``PRAGMA data_version`` (which moves only when *another* connection commits) and, if it
moved, reads just the rows newer than the last counter it saw, less those this
process's own claims wrote last (unless another process had changed the job before).

*Sharing the work.* A claim also counts the job's runs that other processes hold
leases for, so ``max_instances`` holds across processes. The scheduler claims every
due fire in one transaction until it first loses a claim to another process; then in
batches, in an order of its own, so that processes racing for a backlog share it. A
window's page of due jobs is split between the processes that dispatch, with no write
(``_sqlite_share.py``): each decodes and claims its share.

*Contention.* Writes take ``BEGIN IMMEDIATE`` (so a transaction never has to upgrade
a read lock, which SQLite cannot wait for), with SQLite's busy timeout and a retry loop
on top; only after ``lock_timeout`` seconds does a :class:`~tickwork.StoreError` say
which file is locked. Faults (disk full, read-only file, corruption) become a
``StoreError`` naming the file; the transaction is rolled back, so nothing stored is lost.

Layout
------
This module holds :class:`SQLiteStore`'s arguments, its jobs and :meth:`SQLiteStore.sync`.
What it stands on lives beside it, each layer using only those below:

- ``_sqlite_share.py``: a due backlog split between the dispatching processes;
- ``_sqlite_leases.py``: claims, lease renewal, takeover and hand-off;
- ``_sqlite_history.py``: history rows (where leases are released), retention, reading;
- ``_sqlite_connection.py``: the connection (per process), file checks, errors,
  transactions;
- ``_sqlite_schema.py``: the tables, their migrations, how instants are stored.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

from .._checks import seconds, whole
from .._errors import ConflictingIdError, JobLookupError, StoreError
from .._instants import epoch_us
from .._model import Job
from ..triggers.event import listens_for_events
from ._base import JobSchedule, ProcessListing, SharedJobStore, StatsListing, WindowedJobStore
from ._chains import ChainStore
from ._rows import JobRows
from ._sqlite_chains import SQLiteChains
from ._sqlite_connection import delete_counted, in_lists, insert_rows
from ._sqlite_events import SQLiteEvents
from ._sqlite_outcomes import SQLiteOutcomes
from ._sqlite_schema import EVENT_ROWS, SCHEMA_VERSION, instant
from ._sqlite_schema import JOB_COLUMNS as _COLUMNS
from ._sqlite_schema import LATEST as _LATEST
from ._sqlite_share import SQLiteShare
from .codec import JobRow, encode_job

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

logger = logging.getLogger("tickwork")

_UTC = timezone.utc

#: The longest history_days (100 years, as every duration in seconds is capped).
_MAX_HISTORY_DAYS = 100 * 365

_INSERT = (
    f"INSERT INTO jobs ({_COLUMNS}, next_fire_zone, broken, seq) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)"
)
_UPSERT = (
    f"INSERT OR REPLACE INTO jobs ({_COLUMNS}, next_fire_zone, broken, seq) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)"
)
#: The same, alone in their transaction: the change counter is found in the statement.
_LONE_INSERT = _INSERT.replace("NULL, ?)", f"NULL, ({_LATEST}) + 1) RETURNING seq")
_LONE_UPSERT = _UPSERT.replace("NULL, ?)", f"NULL, ({_LATEST}) + 1) RETURNING seq")
_UPDATE = (
    "UPDATE jobs SET name = ?, func_ref = ?, args = ?, kwargs = ?, trigger = ?, options = ?, "
    "next_fire_us = ?, paused = ?, remaining_runs = ?, consecutive_failures = ?, "
    "next_fire_zone = ?, broken = NULL, seq = ? WHERE id = ?"
)
#: The jobs that can come due, in key order, from the first (the index jobs_by_due: the
#: WHERE terms must be the index's own for SQLite to use it).
_DUE = (
    f"SELECT {_COLUMNS}, next_fire_zone, broken FROM jobs "
    "WHERE next_fire_us IS NOT NULL AND paused = 0 {after} ORDER BY next_fire_us, id LIMIT ?"
)
_DUE_FIRST = _DUE.format(after="")
_DUE_AFTER = _DUE.format(after="AND (next_fire_us, id) > (?, ?)")
_TOMBSTONE = "INSERT OR REPLACE INTO removed (id, seq) VALUES (?, ?)"
#: A job done firing (remove_done_jobs): no fire time (none given since, elsewhere), and
#: no lease of another owner (the owner: the parameter).
_DONE = (
    "next_fire_us IS NULL AND NOT EXISTS "
    "(SELECT 1 FROM leases WHERE leases.job_id = jobs.id AND owner != ?)"
)
_UPDATE_KEEPING_SCHEDULE = (
    "UPDATE jobs SET name = ?, func_ref = ?, args = ?, kwargs = ?, trigger = ?, options = ?, "
    "paused = ?, consecutive_failures = ?, broken = NULL, seq = ? WHERE id = ?"
)


class SQLiteStore(
    SQLiteEvents,
    SQLiteOutcomes,
    SQLiteShare,
    SQLiteChains,
    JobRows,
    SharedJobStore,
    WindowedJobStore,
    ProcessListing,
    StatsListing,
    ChainStore,
):
    """Keeps jobs, leases and run history in one SQLite file (WAL mode).

    Several scheduler processes may share the file (gunicorn or uvicorn workers, a
    Django management command next to the web app): each scheduled fire runs once among
    them, changes made by one reach the others within *poll_interval* seconds, and a
    process that dies mid-run has its run taken over after *lease_time* seconds.

    Args:
        path: the database file (created if missing), or ``":memory:"`` for tests.
        pickle: store ``args``/``kwargs`` with :mod:`pickle` instead of JSON. Only for
            files that no one untrusted can write: unpickling runs code.
        lease_time: seconds a run's claim lasts without renewal; the holder renews
            every third of it. A dead process's runs are taken over after this long.
        poll_interval: seconds between checks for other processes' changes.
        history_per_job: runs of each job kept in the history.
        history_days: history older than this is deleted.
        lock_timeout: seconds to wait for a busy file before a ``StoreError``.

    The durations must be finite numbers above 0, at most 100 years (``lease_time``,
    ``poll_interval``, ``lock_timeout`` in seconds, ``history_days`` in days);
    ``history_per_job`` is an int >= 1.

    Raises:
        TypeError: an argument of the wrong type (a ``bool`` is not a number).
        ValueError: *path* is empty, or a number is NaN, infinite, not above 0, or too
            large; the message names the argument.
        StoreError: at the first use (``start()``, or ``add_job`` before it) if the
            file is not a tickwork database, is corrupt, comes from a newer tickwork,
            or cannot be opened.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        pickle: bool = False,
        lease_time: float = 30.0,
        poll_interval: float = 1.0,
        history_per_job: int = 100,
        history_days: float = 30.0,
        lock_timeout: float = 30.0,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
        if not os.fspath(path):
            # sqlite3 would open a private temporary database: nothing would be kept.
            raise ValueError(
                "path must name a file (or ':memory:' for a database in memory), got ''"
            )
        if "\x00" in str(os.fspath(path)):
            raise ValueError(f"path must not hold a NUL character, got {os.fspath(path)!r}")
        for name, value in (
            ("lease_time", lease_time),
            ("poll_interval", poll_interval),
            ("lock_timeout", lock_timeout),
        ):
            seconds(value, name, positive=True)
        seconds(history_days, "history_days", positive=True, maximum=_MAX_HISTORY_DAYS,
                unit="days", smallest=1e-6 / 86_400)  # fmt: skip
        whole(history_per_job, "history_per_job")
        if not isinstance(pickle, bool):
            raise TypeError(f"pickle must be a bool, got {pickle!r}")
        self.path = os.fspath(path)
        self.pickle = pickle
        self.lease_time = float(lease_time)
        self.poll_interval = float(poll_interval)
        self.history_per_job = history_per_job
        self.history_days = float(history_days)
        self.lock_timeout = float(lock_timeout)
        # The state of the classes below, each of which declares (and explains) its own.
        self._lock = threading.RLock()
        self._conn = None
        self._pid = 0
        self._depth = 0
        self._txn_seq = None
        self._seen_seq = 0
        self._data_version = None
        self._leases = {}
        self._taken_from_me = {}
        self._superseded = {}
        self._touched = set()
        self._prune_at_us = 0
        self._renew_at_us = 0
        self._beat_at_us = 0
        self._registered = ""
        self._claims_lost = False
        self._file_id = None
        self._lost = None
        self._reported: dict[str, str] = {}  # broken job -> reason already logged
        self._marking = threading.local()
        self._unreadable: set[str] = set()
        self._refused: set[str] = set()
        self._refused_logged: set[str] = set()
        self.owner = ""
        self._dispatching = None
        self._now_us = 0
        self._sync_lock = threading.Lock()
        self._recheck = set()
        self._live_set = None
        self._split = ([], [], [])
        self._waiting = {}
        self._graces = deque()
        self._executors = {}
        self._claimed_seqs = set()
        self._unseen = set()

    _medium = "the file"

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    # -- jobs -------------------------------------------------------------------------

    def add_job(self, job: Job, *, replace: bool = False) -> None:
        row = encode_job(job, pickle_args=self.pickle)
        try:
            if replace:
                self._write_row(_LONE_UPSERT, _UPSERT, row, "save the job")
            else:
                self._write_row(_LONE_INSERT, _INSERT, row, "save the job")
        except sqlite3.IntegrityError:
            raise ConflictingIdError(f"a job with id {job.id!r} already exists") from None

    def add_jobs(self, jobs: Sequence[Job], *, replace: bool = False) -> None:
        pickle = self.pickle
        rows: list[JobRow] = [encode_job(job, pickle_args=pickle) for job in jobs]
        with self._write("save the jobs") as conn:
            seq = self._seq(conn)
            if replace:
                conn.executemany(_UPSERT, [(*row, seq) for row in rows])
            else:
                conn.execute("SAVEPOINT add_jobs")
                try:
                    conn.executemany(_INSERT, [(*row, seq) for row in rows])
                except sqlite3.IntegrityError:
                    conn.execute("ROLLBACK TO add_jobs")
                    conn.execute("RELEASE add_jobs")
                    raise self._conflicts(conn, [row.id for row in rows]) from None
                conn.execute("RELEASE add_jobs")

    @staticmethod
    def _conflicts(conn: sqlite3.Connection, ids: list[str]) -> ConflictingIdError:
        """The error for a batch with ids that exist, or that it holds twice."""
        found = {i for i, n in Counter(ids).items() if n > 1}
        for first in range(0, len(ids), 500):
            chunk = ids[first : first + 500]
            marks = ", ".join("?" * len(chunk))
            found.update(
                row[0] for row in conn.execute(f"SELECT id FROM jobs WHERE id IN ({marks})", chunk)
            )
        listed = ", ".join(map(repr, sorted(found)[:10]))
        more = f" and {len(found) - 10} more" if len(found) > 10 else ""
        return ConflictingIdError(f"jobs with these ids already exist: {listed}{more}")

    def update_job(self, job: Job, *, schedule: bool = True) -> None:
        row = encode_job(job, pickle_args=self.pickle)
        with self._write("save the job") as conn:
            seq = self._seq(conn)
            definition = (row.name, row.func_ref, row.args, row.kwargs, row.trigger, row.options)
            if schedule:
                schedule_state = (row.next_fire_us, row.paused, row.remaining_runs)
                failures, zone = row.consecutive_failures, row.next_fire_zone
                cursor = conn.execute(
                    _UPDATE, (*definition, *schedule_state, failures, zone, seq, row.id)
                )
            else:
                cursor = conn.execute(
                    _UPDATE_KEEPING_SCHEDULE,
                    (*definition, row.paused, row.consecutive_failures, seq, row.id),
                )
            if cursor.rowcount != 1:
                raise JobLookupError(f"no job with id {job.id!r}")

    def remove_job(self, job_id: str) -> None:
        with self._write("remove the job") as conn:
            seq = self._seq(conn)
            if conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,)).rowcount != 1:
                raise JobLookupError(f"no job with id {job_id!r}")
            conn.execute(_TOMBSTONE, (job_id, seq))

    def remove_jobs(self, job_ids: Sequence[str]) -> None:
        if not job_ids:
            return
        ids = list(dict.fromkeys(job_ids))
        with self._write("remove jobs") as conn:
            seq = self._seq(conn)
            for marks, chunk in in_lists(ids):
                conn.execute(f"DELETE FROM jobs WHERE id IN ({marks})", chunk)
            # A tombstone for each id, for the other processes' sync (one for an id that
            # was not stored is harmless: their scheduler does not have it either); the
            # change counter, the same in each, bound once per statement (0.3 µs a row
            # less of a backlog's done date jobs).
            insert_rows(conn, _TOMBSTONE, [(job_id, seq) for job_id in ids], (1,))

    def remove_done_jobs(self, job_ids: Sequence[str]) -> list[str]:
        """:meth:`remove_jobs` for jobs done firing, but those still with a fire time
        (another process gave them one since: a reschedule, a run-now) and those another
        process holds a run of (a lease not this store's: running there, waiting there
        for a free instance, or left in the file at a shutdown), which needs the record
        and removes it when its runs end. Returns the ids removed."""
        ids = list(dict.fromkeys(job_ids))
        with self._write("remove jobs done firing") as conn:
            gone = list(delete_counted(conn, "jobs", "id", ids, _DONE, (self.owner,)))
            if gone:  # (a tombstone for each, as remove_jobs leaves)
                seq = self._seq(conn)
                insert_rows(conn, _TOMBSTONE, [(job_id, seq) for job_id in gone], (1,))
        return gone

    def get_job(self, job_id: str) -> Job:
        rows = self._read(
            f"SELECT {_COLUMNS}, next_fire_zone, broken FROM jobs WHERE id = ?", (job_id,)
        )
        return self._one_job(job_id, rows)

    def get_jobs(self) -> list[Job]:
        """Every job, by next fire time. It does not move where :meth:`sync` counts
        from: a scheduler with a window reads the other jobs here, and must still be
        told of every change since it last synced."""
        rows = self._read(
            f"SELECT {_COLUMNS}, next_fire_zone, broken FROM jobs "
            "ORDER BY next_fire_us IS NULL, next_fire_us, id"
        )
        return self._decode_rows(rows)[0]

    def due_jobs(self, *, after: tuple[datetime, str] | None, limit: int) -> list[Job]:
        """The next *limit* jobs to come due after the key *after* (see
        :class:`~tickwork.stores.WindowedJobStore`), read through an index: a page costs
        the same at the start of a file of a million jobs as at its end."""
        whole(limit, "limit", minimum=1)
        return self._due_page(
            self._due_rows(after, limit),
            limit,
            lambda last, n: self._read(_DUE_AFTER, (last[7], last[0], n)),
        )

    def _due_rows(self, after: tuple[datetime, str] | None, limit: int) -> list[Any]:
        """The rows of the next *limit* keys after *after* (None: from the first, where
        :meth:`sync` counts changes from)."""
        if after is None:
            conn = self._connection()
            action = "read the due jobs"
            with self._lock, self._guard(action), self._snapshot(conn, action):
                return conn.execute(_DUE_FIRST, (limit,)).fetchall()
        return self._read(_DUE_AFTER, (epoch_us(after[0]), after[1], limit))

    def schedules(self) -> list[JobSchedule]:
        """Each job's id, next fire time (UTC) and paused flag, by id: one small read,
        no job decoded (see :class:`~tickwork.stores.StatsListing`)."""
        make = tuple.__new__  # (a NamedTuple's own constructor is slower)
        return [
            make(JobSchedule, (job_id, None if fire is None else instant(fire, _UTC), bool(paused)))
            for job_id, fire, paused in self.schedule_rows()
        ]

    def schedule_rows(self) -> list[tuple[str, int | None, Any]]:
        """:meth:`schedules` as rows of µs (``tickwork.stores._base.StatsRows``)."""
        return self._read(
            "SELECT id, next_fire_us, paused FROM jobs WHERE broken IS NULL ORDER BY id"
        )

    def load_jobs(self) -> list[Job]:
        """Every job, unordered (sorting 100,000 rows is a tenth of a start-up)."""
        return self._all_jobs("")

    def _all_jobs(self, order: str) -> list[Job]:
        """Every job; also where :meth:`sync` starts counting changes from."""
        conn = self._connection()
        with self._lock, self._guard("read the jobs"), self._snapshot(conn, "read the jobs"):
            rows = conn.execute(
                f"SELECT {_COLUMNS}, next_fire_zone, broken FROM jobs {order}"
            ).fetchall()
        return self._decode_rows(rows)[0]

    def event_jobs(self) -> list[Job]:
        """The jobs whose trigger waits for events (an ``EventTrigger``): a window of
        due jobs never holds those with no fire time, so the scheduler reads them here.
        (A text match, served by an index, narrows the rows; only those are decoded.)"""
        rows = self._read(f"SELECT {_COLUMNS}, next_fire_zone, broken FROM jobs WHERE {EVENT_ROWS}")
        return [job for job in self._decode_rows(rows)[0] if listens_for_events(job.trigger)]

    def _fields(self, row: Sequence[Any]) -> tuple[Sequence[Any], Any]:
        return row[:12], row[12]  # the codec's columns, next_fire_zone last; broken

    def _clear_broken(self, job_id: str) -> None:
        with contextlib.suppress(StoreError), self._write("update") as conn:
            conn.execute("UPDATE jobs SET broken = NULL WHERE id = ?", (job_id,))

    def _kept_in(self) -> str:
        return self.path

    def mark_broken(self, job_id: str, reason: str) -> None:
        """Keep the row, note why it cannot be loaded, log it: once per process and
        reason (a process that loads the job clears the mark; this one does not write
        it again, see ``_rows``)."""
        if self._reported.get(job_id) == reason:
            return
        with self._write("mark the job broken") as conn:
            conn.execute(
                "UPDATE jobs SET broken = ? WHERE id = ? AND broken IS NOT ?",
                (reason, job_id, reason),
            )
            self._noted_mark(job_id)
        self._log_broken(job_id, reason)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Make the calls inside one transaction (nested ones join the outer one). A
        mark of a broken job made inside is forgotten if it is rolled back."""
        with self._forgetting_marks(super().transaction()):
            yield

    def broken_jobs(self) -> dict[str, str]:
        return dict(self._read("SELECT id, broken FROM jobs WHERE broken IS NOT NULL ORDER BY id"))

    # -- other processes' changes -----------------------------------------------------

    def _changes(
        self, bound: tuple[datetime, str] | None
    ) -> tuple[list[Job], list[str], list[str]] | None:
        conn = self._connection()
        self._check_file()
        with self._sync_lock:
            self._overdue()
            recheck = list(self._recheck)
            with self._lock, self._guard("check for changes"):
                if (
                    conn.execute("PRAGMA data_version").fetchone()[0] == self._data_version
                    and not recheck
                ):
                    return None
                since = self._seen_seq
                with self._snapshot(conn, "check for changes"):
                    rows = conn.execute(
                        f"SELECT {_COLUMNS}, next_fire_zone, broken, seq FROM jobs WHERE seq > ?",
                        (since,),
                    ).fetchall()
                    if self._claimed_seqs:
                        rows = self._unless_claimed_here(rows)
                    removed = [
                        row[0]
                        for row in conn.execute(
                            "SELECT id FROM removed WHERE seq > ? "
                            "AND id NOT IN (SELECT id FROM jobs)",
                            (since,),
                        )
                    ]
                    if recheck:
                        rows += self._rechecked(conn, recheck, since, removed)
            self._recheck.difference_update(recheck)
            if self._waiting:
                rows = self._unless_ended_elsewhere(rows)
            self._reported_back([row[0] for row in rows])
            self._reported_back(removed)
        rows, beyond = self._split_at(rows, bound)
        jobs, broken = self._decode_rows(rows)
        removed += broken  # no longer loadable: to the scheduler, gone
        if not jobs and not removed and not beyond:
            return None
        return jobs, removed, beyond

    def _unless_claimed_here(self, rows: list[Any]) -> list[Any]:
        """*rows* (with their ``seq`` last) less those this process's claims wrote last,
        unless another process had changed the job before (its change is news here);
        forgets the claims (the lock held: every one is in this read)."""
        claimed, unseen = self._claimed_seqs, self._unseen
        kept = [row for row in rows if row[13] not in claimed or row[0] in unseen]
        self._claimed_seqs = set()
        self._unseen = set()
        return kept

    def _unless_ended_elsewhere(self, rows: list[Any]) -> list[Any]:
        """*rows* less those of the jobs left to another process (see ._sqlite_share)
        that it claimed for their last fire: with no next fire, not paused, not waiting
        for events, such a job never comes due here, and a window holds no job without
        a key; its removal follows (a tombstone). Dropped undecoded, and no longer
        waiting. Called with the sync lock held."""
        waiting = self._waiting
        kept = []
        for row in rows:
            # (Columns: id 0, trigger 5, next_fire_us 7, paused 8.)
            trigger = row[5]
            if (
                row[7] is None
                and row[0] in waiting
                and not row[8]
                and type(trigger) is str
                and '"event"' not in trigger
            ):
                del waiting[row[0]]
            else:
                kept.append(row)
        return kept

    @staticmethod
    def _rechecked(
        conn: sqlite3.Connection, recheck: list[str], since: int, removed: list[str]
    ) -> list[Any]:
        """The rows of the jobs to report as they are (*recheck*) that the changes since
        *since* leave out (unchanged since); those not stored are added to *removed*."""
        rows = []
        stored = set()
        for marks, chunk in in_lists(recheck):
            for row in conn.execute(
                f"SELECT seq <= ?, {_COLUMNS}, next_fire_zone, broken FROM jobs "
                f"WHERE id IN ({marks})",
                (since, *chunk),
            ):
                stored.add(row[1])
                if row[0]:
                    rows.append(row[1:])
        gone = set(removed)
        removed += [job_id for job_id in recheck if job_id not in stored and job_id not in gone]
        return rows

    @contextlib.contextmanager
    def _snapshot(self, conn: sqlite3.Connection, action: str) -> Iterator[None]:
        """A read transaction whose end becomes the point :meth:`sync` counts from
        (lock held)."""
        self._retry_busy(lambda: conn.execute("BEGIN"), action)
        try:
            seq = int(conn.execute(_LATEST).fetchone()[0])
            yield
            self._data_version = conn.execute("PRAGMA data_version").fetchone()[0]
        finally:
            conn.execute("COMMIT")
        self._seen_seq = seq
