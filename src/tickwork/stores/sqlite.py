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
the job's retry policy. A process that finds one of its own leases gone (it could not
renew in time) is told, and drops that fire's waiting runs.

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
moved, reads just the rows newer than the last counter it saw.

*Sharing the work.* A claim also counts the job's runs that other processes hold
leases for, so ``max_instances`` holds across processes. The scheduler claims every
due fire in one transaction until it first loses a claim to another process; then in
batches, in an order of its own, so that processes racing for a backlog share it.

*Contention.* Writes take ``BEGIN IMMEDIATE`` (so a transaction never has to upgrade
a read lock, which SQLite cannot wait for), with SQLite's busy timeout and a retry loop
on top; only after ``lock_timeout`` seconds does a :class:`~tickwork.StoreError` say
which file is locked. Faults (disk full, read-only file, corruption) become a
``StoreError`` naming the file; the transaction is rolled back, so nothing stored is lost.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import sys
import threading
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from .._checks import seconds, whole
from .._errors import ConflictingIdError, JobLookupError, SerializationError, StoreError
from .._instants import EPOCH as _EPOCH
from .._model import Job, Outcome, Run, RunEnd
from .._tz import coerce_timezone, epoch_us, timezone_name
from ._base import ClaimLike, HandOffLike, SharedJobStore, Takeover, Upkeep
from ._history import error_fields, process_name
from ._liveness import identity, is_dead
from .codec import JobRow, decode_job, encode_job

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

logger = logging.getLogger("tickwork")

T = TypeVar("T")
_UTC = timezone.utc
_APP = "tickwork"
#: The longest history_days (100 years, as every duration in seconds is capped).
_MAX_HISTORY_DAYS = 100 * 365

#: Each entry upgrades the schema from version *index* to *index + 1*. Version 0 is an
#: empty file. Append, never edit: files in the field were made by the old entries.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value NOT NULL) WITHOUT ROWID",
        """CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            func_ref TEXT NOT NULL,
            args BLOB NOT NULL,
            kwargs BLOB NOT NULL,
            trigger TEXT NOT NULL,
            options TEXT NOT NULL,
            next_fire_us INTEGER,
            paused INTEGER NOT NULL DEFAULT 0,
            remaining_runs INTEGER,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            next_fire_zone TEXT,
            broken TEXT,
            seq INTEGER NOT NULL
        )""",
        "CREATE INDEX jobs_by_seq ON jobs (seq)",
        "CREATE TABLE removed (id TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID",
        "CREATE INDEX removed_by_seq ON removed (seq)",
        """CREATE TABLE leases (
            token INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id TEXT NOT NULL,
            scheduled_us INTEGER NOT NULL,
            attempt INTEGER NOT NULL,
            owner TEXT NOT NULL,
            expires_us INTEGER NOT NULL,
            UNIQUE (job_id, scheduled_us)
        )""",
        "CREATE INDEX leases_by_expiry ON leases (expires_us)",
        "CREATE INDEX leases_by_owner ON leases (owner)",
        """CREATE TABLE history (
            id INTEGER PRIMARY KEY,
            job_id TEXT NOT NULL,
            scheduled_us INTEGER NOT NULL,
            zone TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            outcome TEXT NOT NULL,
            started_us INTEGER,
            finished_us INTEGER,
            error_type TEXT,
            error_message TEXT,
            process TEXT NOT NULL,
            recorded_us INTEGER NOT NULL
        )""",
        "CREATE INDEX history_by_job ON history (job_id, id)",
    ),
    (
        # Who holds a lease, told apart from a later process with the same PID (see
        # stores/_liveness.py): a holder found dead is taken over without waiting for
        # its lease to expire. NULL where the holder could not tell.
        "ALTER TABLE leases ADD COLUMN holder TEXT",
    ),
]
#: The schema version this tickwork writes.
SCHEMA_VERSION = len(MIGRATIONS)

