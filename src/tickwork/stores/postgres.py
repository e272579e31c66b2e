"""A job store in PostgreSQL, shared by the schedulers of many hosts.

Theory of operation
-------------------
Jobs are rows of plain data (:mod:`tickwork.stores.codec`): the function by its
``"module:qualname"`` reference, arguments as ``json`` (the exact text written: ``jsonb``
would turn ``1e20`` into an int and ``-0.0`` into ``0.0``), trigger and options as
``jsonb`` (pickled arguments only when asked, in ``bytea`` columns), the next fire time
in integer microseconds, the paused flag. Everything lives in one schema of the user's choice
(``tickwork`` by default), created and migrated at the first :meth:`PostgresStore.open`
under a transaction-level advisory lock, so that many hosts starting at once migrate
once (:mod:`._pg_schema`).

The store keeps the :class:`~tickwork.stores.SharedJobStore` contract, lease rules
included; what follows is how. There is no leader: every host runs its own scheduler
over the same jobs, and the database decides every race.

*Exactly once.* A scheduled fire becomes a run only through
:meth:`PostgresStore.claim_fires`: one statement per batch locks the claimed jobs
(``FOR UPDATE SKIP LOCKED``: a job another transaction holds is skipped, not waited
for), moves the next fire time of each whose stored value is the one the caller
expected (a compare-and-set), and for each run the claim starts inserts a *slot*, the
pair (job id, nominal fire time) under a primary key, and a *lease*. A slot taken
already (that fire ran, say before a host replaced the job and reset its schedule)
makes a second run of it impossible: the claim moves the job on but starts nothing.
A lease has an owner (``host:pid:nonce``), an expiry and a fencing token (an identity
column, never reused); renewals, releases and hand-offs match the token *and* the
owner, so a host that froze and lost its lease writes nothing over the new holder.

*Liveness.* Each store object registers in ``processes`` and holds a session advisory
lock on a connection of its own for as long as it is open. When the process dies, or
its connection does, the server frees the lock at once; the
:meth:`PostgresStore.maintain` of any other host (every ``poll_interval``) that finds
it still free a second after it first did takes the dead owner's leases over under
new tokens (``Takeover(dead=True)``). A live process whose connections were cut takes
its lock back meanwhile (its listener does as soon as the server answers again).
Otherwise a lease is taken over when it has expired by the caller's clock *and* by the
server's (``now()``), so a host whose clock runs ahead never takes one early.

*Changes.* Each job row and removal tombstone carries the id of the transaction that
last wrote it (``pg_current_xact_id()``). A read that :meth:`PostgresStore.sync`
counts from (``load_jobs``, ``due_jobs`` from the start, ``sync`` itself) takes
``pg_current_snapshot()`` in the same statement; the next sync reads the rows whose
transaction that snapshot did not see (``xid >= xmin`` and not visible in it). A
transaction that started before a later one and commits after it is therefore never
missed, as it would be with a counter. The transactions of this store object are left
out (no news to itself). An idle sync is one small query on the ``xid`` indexes. Jobs a
claim could not lock, or lost, are reported by the next sync whatever their stamps:
the transaction that held them may have rolled back.

*Wake-ups.* With ``notify`` (the default), every transaction that writes jobs or
records runs sends ``NOTIFY`` on :attr:`PostgresStore.channel` with the writer's owner
name, so that a listener skips its own; :meth:`PostgresStore.subscribe` calls back on
the others'. Polling (``poll_interval``, at most 10 s) stays as the backstop; turn
``notify`` off behind PgBouncer in transaction mode.

*Clocks.* The store takes ``now`` from its caller, as every store does; a scheduler on
the real clock corrects it to the server's (:meth:`PostgresStore.database_now`, read
at start and every 10 s: ``tickwork._clock.CorrectedClock``), so every host decides
what is due by the database's time, whatever its own clock says.

*Round trips.* A write alone in its transaction (``add_job``, ``update_job``,
``remove_job``) is one statement in autocommit, with the stamp and the ``NOTIFY``
folded in; a read outside a transaction is one statement in autocommit; a claim batch
is one statement, whatever its size.

*Faults.* Every psycopg error becomes a :class:`~tickwork.StoreError` naming the
server, database and schema (never the password) and what could not be done; the
transaction is rolled back. A broken connection leaves the pool, so the next call gets
a fresh one. ``lock_timeout`` and ``statement_timeout`` are set on every connection
(nothing waits for ever), and a pool that stays exhausted past ``lock_timeout`` is a
``StoreError`` too.

Layout
------
This module holds :class:`PostgresStore`'s arguments, its jobs, sync and wake-ups.
Beside it: ``_pg_leases.py`` (claims, leases, takeover), ``_pg_history.py`` (history,
releases, retention), ``_pg_connection.py`` (pool, liveness connection, errors,
transactions), ``_pg_schema.py`` (tables and migrations).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .._checks import seconds, whole
from .._errors import ConflictingIdError, JobLookupError, SerializationError, StoreError
from .._instants import epoch_us, instant
from .._model import Job
from ..triggers.event import listens_for_events
from ._base import JobSchedule, ProcessListing, SharedJobStore, StatsListing, WindowedJobStore
from ._chains import ChainStore
from ._history import process_name
from ._pg_chains import PGChains
from ._pg_connection import describe, import_psycopg, nonce
from ._pg_events import PGEvents
from ._pg_leases import PGLeases
from ._pg_outcomes import PGOutcomes
from ._pg_schema import DB_NOW_US, EVENT_ROWS, JOB_COLUMNS, SCHEMA_VERSION, check_schema_name, quote
from ._pg_share import PGShare
from ._rows import JobRows
from .codec import JobRow, encode_job

if TYPE_CHECKING:
    import psycopg_pool

    from ._pg_listen import Listener

__all__ = ["SCHEMA_VERSION", "PostgresStore"]

#: The longest subscribe() waits for the first LISTEN (usually milliseconds).
_LISTEN_WAIT = 2.0


def _nothing() -> None:
    """Unsubscribe from a store that never calls back."""


logger = logging.getLogger("tickwork")

_MAX_HISTORY_DAYS = 100 * 365

_COLUMNS = JOB_COLUMNS
_NULLS = ", ".join(["NULL"] * 14)
_WRITE_COLUMNS = (
    "id, name, func_ref, args, kwargs, args_pickle, kwargs_pickle, trigger, options, "
    "next_fire_us, paused, remaining_runs, consecutive_failures, next_fire_zone"
)
#: Rows in as arrays: one statement for a batch of any size.
_ROWS_IN = """
SELECT id, name, func_ref, args::json, kwargs::json, args_pickle, kwargs_pickle,
    trigger::jsonb, options::jsonb, next_fire_us, paused, remaining_runs,
    consecutive_failures, next_fire_zone
FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::bytea[],
    %b::bytea[], %b::text[], %b::text[], %b::bigint[], %b::bool[], %b::bigint[],
    %b::bigint[], %b::text[])
    AS r(id, name, func_ref, args, kwargs, args_pickle, kwargs_pickle, trigger, options,
         next_fire_us, paused, remaining_runs, consecutive_failures, next_fire_zone)
"""
_INSERT = (
    f"INSERT INTO {{s}}.jobs ({_WRITE_COLUMNS}) {_ROWS_IN} ON CONFLICT DO NOTHING RETURNING id"
)
_UPSERT = (
    f"INSERT INTO {{s}}.jobs ({_WRITE_COLUMNS}) {_ROWS_IN} ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in _WRITE_COLUMNS.split(", ")[1:])
    + ", broken = NULL, xid = pg_current_xact_id()"
)
_UPDATE = (
    "UPDATE {s}.jobs SET name = %s, func_ref = %s, args = %s::json, kwargs = %s::json, "
    "args_pickle = %s, kwargs_pickle = %s, trigger = %s::jsonb, options = %s::jsonb, "
    "paused = %s, consecutive_failures = %s, broken = NULL, xid = pg_current_xact_id() "
    "{schedule}WHERE id = %s"
)
_SCHEDULE = ", next_fire_us = %s, remaining_runs = %s, next_fire_zone = %s "
#: (A removed job's run slots stay, as its history does: a one-off job that ran and was
#: removed, then added again by a host starting up, does not run that fire again.)
_REMOVE_GONE = "gone AS (DELETE FROM {s}.jobs WHERE id = ANY(%s::text[]) RETURNING id)"
_REMOVE_TOMBSTONES = (
    "INSERT INTO {s}.removed (id) SELECT id FROM gone "
    "ON CONFLICT (id) DO UPDATE SET xid = excluded.xid RETURNING id"
)
#: The jobs done firing of ``remove_done_jobs``: no fire time, no lease of another owner.
_REMOVE_DONE = (
    "gone AS (DELETE FROM {s}.jobs j WHERE id = ANY(%s::text[]) AND next_fire_us IS NULL "
    "AND NOT EXISTS (SELECT 1 FROM {s}.leases l WHERE l.job_id = j.id AND l.owner <> %s) "
    "RETURNING id)"
)
#: Changed since a snapshot, by another transaction than this store's.
_CHANGED = (
    "xid >= pg_snapshot_xmin(%(snap)s::pg_snapshot) "
    "AND NOT pg_visible_in_snapshot(xid, %(snap)s::pg_snapshot) "
    "AND xid <> ALL(%(mine)s::xid8[])"
)
#: Whether anything changed, with the snapshot of the look: when nothing did, that
#: snapshot is where the next sync counts from (so that it looks at fewer rows).
#: (Each look is ordered by ``xid``, so that the index on it is used even when the
#: planner's statistics are stale, as right after a large load.)
_ANY_CHANGE = (
    "SELECT pg_current_snapshot()::text, "
    f"(SELECT xid FROM {{s}}.jobs WHERE {_CHANGED} ORDER BY xid LIMIT 1) IS NOT NULL "
    f"OR (SELECT xid FROM {{s}}.removed WHERE {_CHANGED} ORDER BY xid LIMIT 1) IS NOT NULL"
)
#: The same, with the server's clock (µs): while jobs wait for another process's claim.
_ANY_CHANGE_NOW = _ANY_CHANGE + ", " + DB_NOW_US
#: A read with the snapshot it saw (the first column; one row with no job if none).
_SNAPSHOT_READ = (
    "SELECT snap.s, j.* FROM (SELECT pg_current_snapshot()::text AS s) snap "
    "LEFT JOIN LATERAL ({inner}) j ON true"
)
_SYNC = _SNAPSHOT_READ.format(
    inner=f"SELECT 'j' AS kind, {_COLUMNS} FROM {{s}}.jobs "
    f"WHERE ({_CHANGED}) OR id = ANY(%(recheck)s::text[]) "
    f"UNION ALL SELECT 'r', id, {_NULLS} FROM {{s}}.removed r "
    f"WHERE ({_CHANGED} OR id = ANY(%(recheck)s::text[])) "
    "AND NOT EXISTS (SELECT 1 FROM {s}.jobs j WHERE j.id = r.id)"
)
_DUE = (
    f"SELECT {_COLUMNS} FROM {{s}}.jobs WHERE next_fire_us IS NOT NULL AND NOT paused "
    "{after} ORDER BY next_fire_us, id LIMIT %s"
)
_DUE_FIRST = _SNAPSHOT_READ.format(inner=_DUE.replace("{after}", ""))
_DUE_AFTER = _DUE.replace("{after}", "AND (next_fire_us, id) > (%s, %s)")
_ALL = _SNAPSHOT_READ.format(inner=f"SELECT {_COLUMNS} FROM {{s}}.jobs")
#: The snapshot before any read: every row is news.
_NO_SNAPSHOT = "1:1:"


def _params(row: JobRow) -> tuple[Any, ...]:
    """A row's values for the jobs columns (JSON text or pickle bytes apart)."""
    args, kwargs = row.args, row.kwargs
    return (
        row.id,
        row.name,
        row.func_ref,
        args if isinstance(args, str) else None,
        kwargs if isinstance(kwargs, str) else None,
        args if isinstance(args, bytes) else None,
        kwargs if isinstance(kwargs, bytes) else None,
        row.trigger,
        row.options,
        row.next_fire_us,
        bool(row.paused),
        row.remaining_runs,
        row.consecutive_failures,
        row.next_fire_zone,
    )


