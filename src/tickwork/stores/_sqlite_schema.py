"""The SQLite file's format: its tables, their migrations, and how values are kept.

:class:`~tickwork.stores.SQLiteStore` keeps everything in these tables (the module
docstring of :mod:`tickwork.stores.sqlite` says how they are used):

- ``meta``: ``app`` (always ``"tickwork"``) and ``schema``, the version of the tables.
- ``jobs``: one row per job, in the columns of :mod:`tickwork.stores.codec`, plus
  ``broken`` (why the row cannot be loaded) and ``seq`` (the change counter); indexed
  by ``seq`` (changes) and by ``(next_fire_us, id)`` for the jobs that can come due
  (the scheduler's window).
- ``removed``: a tombstone per removed job, with the ``seq`` of its removal.
- ``leases``: one per claimed run not yet over (or retry handed off); ``token`` is
  the fencing token, ``holder`` the holder's identity on its machine. Indexed by
  ``(job_id, scheduled_us)`` and by ``owner`` only: a lease is written twice per run.
- ``history``: one row per attempt recorded (success, failure, interrupted, missed or
  skipped), in the order recorded.
- ``processes``: one row per scheduler process (store object) that looks after its
  leases: its owner name, host, pid, identity on its machine (as ``leases.holder``),
  when it registered and its heartbeat (``seen_us``), written by ``maintain()``, and
  the executors its scheduler dispatches to (``executors``, NULL: none).

Instants are integer microseconds since the Unix epoch (``*_us`` columns, compared as
instants whatever the zone); a zone is kept by name beside the instant where the zone
matters (``next_fire_zone``, ``history.zone``).

A file's version is its number of :data:`MIGRATIONS` applied. :func:`check_schema` is
run on every connection the store opens: it refuses a file that is not tickwork's or
that a newer tickwork wrote, and brings an empty or older file up to
:data:`SCHEMA_VERSION`, in one write transaction.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime

from .._errors import StoreError
from .._instants import epoch_us, instant

__all__ = [
    "EVENT_ROWS",
    "JOB_COLUMNS",
    "LATEST",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "check_schema",
    "instant",
    "refuse_foreign",
    "us",
]

logger = logging.getLogger("tickwork")

_APP = "tickwork"

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
    (
        # The scheduler's window (SQLiteStore.due_jobs): the jobs due next, in order of
        # (next fire, id), a page at a time from any key, without a sort. Paused jobs
        # and jobs with no fire time left never come due: left out, they cost the index
        # nothing.
        "CREATE INDEX jobs_by_due ON jobs (next_fire_us, id) "
        "WHERE next_fire_us IS NOT NULL AND paused = 0",
    ),
    (
        # Every claimed run inserts a lease and every finished one deletes it: an index
        # costs both, and this one served only the rare look for expired leases (a scan
        # of the leases then, with the owner index for the frequent queries).
        "DROP INDEX IF EXISTS leases_by_expiry",
    ),
    (
        # Which scheduler processes use the file, and when each last said it was alive
        # (SQLiteStore.processes): maintain() registers its store object and beats every
        # third of the lease time, close() removes it, pruning forgets the long silent.
        """CREATE TABLE processes (
            owner TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            holder TEXT,
            started_us INTEGER NOT NULL,
            seen_us INTEGER NOT NULL
        ) WITHOUT ROWID""",
    ),
    (
        # Emitted events (scheduler.emit, tickwork emit) and the (job, event) slots that
        # make each event run each job once among the processes (stores/_eventlog.py).
        # The indexes keep the frequent looks cheap: events nobody handled yet (and, by
        # age, those pruned with the history), slots not done (a dead owner's are taken
        # over), an event's slots (pruning).
        """CREATE TABLE events (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            payload TEXT NOT NULL,
            emitted_us INTEGER NOT NULL,
            handled INTEGER NOT NULL
        ) WITHOUT ROWID""",
        "CREATE INDEX events_by_time ON events (handled, emitted_us, id)",
        """CREATE TABLE event_runs (
            job_id TEXT NOT NULL,
            event_id TEXT NOT NULL,
            owner TEXT NOT NULL,
            holder TEXT,
            done INTEGER NOT NULL,
            PRIMARY KEY (job_id, event_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX event_runs_open ON event_runs (owner) WHERE done = 0",
        "CREATE INDEX event_runs_by_event ON event_runs (event_id)",
    ),
    (
        # Chains (add_job(after=...); see stores/_chains.py). The edges follow the jobs'
        # options by triggers, so every write of a job keeps them in its transaction.
        "ALTER TABLE history ADD COLUMN parent_ids TEXT",
        "ALTER TABLE history ADD COLUMN return_json TEXT",
        """CREATE TABLE chain_edges (
            upstream TEXT NOT NULL,
            downstream TEXT NOT NULL,
            on_outcome TEXT NOT NULL,
            PRIMARY KEY (upstream, downstream)
        ) WITHOUT ROWID""",
        "CREATE INDEX chain_edges_by_downstream ON chain_edges (downstream)",
        # (On every insert: INSERT OR REPLACE deletes the row it replaces without
        # firing delete triggers, so the replaced job's edges go here.)
        """CREATE TRIGGER jobs_chain_insert AFTER INSERT ON jobs BEGIN
            DELETE FROM chain_edges WHERE downstream = NEW.id;
            INSERT OR REPLACE INTO chain_edges (upstream, downstream, on_outcome)
            SELECT value, NEW.id, coalesce(json_extract(NEW.options, '$.on'), 'success')
            FROM json_each(CASE WHEN json_valid(NEW.options) THEN NEW.options ELSE '{}' END,
                           '$.after');
        END""",
        """CREATE TRIGGER jobs_chain_update AFTER UPDATE OF options ON jobs
        WHEN OLD.options IS NOT NEW.options BEGIN
            DELETE FROM chain_edges WHERE downstream = OLD.id;
            INSERT OR REPLACE INTO chain_edges (upstream, downstream, on_outcome)
            SELECT value, NEW.id, coalesce(json_extract(NEW.options, '$.on'), 'success')
            FROM json_each(CASE WHEN json_valid(NEW.options) THEN NEW.options ELSE '{}' END,
                           '$.after');
        END""",
        """CREATE TRIGGER jobs_chain_delete AFTER DELETE ON jobs BEGIN
            DELETE FROM chain_edges WHERE downstream = OLD.id;
        END""",
        # An upstream run's end waiting for its downstream run: written with the
        # upstream's history row, deleted by the process that claims the downstream run.
        """CREATE TABLE chain_pending (
            downstream TEXT NOT NULL,
            slot_us INTEGER NOT NULL,
            zone TEXT NOT NULL,
            upstream TEXT NOT NULL,
            run_id TEXT NOT NULL,
            outcome TEXT NOT NULL,
            return_json TEXT,
            error TEXT,
            recorded_us INTEGER NOT NULL,
            PRIMARY KEY (downstream, slot_us, upstream)
        ) WITHOUT ROWID""",
    ),
    (
        # Runs handed to a task queue whose workers write here (stores/_queue_outcomes.py):
        # a row per task id, its start, then its outcome as JSON (NULL until it ends).
        """CREATE TABLE queue_outcomes (
            task_id TEXT PRIMARY KEY,
            started_at TEXT,
            worker TEXT,
            outcome TEXT
        ) WITHOUT ROWID""",
    ),
    (
        # A job row inserted without upstreams over no stored edges (add_job, nearly
        # always) skips the chain trigger's body: its look for edges to replace and its
        # reading of the options as JSON cost each lone add about a microsecond. (The
        # options text names "after" whenever the JSON holds upstreams: the codec
        # writes keys as they are.)
        "DROP TRIGGER IF EXISTS jobs_chain_insert",
        """CREATE TRIGGER jobs_chain_insert AFTER INSERT ON jobs
        WHEN instr(NEW.options, '"after"')
            OR EXISTS (SELECT 1 FROM chain_edges WHERE downstream = NEW.id) BEGIN
            DELETE FROM chain_edges WHERE downstream = NEW.id;
            INSERT OR REPLACE INTO chain_edges (upstream, downstream, on_outcome)
            SELECT value, NEW.id, coalesce(json_extract(NEW.options, '$.on'), 'success')
            FROM json_each(CASE WHEN json_valid(NEW.options) THEN NEW.options ELSE '{}' END,
                           '$.after');
        END""",
    ),
    (
        # Which executors each process's scheduler dispatches to (a JSON list of
        # aliases; NULL: it dispatches nothing: paused, or no scheduler), so that a
        # backlog of due jobs is split among the processes that will claim them
        # (stores/_sqlite_share.py). Written with the heartbeat, and when it changes.
        "ALTER TABLE processes ADD COLUMN executors TEXT",
    ),
    (
        # The jobs that wait for events (SQLiteStore.event_jobs, read at every start):
        # a partial index of the few rows whose trigger names "event", where a scan of
        # the table took a quarter of a second on a file of a million jobs. The read's
        # WHERE is this one, word for word (EVENT_ROWS), or the index goes unused.
        "CREATE INDEX jobs_listening ON jobs (id) WHERE instr(trigger, '\"event\"') > 0",
    ),
]
#: The rows :data:`MIGRATIONS` indexes as jobs that may wait for events (a trigger that
#: names "event"; the reader checks each trigger it decodes).
EVENT_ROWS = "instr(trigger, '\"event\"') > 0"
#: The schema version this tickwork writes.
SCHEMA_VERSION = len(MIGRATIONS)
#: A job's codec columns, in the codec's order (a read adds ``next_fire_zone, broken``).
JOB_COLUMNS = (
    "id, name, func_ref, args, kwargs, trigger, options, next_fire_us, paused, "
    "remaining_runs, consecutive_failures"
)