_COLUMNS = (
    "id, name, func_ref, args, kwargs, trigger, options, next_fire_us, paused, "
    "remaining_runs, consecutive_failures"
)
_INSERT = (
    f"INSERT INTO jobs ({_COLUMNS}, next_fire_zone, broken, seq) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)"
)
_UPSERT = (
    f"INSERT OR REPLACE INTO jobs ({_COLUMNS}, next_fire_zone, broken, seq) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)"
)
_UPDATE = (
    "UPDATE jobs SET name = ?, func_ref = ?, args = ?, kwargs = ?, trigger = ?, options = ?, "
    "next_fire_us = ?, paused = ?, remaining_runs = ?, consecutive_failures = ?, "
    "next_fire_zone = ?, broken = NULL, seq = ? WHERE id = ?"
)
_UPDATE_KEEPING_SCHEDULE = (
    "UPDATE jobs SET name = ?, func_ref = ?, args = ?, kwargs = ?, trigger = ?, options = ?, "
    "paused = ?, consecutive_failures = ?, broken = NULL, seq = ? WHERE id = ?"
)
_CLAIM = (
    "UPDATE jobs SET next_fire_us = ?, "
    "next_fire_zone = CASE WHEN ? THEN next_fire_zone ELSE ? END, "
    "remaining_runs = coalesce(?, remaining_runs), seq = ? "
    "WHERE id = ? AND next_fire_us IS ? AND broken IS NULL"
)
_HISTORY_INSERT = (
    "INSERT INTO history (job_id, scheduled_us, zone, attempt, outcome, started_us, "
    "finished_us, error_type, error_message, process, recorded_us) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
#: The change counter: the highest ``seq`` of any job row or removal tombstone (two
#: index look-ups). Every write transaction stamps its rows with this plus one; it
#: never goes down, because removing a job leaves a tombstone with a newer ``seq`` and
#: pruning keeps the newest tombstones. (A counter row in ``meta`` would cost every
#: add and every claim one more page written.)
_LATEST = (
    "SELECT max(coalesce((SELECT max(seq) FROM jobs), 0), "
    "coalesce((SELECT max(seq) FROM removed), 0))"
)
#: The owner of a lease left for any process: a retry handed off at shutdown.
_HANDED_OFF = ""
_RAN = (Outcome.SUCCESS, Outcome.FAILURE, Outcome.INTERRUPTED)
#: Tombstones of removed jobs kept for processes that have not synced yet (one that
#: misses a removal still finds out: its claim on the job fails and it reloads it).
_TOMBSTONES = 10_000


def _us(moment: datetime | None) -> int | None:
    return None if moment is None else epoch_us(moment)


def _instant(us: int, zone: tzinfo) -> datetime:
    return (_EPOCH + timedelta(microseconds=us)).astimezone(zone)


_zone_names: dict[int, tuple[tzinfo, str]] = {}

#: Connections a forked process inherited from its parent: kept referenced, so that
#: neither this process nor its garbage collector ever closes them.
_inherited: list[sqlite3.Connection] = []


def _zone_name(moment: datetime | None) -> str | None:
    """The name of *moment*'s zone (cached per tzinfo object: zones are few)."""
    if moment is None:
        return None
    tz = moment.tzinfo
    assert tz is not None
    known = _zone_names.get(id(tz))
    if known is None or known[0] is not tz:
        known = _zone_names[id(tz)] = (tz, timezone_name(tz))
    return known[1]


class SQLiteStore(SharedJobStore):
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
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._depth = 0  # nesting of write transactions
        self._txn_seq: int | None = None
        self._seen_seq = 0
        self._data_version: int | None = None
        self._leases: dict[tuple[str, int], int] = {}  # (job id, scheduled us) -> token
        self._touched: set[str] = set()  # jobs with new history since the last prune
        self._prune_at_us = 0
        self._renew_at_us = 0
        # (device, inode) of the file as opened; a reason once it was deleted or replaced.
        self._file_id: tuple[int, int] | None = None
        self._lost: str | None = None
        self._reported: dict[str, str] = {}  # broken job -> reason already logged
        self.owner = ""

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    # -- connection and schema --------------------------------------------------------

    def open(self) -> None:
        """Open the file and check (or create, or migrate) its schema."""
        self._connection()

    def close(self) -> None:
        """Close the file. Harmless if already closed (or never opened); the store opens
        again when next used. The scheduler's ``shutdown()`` calls it."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is None:
                return
            if self._pid != os.getpid():
                # Opened by the parent of this forked process: closing it here could
                # disturb the parent's use of the file, so it is left alone for good.
                _inherited.append(conn)
                return
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def __del__(self) -> None:
        # A store dropped while open: the garbage collector is a backstop, not the way
        # to close it. Say so (as Python does for an unclosed file), then close it.
        if getattr(self, "_conn", None) is None or self._pid != os.getpid():
            return
        if not sys.is_finalizing():
            warnings.warn(
                f"unclosed {self!r}: call its close(), or its scheduler's shutdown()",
                ResourceWarning,
                stacklevel=2,
                source=self,
            )
        self.close()

    def _connection(self) -> sqlite3.Connection:
        conn = self._conn
        if conn is not None and self._pid == os.getpid():
            return conn
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                return self._conn
            if self._pid != os.getpid():
                # A forked child never uses its parent's connection (SQLite forbids it),
                # nor closes it: it opens its own, and is a process of its own for leases.
                if self._conn is not None:
                    _inherited.append(self._conn)
                self._leases.clear()
                self._pid = os.getpid()
                self.owner = f"{process_name()}:{uuid.uuid4().hex[:8]}"
            self._conn = None
            self._conn = self._connect()
            return self._conn

    def _connect(self) -> sqlite3.Connection:
        path = self.path
        if path != ":memory:":
            parent = Path(path).parent
            if not parent.is_dir():
                raise StoreError(f"cannot open {path!r}: directory {str(parent)!r} does not exist")
        try:
            conn = sqlite3.connect(
                path,
                timeout=min(self.lock_timeout, 5.0),
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as error:
            raise StoreError(f"cannot open {path!r}: {error}") from error
        try:
            conn.execute("PRAGMA synchronous = NORMAL")
            if path != ":memory:":
                # Changing the journal mode needs the file to itself, and SQLite does
                # not wait for that (no busy handler): processes opening a new file at
                # the same moment would see "database is locked".
                mode = self._retry_busy(
                    lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone()[0], "open"
                )
                if str(mode).lower() != "wal":
                    logger.warning("tickwork: %s: WAL mode unavailable (%s)", path, mode)
            self._conn = conn
            self._check_schema(conn)
            self._file_id = self._identify()
            self._lost = None
        except StoreError:
            conn.close()
            self._conn = None
            raise
        except sqlite3.Error as error:
            conn.close()
            self._conn = None
            raise self._error(error, "open") from error
        self._data_version = None
        return conn

    def _identify(self) -> tuple[int, int] | None:
        if self.path == ":memory:" or self.path.startswith("file:"):
            return None
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return info.st_dev, info.st_ino

    def _check_file(self) -> None:
        """Raise StoreError if the file this store opened was deleted or replaced since:
        SQLite would go on writing to the unlinked file, and everything would be lost."""
        if self._file_id is None:
            return
        if self._lost is None:
            try:
                info = os.stat(self.path)
            except FileNotFoundError:
                self._lost = f"{self.path!r} was deleted while in use"
            except OSError as error:
                self._lost = f"{self.path!r} cannot be checked: {error}"
            else:
                if (info.st_dev, info.st_ino) == self._file_id:
                    return
                self._lost = f"{self.path!r} was replaced by another file while in use"
            logger.error(
                "tickwork: %s; nothing more is written to it. Restart the scheduler (or "
                "close and reopen the store) to use the file now at that path",
                self._lost,
            )
        raise StoreError(f"{self._lost}: nothing more is written to it")

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        version = self._version(conn, tables)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path!r} was written by a newer tickwork (schema version {version}; "
                f"this tickwork knows up to {SCHEMA_VERSION}). Upgrade tickwork to use it; "
                "the file was not changed."
            )
        if version == SCHEMA_VERSION:
            return
        with self._write():
            # Another process may have created or migrated it while this one waited.
            tables = {
                row[0]
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            version = self._version(conn, tables)
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step]:
                    conn.execute(statement)
                if step:
                    logger.info("tickwork: %s: schema upgraded to version %d", self.path, step + 1)
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('app', ?), ('schema', ?)",
                (_APP, SCHEMA_VERSION),
            )

    def _version(self, conn: sqlite3.Connection, tables: set[str]) -> int:
        if not tables:
            return 0
        if "meta" not in tables:
            raise StoreError(
                f"{self.path!r} is a SQLite database but not a tickwork job store (it has "
                f"tables {', '.join(sorted(tables))}); give tickwork a file of its own"
            )
        meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('app', 'schema')"))
        if meta.get("app") != _APP or not isinstance(meta.get("schema"), int):
            raise StoreError(
                f"{self.path!r} is a SQLite database but not a tickwork job store (its meta "
                f"table says {meta!r}); give tickwork a file of its own"
            )
        return int(meta["schema"])

    def _error(self, error: sqlite3.Error, action: str) -> StoreError:
        """A clear StoreError for a failed SQLite call."""
        text = str(error).lower()
        path = self.path
        if "full" in text:
            message = f"{path!r}: the disk is full; could not {action} (nothing stored was lost)"
        elif "readonly" in text or "read-only" in text:
            message = f"{path!r} is read-only; could not {action} (nothing stored was lost)"
        elif "not a database" in text or "malformed" in text or "corrupt" in text:
            message = f"{path!r} is not a SQLite database, or is corrupt: {error}"
        elif "locked" in text or "busy" in text:
            message = (
                f"{path!r} stayed locked by another process for more than "
                f"{self.lock_timeout:g} s; could not {action}"
            )
        else:
            message = f"{path!r}: could not {action}: {error}"
        return StoreError(message)

    # -- transactions -----------------------------------------------------------------

    def _write(self, action: str = "write") -> _Write:
        """A write transaction (``BEGIN IMMEDIATE``, retried while the file is busy);
        nested ones join the outer one. SQLite errors inside become StoreErrors that
        say what could not be done (*action*)."""
        return _Write(self, action)

    def _retry_busy(self, call: Callable[[], T], action: str) -> T:
        deadline = time.monotonic() + self.lock_timeout
        pause = 0.001
        while True:
            try:
                return call()
            except sqlite3.OperationalError as error:
                text = str(error).lower()
                if ("locked" in text or "busy" in text) and time.monotonic() < deadline:
                    time.sleep(pause)
                    pause = min(pause * 2, 0.05)
                    continue
                raise self._error(error, action) from error
            except sqlite3.Error as error:
                raise self._error(error, action) from error

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Make the calls inside one transaction (used by ``add_jobs``)."""
        with self._write():
            yield

    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn SQLite errors raised inside into clear StoreErrors."""
        try:
            yield
        except sqlite3.Error as error:
            raise self._error(error, action) from error

    def _seq(self, conn: sqlite3.Connection) -> int:
        """The change counter for this transaction's rows (one more than the latest; the
        write lock held since ``BEGIN IMMEDIATE`` keeps it this transaction's own)."""
        if self._txn_seq is None:
            seq = int(conn.execute(_LATEST).fetchone()[0]) + 1
            if seq == self._seen_seq + 1:
                self._seen_seq = seq  # nothing from others in between: no news to sync
            self._txn_seq = seq
        return self._txn_seq

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        conn = self._connection()
        with self._lock:
            return self._retry_busy(lambda: conn.execute(sql, params).fetchall(), "read")

    # -- jobs -------------------------------------------------------------------------

    def add_job(self, job: Job, *, replace: bool = False) -> None:
        row = encode_job(job, pickle_args=self.pickle)
        with self._write("save the job") as conn:
            seq = self._seq(conn)
            if replace:
                conn.execute(_UPSERT, (*row, seq))
            else:
                try:
                    conn.execute(_INSERT, (*row, seq))
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
            conn.execute("INSERT OR REPLACE INTO removed (id, seq) VALUES (?, ?)", (job_id, seq))

    def remove_jobs(self, job_ids: Sequence[str]) -> None:
        if not job_ids:
            return
        with self._write("remove jobs") as conn:
            seq = self._seq(conn)
            conn.executemany("DELETE FROM jobs WHERE id = ?", [(job_id,) for job_id in job_ids])
            conn.executemany(
                "INSERT OR REPLACE INTO removed (id, seq) VALUES (?, ?)",
                [(job_id, seq) for job_id in job_ids],
            )

    def get_job(self, job_id: str) -> Job:
        rows = self._read(
            f"SELECT {_COLUMNS}, next_fire_zone, broken FROM jobs WHERE id = ?", (job_id,)
        )
        if not rows:
            raise JobLookupError(f"no job with id {job_id!r}")
        job = self._decode(rows[0])
        if job is None:
            raise JobLookupError(
                f"job {job_id!r} is stored but broken: {self._reported.get(job_id, '?')}"
            )
        return job

    def get_jobs(self) -> list[Job]:
        return self._all_jobs("ORDER BY next_fire_us IS NULL, next_fire_us, id")

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

    def _decode(self, row: Sequence[Any]) -> Job | None:
        """A row's job; None for a broken row, which is marked (and logged once)."""
        broken = row[12]
        if not self.pickle and (isinstance(row[3], bytes) or isinstance(row[4], bytes)):
            # Unpickling runs code: only a store opened with pickle=True does it.
            self.mark_broken(
                row[0],
                "its arguments are pickled, and this store was opened without pickle=True "
                "(pass it only if you trust every process that writes the file)",
            )
            return None
        try:
            job = decode_job(row[:12])  # the codec's columns, next_fire_zone last
        except SerializationError as error:
            self.mark_broken(row[0], str(error))
            return None
        if broken is not None:
            # It loads again (its module was deployed, say): clear the mark. If its
            # function still does not import, the scheduler marks it again.
            with contextlib.suppress(StoreError), self._write("update") as conn:
                conn.execute("UPDATE jobs SET broken = NULL WHERE id = ?", (job.id,))
            self._reported.pop(job.id, None)
        return job

    def mark_broken(self, job_id: str, reason: str) -> None:
        """Keep the row, note why it cannot be loaded, log it (once per process)."""
        if self._reported.get(job_id) != reason:
            self._reported[job_id] = reason
            logger.error(
                "tickwork: stored job %r cannot be loaded and will not run until fixed "
                "(it is kept in %s): %s",
                job_id,
                self.path,
                reason,
            )
        with self._write("mark the job broken") as conn:
            conn.execute(
                "UPDATE jobs SET broken = ? WHERE id = ? AND broken IS NOT ?",
                (reason, job_id, reason),
            )

    def broken_jobs(self) -> dict[str, str]:
        return dict(self._read("SELECT id, broken FROM jobs WHERE broken IS NOT NULL ORDER BY id"))

    # -- claims and leases ------------------------------------------------------------

    def claim_fires(self, claims: Sequence[ClaimLike], *, now: datetime) -> list[int | None]:
        """Claim the fires and lease their runs, all in one transaction; for each fire
        claimed, count the job's runs other processes hold leases for."""
        results: list[int | None] = []
        expires = epoch_us(now) + round(self.lease_time * 1_000_000)
        owner = self.owner
        holder = identity()
        taken: dict[tuple[str, int], int] = {}
        with self._write("claim due runs") as conn:
            seq = self._seq(conn)
            execute = conn.execute
            # Runs in progress elsewhere matter only if another process holds a lease.
            others = execute(
                "SELECT 1 FROM leases WHERE owner != ? AND owner != ? LIMIT 1",
                (owner, _HANDED_OFF),
            ).fetchone()
            for job_id, expected, new_next, remaining, runs in claims:
                won = (
                    execute(
                        _CLAIM,
                        (
                            _us(new_next),
                            # Same zone as the fire it replaces: the column stays right.
                            new_next is not None
                            and expected is not None
                            and new_next.tzinfo is expected.tzinfo,
                            _zone_name(new_next),
                            remaining,
                            seq,
                            job_id,
                            _us(expected),
                        ),
                    ).rowcount
                    == 1
                )
                if not won:
                    results.append(None)
                    continue
                results.append(
                    execute(
                        # A retry handed off at shutdown is no run in progress.
                        "SELECT count(*) FROM leases WHERE job_id = ? AND owner != ? "
                        "AND owner != ?",
                        (job_id, owner, _HANDED_OFF),
                    ).fetchone()[0]
                    if others
                    else 0
                )
                if won:
                    for scheduled_at in runs:
                        key = (job_id, epoch_us(scheduled_at))
                        cursor = execute(
                            "INSERT OR REPLACE INTO leases (job_id, scheduled_us, attempt, owner, "
                            "expires_us, holder) VALUES (?, ?, 1, ?, ?, ?)",
                            (*key, owner, expires, holder),
                        )
                        taken[key] = cursor.lastrowid or 0
        self._leases.update(taken)  # once committed
        return results

    def maintain(self, now: datetime, *, take_over: bool = True) -> Upkeep:
        """Renew this process's leases when due, take over the runs of dead processes
        (lease expired, or holder found dead on this machine), prune the history.

        Meant to be called every ``poll_interval``: the look for dead holders is one
        small read; writes happen only when there is something to renew, take or prune.
        """
        now_us = epoch_us(now)
        lease_us = round(self.lease_time * 1_000_000)
        lost: list[tuple[str, datetime]] = []
        taken: list[Takeover] = []
        renew = bool(self._leases) and now_us >= self._renew_at_us
        prune = now_us >= self._prune_at_us
        dead: list[str] = []
        expired = False
        soonest: int | None = None  # when another process's lease next expires
        if take_over:
            for owner, holder, expires in self._read(
                "SELECT owner, holder, min(expires_us) FROM leases WHERE owner != ? GROUP BY owner",
                (self.owner,),
            ):
                if holder and is_dead(holder):
                    dead.append(owner)
                elif expires < now_us:
                    expired = True
                elif soonest is None or expires < soonest:
                    soonest = expires
        poll = self.lease_time if self.poll_interval is None else self.poll_interval
        next_us = now_us + round(min(poll, self.lease_time / 3) * 1_000_000)
        if self._leases:
            next_us = min(next_us, max(self._renew_at_us, now_us + 1))
        if soonest is not None:
            next_us = min(next_us, soonest + 1)
        next_at = now + timedelta(microseconds=next_us - now_us)
        if not (renew or prune or dead or expired):
            return Upkeep(lost, taken, next_at)
        with self._write("renew leases") as conn:
            if renew:
                conn.execute(
                    "UPDATE leases SET expires_us = ? WHERE owner = ?",
                    (now_us + lease_us, self.owner),
                )
                self._renew_at_us = now_us + lease_us // 3
                held = {
                    row[0]
                    for row in conn.execute(
                        "SELECT token FROM leases WHERE owner = ?", (self.owner,)
                    )
                }
                for key, token in list(self._leases.items()):
                    if token not in held:
                        del self._leases[key]
                        lost.append((key[0], _instant(key[1], _UTC)))
            if dead or expired:
                marks = ", ".join("?" * len(dead))
                rows = conn.execute(
                    "SELECT token, job_id, scheduled_us, attempt, owner FROM leases "
                    f"WHERE owner != ? AND (expires_us < ? OR owner IN ({marks})) "
                    "ORDER BY expires_us LIMIT 1000",
                    (self.owner, now_us, *dead),
                ).fetchall()
                holder = identity()
                for token, job_id, scheduled_us, attempt, owner in rows:
                    conn.execute("DELETE FROM leases WHERE token = ?", (token,))
                    cursor = conn.execute(
                        "INSERT INTO leases (job_id, scheduled_us, attempt, owner, expires_us, "
                        "holder) VALUES (?, ?, ?, ?, ?, ?)",
                        (job_id, scheduled_us, attempt, self.owner, now_us + lease_us, holder),
                    )
                    self._leases[(job_id, scheduled_us)] = cursor.lastrowid or 0
                    taken.append(
                        Takeover(
                            job_id,
                            _instant(scheduled_us, _UTC),
                            attempt,
                            owner,
                            handed_off=owner == _HANDED_OFF,
                            dead=owner in dead,
                        )
                    )
                if taken and not renew:
                    self._renew_at_us = min(self._renew_at_us, now_us + lease_us // 3)
            if prune:
                self._prune(conn, now_us)
                self._prune_at_us = now_us + 60_000_000
        return Upkeep(lost, taken, next_at)

    def hand_off_retries(self, retries: Sequence[HandOffLike], *, now: datetime) -> list[bool]:
        """Leave each pending retry (job id, scheduled time, attempt, due) that this
        process holds a lease for to whichever process looks next: its lease stays in
        the file, held by no one and due then."""
        kept = []
        rows = []
        for job_id, scheduled_at, attempt, due in retries:
            key = (job_id, epoch_us(scheduled_at))
            token = self._leases.get(key)
            kept.append(token is not None)
            if token is not None:
                rows.append((key, (_HANDED_OFF, attempt, epoch_us(due), token)))
        if rows:
            with self._write("hand off pending retries") as conn:
                conn.executemany(
                    "UPDATE leases SET owner = ?, holder = NULL, attempt = ?, expires_us = ? "
                    "WHERE token = ?",
                    [row for _, row in rows],
                )
            for key, _ in rows:
                del self._leases[key]
        return kept

    # -- history ----------------------------------------------------------------------

    def record_runs(self, runs: Sequence[RunEnd], *, now: datetime) -> None:
        """Write the history rows; release the leases of runs that are over."""
        if not runs:
            return
        now_us = epoch_us(now)
        process = self.owner.rpartition(":")[0] if self.owner else process_name()
        rows = []
        release: list[tuple[int]] = []
        again: list[tuple[int, int]] = []
        leases = self._leases
        zones: dict[int, str] = {}
        for end in runs:
            scheduled_us = epoch_us(end.scheduled_at)
            tz = end.scheduled_at.tzinfo
            zone = zones.get(id(tz))
            if zone is None:
                zone = zones[id(tz)] = timezone_name(tz) if tz is not None else "UTC"
            error_type, message = error_fields(end)
            ran = end.outcome in _RAN
            rows.append(
                (
                    end.job_id,
                    scheduled_us,
                    zone,
                    end.attempt,
                    end.outcome.value,
                    _us(end.started_at),
                    epoch_us(end.at) if ran else None,
                    error_type,
                    message,
                    process,
                    now_us,
                )
            )
            key = (end.job_id, scheduled_us)
            if key in leases:
                if end.final:
                    release.append((leases.pop(key),))
                elif end.outcome is not Outcome.MISSED:
                    again.append((end.attempt + 1, leases[key]))
            self._touched.add(end.job_id)
        with self._write("record runs") as conn:
            conn.executemany(_HISTORY_INSERT, rows)
            if release:
                # Fenced: a lease another process took over has a new token, untouched here.
                conn.executemany("DELETE FROM leases WHERE token = ?", release)
            if again:
                conn.executemany("UPDATE leases SET attempt = ? WHERE token = ?", again)

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

    def history(self, job_id: str | None = None, *, limit: int = 100) -> list[Run]:
        if not isinstance(limit, int) or limit < 0:
            raise ValueError(f"limit must be a whole number >= 0, got {limit!r}")
        columns = (
            "job_id, scheduled_us, zone, attempt, outcome, started_us, finished_us, "
            "error_type, error_message, process"
        )
        if job_id is None:
            rows = self._read(f"SELECT {columns} FROM history ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = self._read(
                f"SELECT {columns} FROM history WHERE job_id = ? ORDER BY id DESC LIMIT ?",
                (job_id, limit),
            )
        found = []
        for (
            job,
            scheduled_us,
            zone,
            attempt,
            outcome,
            started,
            finished,
            kind,
            message,
            process,
        ) in rows:
            try:
                tz = coerce_timezone(zone)
            except (LookupError, TypeError):
                tz = _UTC
            found.append(
                Run(
                    job_id=job,
                    scheduled_at=_instant(scheduled_us, tz),
                    attempt=attempt,
                    outcome=Outcome(outcome),
                    started_at=None if started is None else _instant(started, tz),
                    finished_at=None if finished is None else _instant(finished, tz),
                    error_type=kind,
                    error_message=message,
                    process=process,
                )
            )
        return found

    # -- other processes' changes -----------------------------------------------------

    def sync(self) -> tuple[list[Job], list[str]] | None:
        """Jobs other processes changed or removed since the last call (or None)."""
        conn = self._connection()
        self._check_file()
        with self._lock, self._guard("check for changes"):
            if conn.execute("PRAGMA data_version").fetchone()[0] == self._data_version:
                return None
            since = self._seen_seq
            with self._snapshot(conn, "check for changes"):
                rows = conn.execute(
                    f"SELECT {_COLUMNS}, next_fire_zone, broken FROM jobs WHERE seq > ?", (since,)
                ).fetchall()
                removed = [
                    row[0]
                    for row in conn.execute(
                        "SELECT id FROM removed WHERE seq > ? AND id NOT IN (SELECT id FROM jobs)",
                        (since,),
                    )
                ]
        jobs, broken = self._decode_rows(rows)
        removed += broken  # no longer loadable: to the scheduler, gone
        if not jobs and not removed:
            return None
        return jobs, removed

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

    def _decode_rows(self, rows: list[Any]) -> tuple[list[Job], list[str]]:
        """The jobs of *rows*, and the ids of the broken ones (marked and logged)."""
        jobs = []
        broken = []
        for row in rows:
            job = self._decode(row)
            if job is None:
                broken.append(row[0])
            else:
                jobs.append(job)
        return jobs, broken


class _Write:
    """The write transaction of :meth:`SQLiteStore._write` (a class, not a generator:
    it is entered for every claim and every add, and this is several µs cheaper)."""

    __slots__ = ("_action", "_conn", "_outer", "_store")

    def __init__(self, store: SQLiteStore, action: str) -> None:
        self._store = store
        self._action = action

    def __enter__(self) -> sqlite3.Connection:
        store = self._store
        conn = self._conn = store._connection()
        if store._file_id is not None:
            store._check_file()
        store._lock.acquire()
        if store._depth:
            store._depth += 1
            self._outer = False
            return conn
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error:
                store._retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"), self._action)
        except BaseException:
            store._lock.release()
            raise
        store._depth = 1
        store._txn_seq = None
        self._outer = True
        return conn

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        store = self._store
        conn = self._conn
        try:
            if not self._outer:
                store._depth -= 1
            else:
                store._depth = 0
                if error is not None:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                else:
                    try:
                        try:
                            conn.execute("COMMIT")
                        except sqlite3.Error:
                            store._retry_busy(lambda: conn.execute("COMMIT"), self._action)
                    except BaseException:
                        with contextlib.suppress(sqlite3.Error):
                            conn.execute("ROLLBACK")
                        raise
        finally:
            store._lock.release()
        if isinstance(error, sqlite3.Error):
            raise store._error(error, self._action) from error