@contextlib.contextmanager
def _unstorable(jobs: Sequence[Job]) -> Iterator[None]:
    """Text PostgreSQL cannot hold is a SerializationError naming the job(s), as for any
    value a store cannot keep: a NUL character in a text column (the id, the name), or a
    NUL or a lone surrogate in the ``jsonb`` of the trigger or options (a tag, a pause
    note, an event name). The arguments' ``json`` holds both."""
    import psycopg

    try:
        yield
    except (psycopg.errors.UntranslatableCharacter, psycopg.errors.CharacterNotInRepertoire,
            psycopg.DataError) as error:  # fmt: skip
        if isinstance(error, psycopg.errors.NumericValueOutOfRange):
            raise
        ids = ", ".join(repr(job.id) for job in jobs[:10])
        message = " ".join(str(error).split())
        if "surrogate" in message:
            hint = "a lone surrogate character, such as '\\ud800', in a tag or another option?"
        else:
            hint = "a NUL character in the id, the name, a tag or another option?"
        raise SerializationError(
            f"PostgreSQL cannot store the job(s) {ids}: {message} ({hint})"
        ) from error


def _visible(xid: int, snapshot: str) -> bool:
    """Whether the transaction *xid* had committed (or was older) in *snapshot*."""
    xmin, xmax, xip = snapshot.split(":")
    if xid < int(xmin):
        return True
    return xid < int(xmax) and str(xid) not in xip.split(",")