#: The change counter: the highest ``seq`` of any job row or removal tombstone (two
#: index look-ups). Every write transaction stamps its rows with this plus one; it
#: never goes down, because removing a job leaves a tombstone with a newer ``seq`` and
#: pruning keeps the newest tombstones. (A counter row in ``meta`` would cost every
#: add and every claim one more page written.)
LATEST = (
    "SELECT max(coalesce((SELECT max(seq) FROM jobs), 0), "
    "coalesce((SELECT max(seq) FROM removed), 0))"
)


def us(moment: datetime | None) -> int | None:
    """*moment* as a ``*_us`` column holds it (None stays None)."""
    return None if moment is None else epoch_us(moment)


def check_schema(
    conn: sqlite3.Connection,
    path: str,
    write: Callable[[], AbstractContextManager[object]],
    version: int | None = None,
) -> None:
    """Check that the file of *conn* (at *path*) is a tickwork job store of this
    version; create the tables of an empty file, or migrate an older one, in the write
    transaction that *write* opens. *version*: the file's, when the caller has just
    read it (:func:`refuse_foreign`).

    Raises:
        StoreError: the file is another application's database, or was written by a
            newer tickwork (it is left unchanged).
        sqlite3.Error: reading the file failed (the caller says which file).
    """
    if (refuse_foreign(conn, path) if version is None else version) == SCHEMA_VERSION:
        return
    with write():
        # Another process may have created or migrated it while this one waited.
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        version = _version(conn, path, tables)
        for step in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[step]:
                conn.execute(statement)
            if step:
                logger.info("tickwork: %s: schema upgraded to version %d", path, step + 1)
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('app', ?), ('schema', ?)",
            (_APP, SCHEMA_VERSION),
        )