class PostgresStore(
    PGEvents,
    PGOutcomes,
    PGLeases,
    PGShare,
    PGChains,
    JobRows,
    SharedJobStore,
    WindowedJobStore,
    ProcessListing,
    StatsListing,
    ChainStore,
):
    """Keeps jobs, leases and run history in a PostgreSQL database (13 or later),
    shared by the schedulers of any number of hosts.

    Each scheduled fire runs once among them (a claim is a compare-and-set in the
    database, and each run's (job, fire time) slot is a unique key); a change made by
    one reaches the others at once (``NOTIFY``) or within *poll_interval*; a process
    that dies has its runs taken over at the next poll (its advisory lock is free),
    one that hangs after *lease_time*.

    Args:
        dsn_or_pool: a libpq connection string or URL (the store makes and closes a
            pool of its own), or a ``psycopg_pool.ConnectionPool`` (used, never closed).
        schema: the schema that holds tickwork's tables (created if missing): letters,
            digits and ``_``, not starting with a digit, at most 63 bytes.
        pickle: store ``args``/``kwargs`` with :mod:`pickle` instead of JSON. Only for
            databases no one untrusted can write: unpickling runs code.
        lease_time: seconds a run's claim lasts without renewal.
        poll_interval: seconds between checks for other hosts' changes (at most 10).
        history_per_job: runs of each job kept in the history.
        history_days: history older than this is deleted.
        lock_timeout: seconds a statement waits for a lock, and a call for a free
            connection of the pool, before a ``StoreError``.
        statement_timeout: seconds a statement may run before a ``StoreError``.
        notify: send ``NOTIFY`` on each change (off behind PgBouncer in transaction
            mode: the others then learn by polling).
        pool_size: the most connections of the store's own pool.
        connect_timeout: seconds to wait for the server when connecting.

    Raises:
        ImportError: psycopg is not installed (``pip install "tickwork[postgres]"``).
        TypeError, ValueError: an argument of the wrong type or value; the message
            names it.
        StoreError: at :meth:`open` (``start()``): the server refuses the connection
            (the reason is given), the user may not create the tables, or the schema
            holds another application's tables or a newer tickwork's.
    """

    def __init__(
        self,
        dsn_or_pool: str | psycopg_pool.ConnectionPool[Any],
        *,
        schema: str = "tickwork",
        pickle: bool = False,
        lease_time: float = 30.0,
        poll_interval: float = 5.0,
        history_per_job: int = 100,
        history_days: float = 30.0,
        lock_timeout: float = 10.0,
        statement_timeout: float = 30.0,
        notify: bool = True,
        pool_size: int = 4,
        connect_timeout: float = 10.0,
    ) -> None:
        import_psycopg()
        import psycopg_pool

        if isinstance(dsn_or_pool, str):
            self._dsn: str | None = dsn_or_pool
            self._given_pool: psycopg_pool.ConnectionPool[Any] | None = None
        elif isinstance(dsn_or_pool, psycopg_pool.ConnectionPool):
            self._dsn = None
            self._given_pool = dsn_or_pool
        else:
            raise TypeError(
                "dsn_or_pool must be a connection string or a psycopg_pool.ConnectionPool, "
                f"got {type(dsn_or_pool).__name__}"
            )
        self.schema = check_schema_name(schema)
        for name, value in (
            ("lease_time", lease_time),
            ("lock_timeout", lock_timeout),
            ("statement_timeout", statement_timeout),
            ("connect_timeout", connect_timeout),
        ):
            seconds(value, name, positive=True)
        seconds(poll_interval, "poll_interval", positive=True, maximum=10.0)
        seconds(history_days, "history_days", positive=True, maximum=_MAX_HISTORY_DAYS,
                unit="days", smallest=1e-6 / 86_400)  # fmt: skip
        whole(history_per_job, "history_per_job")
        whole(pool_size, "pool_size")
        for name, flag in (("pickle", pickle), ("notify", notify)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, got {flag!r}")
        self.pickle = pickle
        self.notify = notify
        self.lease_time = float(lease_time)
        self.poll_interval = float(poll_interval)
        self.history_per_job = history_per_job
        self.history_days = float(history_days)
        self.lock_timeout = float(lock_timeout)
        self.statement_timeout = float(statement_timeout)
        self.connect_timeout = float(connect_timeout)
        self.pool_size = pool_size
        self.owner = f"{process_name()}:{nonce()}"
        self._s = quote(self.schema)
        self._where = describe(self._conninfo(), self.schema)
        # The state of the classes below, each of which declares (and explains) its own.
        self._pool = None
        self._open_lock = threading.RLock()
        self._local = threading.local()
        self._configured = set()
        self._live = None
        self._live_lock = threading.Lock()
        self._lock_key = None
        self._pid = os.getpid()
        self._mine = set()
        self._mine_lock = threading.Lock()
        self._leases = {}
        self._taken_from_me = {}
        self._superseded = {}
        self._free_since = {}
        self._events_free_since = {}
        self._touched = set()
        self._renew_at_us = 0
        self._prune_at_us = 0
        self._beat_at_us = 0
        self._handed_off = False
        self._recheck = set()
        self._waiting = {}
        self._graces = deque()
        self._live_set = None
        self._split = ([], [], [])
        self._dispatching = None
        self._now_us = 0
        self._snap = _NO_SNAPSHOT
        self._sync_lock = threading.Lock()
        self._reported: dict[str, str] = {}  # broken job -> reason already logged
        self._marking = threading.local()
        self._unreadable: set[str] = set()
        self._refused: set[str] = set()
        self._refused_logged: set[str] = set()
        self._callbacks: list[
            tuple[Callable[[], None], Callable[[BaseException], None] | None]
        ] = []
        self._listener: Listener | None = None

    _medium = "the database"

    def __repr__(self) -> str:
        return f"PostgresStore({self._where!r})"

    def close(self) -> None:
        """Stop listening, release the connections; keep the data."""
        self._stop_listener()
        super().close()

    # -- jobs -------------------------------------------------------------------------

    def add_job(self, job: Job, *, replace: bool = False) -> None:
        self.add_jobs([job], replace=replace)

    def add_jobs(self, jobs: Sequence[Job], *, replace: bool = False) -> None:
        if not jobs:
            return
        pickle = self.pickle
        rows = [_params(encode_job(job, pickle_args=pickle)) for job in jobs]
        if replace:
            rows = list({row[0]: row for row in rows}.values())  # the last of an id wins
        columns = [list(column) for column in zip(*rows, strict=True)]
        sql = (_UPSERT + " RETURNING id") if replace else _INSERT
        # Alone (the usual add_job), in one round trip: a replace, or one job (a batch
        # that conflicts must store none of its jobs, which takes a transaction).
        stored = None
        if replace or len(rows) == 1:
            stored = self._lone_write(
                sql.format(s=self._s), columns, "save the jobs", _unstorable(jobs)
            )
        if stored is not None:
            if not replace and len(stored) != len(rows):
                raise self._conflicts(columns[0], {row[0] for row in stored})
            return
        with self._tx("save the jobs") as tx, _unstorable(jobs):
            if replace:
                tx.conn.execute(_UPSERT.format(s=self._s), columns)
            else:
                stored = tx.conn.execute(_INSERT.format(s=self._s), columns).fetchall()
                if len(stored) != len(rows):
                    raise self._conflicts(columns[0], {row[0] for row in stored})
            tx.wrote = True

    @staticmethod
    def _conflicts(ids: list[str], inserted: set[str]) -> ConflictingIdError:
        """The error for a batch with ids that exist, or that it holds twice."""
        found = {i for i, n in Counter(ids).items() if n > 1} | (set(ids) - inserted)
        if len(ids) == 1:
            return ConflictingIdError(f"a job with id {ids[0]!r} already exists")
        listed = ", ".join(map(repr, sorted(found)[:10]))
        more = f" and {len(found) - 10} more" if len(found) > 10 else ""
        return ConflictingIdError(f"jobs with these ids already exist: {listed}{more}")

    def update_job(self, job: Job, *, schedule: bool = True) -> None:
        row = encode_job(job, pickle_args=self.pickle)
        params = _params(row)
        definition = (*params[1:9], params[10], params[12])
        if schedule:
            sql = _UPDATE.format(s=self._s, schedule=_SCHEDULE)
            values = (*definition, row.next_fire_us, row.remaining_runs, row.next_fire_zone)
        else:
            sql = _UPDATE.format(s=self._s, schedule="")
            values = definition
        found = self._lone_write(
            sql + " RETURNING id", (*values, row.id), "save the job", _unstorable([job])
        )
        if found is None:  # in a transaction of the caller's
            with self._tx("save the job") as tx, _unstorable([job]):
                found = tx.conn.execute(sql + " RETURNING id", (*values, row.id)).fetchall()
                tx.wrote = bool(found)
        if not found:
            raise JobLookupError(f"no job with id {job.id!r}")

    def remove_job(self, job_id: str) -> None:
        if not self._remove([job_id], "remove the job"):
            raise JobLookupError(f"no job with id {job_id!r}")

    def remove_jobs(self, job_ids: Sequence[str]) -> None:
        if job_ids:
            self._remove(list(dict.fromkeys(job_ids)), "remove jobs")

    def remove_done_jobs(self, job_ids: Sequence[str]) -> list[str]:
        """:meth:`remove_jobs` for jobs done firing, but those still with a fire time
        (another process gave them one since: a reschedule, a run-now) and those another
        process holds a run of (a lease not this store's), which needs the record and
        removes it when its runs end. Returns the ids removed."""
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            return []
        gone = self._remove(ids, "remove jobs done firing", done_by=self.owner)
        return [row[0] for row in gone]

    def _remove(self, job_ids: list[str], action: str, done_by: str | None = None) -> list[Any]:
        """Delete the jobs, leave a tombstone for each one deleted; the ids deleted.
        With *done_by* (an owner), only those with no fire time and no lease of
        another owner (``remove_done_jobs``)."""
        ctes, params = _REMOVE_GONE, list[Any]([job_ids])
        if done_by is not None:
            ctes, params = _REMOVE_DONE, [job_ids, done_by]
        ctes = ctes.format(s=self._s)
        gone = self._lone_write(_REMOVE_TOMBSTONES.format(s=self._s), params, action, ctes=ctes)
        if gone is None:  # in a transaction of the caller's
            with self._tx(action) as tx:
                sql = f"WITH {ctes} {_REMOVE_TOMBSTONES.format(s=self._s)}"
                gone = tx.conn.execute(sql, params).fetchall()
                tx.wrote = bool(gone)
        return gone

    def get_job(self, job_id: str) -> Job:
        if "\x00" in job_id:  # (PostgreSQL text holds no NUL: no such job, not an error)
            return self._one_job(job_id, [])
        rows = self._read(
            f"SELECT {_COLUMNS} FROM {self._s}.jobs WHERE id = %s", (job_id,), "read the job"
        )
        return self._one_job(job_id, rows)

    def event_jobs(self) -> list[Job]:
        """The jobs whose trigger waits for events (an ``EventTrigger``): a window of
        due jobs never holds those with no fire time, so the scheduler reads them here.
        (A text match, served by an index, narrows the rows; only those are decoded.)"""
        rows = self._read(
            f"SELECT {_COLUMNS} FROM {self._s}.jobs WHERE {EVENT_ROWS}",
            None,
            "read the jobs that wait for events",
        )
        return [job for job in self._decode_rows(rows)[0] if listens_for_events(job.trigger)]

    def get_jobs(self) -> list[Job]:
        """Every job, by next fire time. It does not move where :meth:`sync` counts
        from (a scheduler with a window reads the other jobs here)."""
        rows = self._read(
            f"SELECT {_COLUMNS} FROM {self._s}.jobs "
            "ORDER BY next_fire_us IS NULL, next_fire_us, id",
            (),
            "read the jobs",
        )
        return self._decode_rows(rows)[0]

    def due_jobs(self, *, after: tuple[datetime, str] | None, limit: int) -> list[Job]:
        """The next *limit* jobs to come due after the key *after* (see
        :class:`~tickwork.stores.WindowedJobStore`), read through an index."""
        whole(limit, "limit", minimum=1)
        if after is None:
            rows = self._snapshot_read(_DUE_FIRST.format(s=self._s), (limit,), "read due jobs")
        else:
            rows = self._read(
                _DUE_AFTER.format(s=self._s),
                (epoch_us(after[0]), after[1], limit),
                "read due jobs",
            )
        after_sql = _DUE_AFTER.format(s=self._s)
        return self._due_page(
            rows,
            limit,
            lambda last, n: self._read(after_sql, (last[9], last[0], n), "read due jobs"),
        )

    def schedules(self) -> list[JobSchedule]:
        """Each job's id, next fire time (UTC) and paused flag, by id: one small read,
        no job decoded (see :class:`~tickwork.stores.StatsListing`)."""
        utc = timezone.utc
        make = tuple.__new__  # (a NamedTuple's own constructor is slower)
        return [
            make(JobSchedule, (job_id, None if fire is None else instant(fire, utc), bool(paused)))
            for job_id, fire, paused in self.schedule_rows()
        ]

    def schedule_rows(self) -> list[tuple[str, int | None, Any]]:
        """:meth:`schedules` as rows of µs (``tickwork.stores._base.StatsRows``)."""
        return self._read(
            f"SELECT id, next_fire_us, paused FROM {self._s}.jobs WHERE broken IS NULL ORDER BY id",
            (),
            "read the schedules",
        )

    def load_jobs(self) -> list[Job]:
        """Every job, unordered; where :meth:`sync` counts changes from."""
        rows = self._snapshot_read(_ALL.format(s=self._s), (), "read the jobs")
        return self._decode_rows(rows)[0]

    def _snapshot_read(self, sql: str, params: Any, action: str) -> list[Any]:
        """The rows of a read that returns its snapshot first; that snapshot becomes
        the point :meth:`sync` counts from."""
        with self._sync_lock:
            rows = self._read(sql, params, action)
            self._new_snapshot(rows[0][0])
        return [row[1:] for row in rows if row[1] is not None]

    def _new_snapshot(self, snapshot: str) -> None:
        self._snap = snapshot
        with self._mine_lock:
            # Own transactions this snapshot saw are behind it; those still running
            # may commit after it, and stay left out of the next sync.
            self._mine = {xid for xid in self._mine if not _visible(int(xid), snapshot)}

    def _fields(self, row: Sequence[Any]) -> tuple[Sequence[Any], Any]:
        args = row[3] if row[5] is None else bytes(row[5])
        kwargs = row[4] if row[6] is None else bytes(row[6])
        fields = (row[0], row[1], row[2], args, kwargs, row[7], row[8], row[9], int(row[10]),
                  row[11], row[12], row[13])  # fmt: skip
        return fields, row[14]

    def _clear_broken(self, job_id: str) -> None:
        with contextlib.suppress(StoreError), self._tx("update") as tx:
            tx.conn.execute(f"UPDATE {self._s}.jobs SET broken = NULL WHERE id = %s", (job_id,))

    def _kept_in(self) -> str:
        return self._where

    def mark_broken(self, job_id: str, reason: str) -> None:
        """Keep the row, note why it cannot be loaded, log it: once per process and
        reason (a process that loads the job clears the mark; this one does not write
        it again, see ``_rows``)."""
        if self._reported.get(job_id) == reason:
            return
        with self._tx("mark the job broken") as tx:
            tx.conn.execute(
                f"UPDATE {self._s}.jobs SET broken = %s WHERE id = %s "
                "AND broken IS DISTINCT FROM %s",
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
        rows = self._read(
            f"SELECT id, broken FROM {self._s}.jobs WHERE broken IS NOT NULL ORDER BY id",
            (),
            "read the broken jobs",
        )
        return dict(rows)

    # -- other processes' changes -----------------------------------------------------

    def _changes(
        self, bound: tuple[datetime, str] | None
    ) -> tuple[list[Job], list[str], list[str]] | None:
        with self._sync_lock:
            with self._mine_lock:
                mine = list(self._mine)
            self._overdue()
            if not self._recheck and len(mine) < 256:
                params = {"snap": self._snap, "mine": mine}
                if self._waiting:
                    # (Jobs left to another process: taken in if not claimed in time.)
                    sql = _ANY_CHANGE_NOW.format(s=self._s)
                    [(snapshot, changed, now_us)] = self._read(sql, params, "check for changes")
                    self._now_us = max(self._now_us, now_us)
                    self._overdue()
                else:
                    sql = _ANY_CHANGE.format(s=self._s)
                    [(snapshot, changed)] = self._read(sql, params, "check for changes")
                if not changed and not self._recheck:
                    self._new_snapshot(snapshot)
                    return None
            recheck = list(self._recheck)
            params = {"snap": self._snap, "mine": mine, "recheck": recheck}
            rows = self._read(_SYNC.format(s=self._s), params, "check for changes")
            self._new_snapshot(rows[0][0])
            self._recheck.difference_update(recheck)
            # A job left to another process is taken in once reported (claimed, changed
            # or removed there, or not claimed in time).
            self._reported_back([row[2] for row in rows if row[1] is not None])
        removed = [row[2] for row in rows if row[1] == "r"]
        changed, beyond = self._split_at([row[2:] for row in rows if row[1] == "j"], bound)
        jobs, broken = self._decode_rows(changed)
        removed += broken  # no longer loadable: to the scheduler, gone
        if not jobs and not removed and not beyond:
            return None
        return jobs, removed, beyond

    # -- the server's clock and wake-ups ----------------------------------------------

    def database_now(self) -> datetime:
        """The server's clock now (``clock_timestamp()``), as an aware UTC datetime."""
        [(moment,)] = self._read("SELECT clock_timestamp()", (), "read the server's clock")
        assert isinstance(moment, datetime)
        return moment.astimezone(timezone.utc)

    def subscribe(
        self,
        callback: Callable[[], None],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> Callable[[], None]:
        """Call *callback* (from a listener thread) whenever another store writes jobs
        or records runs in this schema (a ``NOTIFY`` on :attr:`channel`), and once more
        after the listener reconnected (notifications may have been missed meanwhile);
        call *on_error* once per outage of the listening connection. Returns the
        function that unsubscribes them. With ``notify=False`` nothing is ever called
        (the scheduler polls every ``poll_interval``)."""
        if not self.notify:
            return _nothing
        entry = (callback, on_error)
        with self._open_lock:
            self._callbacks.append(entry)
            listener = self._listener
            if listener is None:
                from ._pg_listen import Listener

                listener = self._listener = Listener(
                    self._connect_live, self.channel, self._heard, self._deaf
                )
        # The first LISTEN is usually in place within milliseconds; a server that does
        # not answer is told to on_error, and the listener keeps trying by itself.
        listener.start(wait=_LISTEN_WAIT)

        def unsubscribe() -> None:
            with self._open_lock:
                with contextlib.suppress(ValueError):
                    self._callbacks.remove(entry)
                idle = not self._callbacks
            if idle:
                self._stop_listener()

        return unsubscribe

    def _heard(self, payload: str) -> None:
        """A notification: another store's change (this store's own are skipped), or
        ``""`` after a reconnection."""
        if payload == self.owner:
            return
        if not payload:
            # The server answers again after an outage (a restart, or this process's
            # connections terminated): take this process's liveness lock back now, not
            # at the next upkeep, so that other hosts do not see it dead meanwhile and
            # take over the runs it is still running.
            try:
                self._check_live()
            except Exception as error:  # (the next upkeep tries again)
                logger.debug("tickwork: %s: could not register again yet: %s", self._where, error)
        if payload.endswith("\t"):
            # Another process left runs in the store (paused, or shutting down), due
            # now or at their retry time: the scheduler takes them over at its next
            # step (upkeep_wanted), not at its next poll. No job changed.
            if payload[:-1] != self.owner:
                self._handed_off = True
                for callback, _ in list(self._callbacks):
                    self._call_back(callback)
            return
        if payload.endswith("\n"):
            # A process started or stopped dispatching: the dispatching processes are
            # read again at the next page read, or by the scheduler woken for it
            # (refresh_split, see ._pg_share); no job changed.
            if payload[:-1] == self.owner:
                return
            self._live_set = None
            if not self._waiting:
                return
        live = self._live_set
        if live is not None and all(owner != payload for owner, _ in live):
            # A process this one does not know of as dispatching (it started; or
            # notifications may have been missed): the next page read reads them.
            self._live_set = None
        for callback, _ in list(self._callbacks):
            self._call_back(callback)

    def _call_back(self, callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:
            logger.exception("tickwork: a change callback of %s failed", self._where)

    def _deaf(self, error: BaseException) -> None:
        """The listening connection was lost (the listener reconnects by itself)."""
        if not isinstance(error, StoreError):
            reason = " ".join(str(error).split()) or type(error).__name__
            lost = StoreError(f"{self._where}: the LISTEN connection was lost: {reason}")
            lost.__cause__ = error
            error = lost
        for _, on_error in list(self._callbacks):
            if on_error is not None:
                try:
                    on_error(error)
                except Exception:
                    logger.exception("tickwork: an error callback of %s failed", self._where)

    def _stop_listener(self) -> None:
        with self._open_lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()