def refuse_foreign(conn: sqlite3.Connection, path: str) -> int:
    """The schema version of the file of *conn*, read without writing anything (before
    its journal mode is changed: a file refused is left as it was).

    Raises:
        StoreError: the file is another application's database, or was written by a
            newer tickwork.
        sqlite3.Error: reading the file failed.
    """
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    version = _version(conn, path, tables)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path!r} was written by a newer tickwork (schema version {version}; "
            f"this tickwork knows up to {SCHEMA_VERSION}). Upgrade tickwork to use it; "
            "the file was not changed."
        )
    return version


def _version(conn: sqlite3.Connection, path: str, tables: set[str]) -> int:
    """The schema version in the file's meta table (0 for a file with no tables).

    Raises:
        StoreError: the file has tables, but is not a tickwork job store.
    """
    if not tables:
        return 0
    if "meta" not in tables:
        raise StoreError(
            f"{path!r} is a SQLite database but not a tickwork job store (it has "
            f"tables {', '.join(sorted(tables))}); give tickwork a file of its own"
        )
    meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('app', 'schema')"))
    if meta.get("app") != _APP or not isinstance(meta.get("schema"), int):
        raise StoreError(
            f"{path!r} is a SQLite database but not a tickwork job store (its meta "
            f"table says {meta!r}); give tickwork a file of its own"
        )
    return int(meta["schema"])
