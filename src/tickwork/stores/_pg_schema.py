"""The PostgreSQL schema of a ``PostgresStore``: its tables, their migrations, checks.

Every table lives in the store's own schema (``tickwork`` unless the user names
another), quoted in every statement. The tables (the module docstring of
:mod:`tickwork.stores.postgres` says how they are used):

- ``meta``: ``app`` (always ``"tickwork"``) and ``schema``, the version of the tables.
- ``jobs``: one row per job, in the columns of :mod:`tickwork.stores.codec` (arguments
  as ``json``, the exact text written, so that every float reads back as it was given;
  trigger and options as ``jsonb``; pickled arguments, only with ``pickle=True``, in the
  ``bytea`` columns), plus ``broken`` and ``xid``: the id of the transaction that last
  wrote the row (``pg_current_xact_id()``), which :meth:`PostgresStore.sync` reads
  changes by. ``id`` has the binary collation ``"C"`` (ids ordered by code point).
- ``removed``: a tombstone per removed job, stamped like the rows.
- ``leases``: one per claimed run not yet over; ``token`` is the fencing token (an
  identity column: never reused).
- ``slots``: one per run ever started (job id, nominal fire time): the unique key that
  makes a second run of one fire impossible, kept as long as the history is.
- ``history``: one row per attempt recorded.
- ``chain_edges`` and ``chain_pending``: chained jobs' edges (kept from the jobs'
  options by triggers) and the hand-overs of ended upstream runs to their downstream
  runs (see :mod:`tickwork.stores._chains`).
- ``processes``: one row per live store object, with the key of the session advisory
  lock it holds while alive, and ``seen_us``, its scheduler's last heartbeat (written by
  ``maintain()``; NULL for a store object no scheduler looks after), and while its
  scheduler dispatches, ``executors`` (the aliases it dispatches to, as a JSON list)
  and ``dispatch_until_us`` (the server's clock, moved on by each heartbeat).

A schema's version is its number of :data:`MIGRATIONS` applied. :func:`check_schema`
refuses a schema that holds tables of another application or was written by a newer
tickwork, and brings an empty or older one up to :data:`SCHEMA_VERSION` in one
transaction, under a transaction-level advisory lock so that hosts starting at once
migrate once.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from .._errors import StoreError
from .._instants import instant

__all__ = [
    "DB_NOW_US",
    "EVENT_ROWS",
    "JOB_COLUMNS",
    "MIGRATE_CLASS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "check_schema",
    "check_schema_name",
    "instant",
    "liveness_key",
    "quote",
]

#: The server's clock, in microseconds since the epoch (the transaction's start), as SQL.
DB_NOW_US = "(extract(epoch from now()) * 1000000)::bigint"

logger = logging.getLogger("tickwork")

_APP = "tickwork"
#: The first key of the advisory lock taken while migrating (the second: the schema's
#: hash). Advisory locks belong to the database, not to a schema.
MIGRATE_CLASS = 0x7469636B  # "tick"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

#: Each entry upgrades the schema from version *index* to *index + 1* (``{s}`` is the
#: quoted schema). Version 0 is an empty schema. Append, never edit.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        "CREATE TABLE {s}.meta (key text PRIMARY KEY, value text NOT NULL)",
        """CREATE TABLE {s}.jobs (
            id text COLLATE "C" PRIMARY KEY,
            name text NOT NULL,
            func_ref text NOT NULL,
            args jsonb,
            kwargs jsonb,
            args_pickle bytea,
            kwargs_pickle bytea,
            trigger jsonb NOT NULL,
            options jsonb NOT NULL,
            next_fire_us bigint,
            paused boolean NOT NULL DEFAULT false,
            remaining_runs bigint,
            consecutive_failures bigint NOT NULL DEFAULT 0,
            next_fire_zone text,
            broken text,
            xid xid8 NOT NULL DEFAULT pg_current_xact_id()
        )""",
        "CREATE INDEX jobs_by_xid ON {s}.jobs (xid)",
        "CREATE INDEX jobs_by_due ON {s}.jobs (next_fire_us, id) "
        "WHERE next_fire_us IS NOT NULL AND NOT paused",
        """CREATE TABLE {s}.removed (
            id text COLLATE "C" PRIMARY KEY,
            xid xid8 NOT NULL DEFAULT pg_current_xact_id()
        )""",
        "CREATE INDEX removed_by_xid ON {s}.removed (xid)",
        """CREATE TABLE {s}.leases (
            token bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            job_id text COLLATE "C" NOT NULL,
            scheduled_us bigint NOT NULL,
            attempt integer NOT NULL,
            owner text NOT NULL,
            expires_us bigint NOT NULL,
            UNIQUE (job_id, scheduled_us)
        )""",
        "CREATE INDEX leases_by_owner ON {s}.leases (owner)",
        """CREATE TABLE {s}.slots (
            job_id text COLLATE "C" NOT NULL,
            scheduled_us bigint NOT NULL,
            owner text NOT NULL,
            claimed_us bigint NOT NULL,
            PRIMARY KEY (job_id, scheduled_us)
        )""",
        "CREATE INDEX slots_by_claimed ON {s}.slots USING brin (claimed_us)",
        """CREATE TABLE {s}.history (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            job_id text COLLATE "C" NOT NULL,
            scheduled_us bigint NOT NULL,
            zone text NOT NULL,
            attempt integer NOT NULL,
            outcome text NOT NULL,
            started_us bigint,
            finished_us bigint,
            error_type text,
            error_message text,
            process text NOT NULL,
            recorded_us bigint NOT NULL
        )""",
        "CREATE INDEX history_by_job ON {s}.history (job_id, id)",
        "CREATE INDEX history_by_recorded ON {s}.history USING brin (recorded_us)",
        "CREATE SEQUENCE {s}.process_keys AS integer CYCLE",
        """CREATE TABLE {s}.processes (
            owner text PRIMARY KEY,
            host text NOT NULL,
            pid integer NOT NULL,
            started_us bigint NOT NULL,
            lock_key integer NOT NULL UNIQUE
        )""",
    ),
    (
        # The heartbeat of each process's scheduler (PostgresStore.processes): written
        # by maintain() every third of the lease time, with the renewal.
        "ALTER TABLE {s}.processes ADD COLUMN seen_us bigint",
    ),
    (
        # Emitted events and the (job, event) slots that make each event run each job
        # once among the hosts (stores/_eventlog.py); indexes for the frequent looks
        # (events nobody handled, slots not done) and for pruning.
        """CREATE TABLE {s}.events (
            id text PRIMARY KEY,
            name text NOT NULL,
            payload text NOT NULL,
            emitted_us bigint NOT NULL,
            handled boolean NOT NULL
        )""",
        "CREATE INDEX events_by_time ON {s}.events (handled, emitted_us, id)",
        """CREATE TABLE {s}.event_runs (
            job_id text COLLATE "C" NOT NULL,
            event_id text NOT NULL,
            owner text NOT NULL,
            done boolean NOT NULL,
            PRIMARY KEY (job_id, event_id)
        )""",
        "CREATE INDEX event_runs_open ON {s}.event_runs (owner) WHERE NOT done",
        "CREATE INDEX event_runs_by_event ON {s}.event_runs (event_id)",
    ),
    (
        # Chains (add_job(after=...); see stores/_chains.py). The edges follow the jobs'
        # options by triggers that fire for chained jobs only, so every write of a job
        # keeps them in its transaction and other jobs pay nothing.
        "ALTER TABLE {s}.history ADD COLUMN parent_ids text, ADD COLUMN return_json text",
        """CREATE TABLE {s}.chain_edges (
            upstream text COLLATE "C" NOT NULL,
            downstream text COLLATE "C" NOT NULL,
            on_outcome text NOT NULL,
            PRIMARY KEY (upstream, downstream)
        )""",
        "CREATE INDEX chain_edges_by_downstream ON {s}.chain_edges (downstream)",
        """CREATE FUNCTION {s}.jobs_chain_edges() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                DELETE FROM {s}.chain_edges WHERE downstream = OLD.id;
            END IF;
            IF TG_OP <> 'DELETE' AND jsonb_typeof(NEW.options -> 'after') = 'array' THEN
                INSERT INTO {s}.chain_edges (upstream, downstream, on_outcome)
                SELECT a, NEW.id, coalesce(NEW.options ->> 'on', 'success')
                FROM jsonb_array_elements_text(NEW.options -> 'after') AS a
                ON CONFLICT DO NOTHING;
            END IF;
            RETURN NULL;
        END $$""",
        "CREATE TRIGGER jobs_chain_insert AFTER INSERT ON {s}.jobs FOR EACH ROW "
        "WHEN (NEW.options ? 'after') EXECUTE FUNCTION {s}.jobs_chain_edges()",
        "CREATE TRIGGER jobs_chain_update AFTER UPDATE OF options ON {s}.jobs FOR EACH ROW "
        "WHEN (OLD.options IS DISTINCT FROM NEW.options "
        "AND (OLD.options ? 'after' OR NEW.options ? 'after')) "
        "EXECUTE FUNCTION {s}.jobs_chain_edges()",
        "CREATE TRIGGER jobs_chain_delete AFTER DELETE ON {s}.jobs FOR EACH ROW "
        "WHEN (OLD.options ? 'after') EXECUTE FUNCTION {s}.jobs_chain_edges()",
        # An upstream run's end waiting for its downstream run: written with the
        # upstream's history row, deleted by the process that claims the downstream run.
        """CREATE TABLE {s}.chain_pending (
            downstream text COLLATE "C" NOT NULL,
            slot_us bigint NOT NULL,
            zone text NOT NULL,
            upstream text COLLATE "C" NOT NULL,
            run_id text NOT NULL,
            outcome text NOT NULL,
            return_json text,
            error text,
            recorded_us bigint NOT NULL,
            PRIMARY KEY (downstream, slot_us, upstream)
        )""",
    ),
    (
        # Runs handed to a task queue whose workers write here (stores/_queue_outcomes.py):
        # a row per task id, its start, then its outcome as JSON (NULL until it ends).
        """CREATE TABLE {s}.queue_outcomes (
            task_id text COLLATE "C" PRIMARY KEY,
            started_at text,
            worker text,
            outcome text
        )""",
    ),
    (
        # Which executors each process's scheduler dispatches to (a JSON list of
        # aliases; NULL: it dispatches nothing: paused, no scheduler, or an older
        # tickwork) and until when (the server's clock, µs: moved on by each heartbeat),
        # so that a backlog of due jobs is split among the processes that will claim
        # them (stores/_pg_share.py).
        "ALTER TABLE {s}.processes ADD COLUMN executors text, ADD COLUMN dispatch_until_us bigint",
    ),
    (
        # The jobs that wait for events (PostgresStore.event_jobs, read at every start):
        # a partial index of the few rows whose trigger names "event", instead of a
        # scan of every job. The read's WHERE is this one (EVENT_ROWS), with no
        # parameter, or the planner cannot use it.
        "CREATE INDEX jobs_listening ON {s}.jobs (id) WHERE trigger::text LIKE '%\"event\"%'",
    ),
    (
        # Arguments as the very JSON text tickwork wrote (json keeps it, jsonb parses it
        # and normalises numbers: a float in exponent form, 1e20, read back as an int,
        # -0.0 as 0.0). Rows written before keep the text jsonb made of them.
        "ALTER TABLE {s}.jobs ALTER COLUMN args TYPE json USING args::json, "
        "ALTER COLUMN kwargs TYPE json USING kwargs::json",
    ),
]
#: The rows :data:`MIGRATIONS` indexes as jobs that may wait for events (a trigger that
#: names "event"; the reader checks each trigger it decodes). Sent with no parameters.
EVENT_ROWS = "trigger::text LIKE '%\"event\"%'"
#: A job's columns as a read decodes them (in the order of ``JobRows._fields``).
JOB_COLUMNS = (
    "id, name, func_ref, args::text, kwargs::text, args_pickle, kwargs_pickle, "
    "trigger::text, options::text, next_fire_us, paused, remaining_runs, "
    "consecutive_failures, next_fire_zone, broken"
)
#: The schema version this tickwork writes.
SCHEMA_VERSION = len(MIGRATIONS)


def liveness_key(schema: str) -> str:
    """The first key of the session advisory locks that tell the live processes of
    *schema* (the second is each process's ``lock_key``), as an SQL expression: a hash
    of the schema's name, since advisory locks belong to the whole database."""
    return f"hashtext('tickwork.{schema}')"


def check_schema_name(schema: object) -> str:
    """*schema* if it is a plain identifier PostgreSQL keeps as written.

    Raises:
        TypeError: it is not a str.
        ValueError: it is empty, holds other than letters, digits and ``_``, starts
            with a digit, or is longer than 63 bytes; the message names it.
    """
    if not isinstance(schema, str):
        raise TypeError(f"schema must be a str, got {type(schema).__name__} {schema!r}")
    if not _NAME.match(schema) or len(schema.encode()) > 63:
        raise ValueError(
            f"schema={schema!r} is not a valid schema name: use letters, digits and "
            "underscores, not starting with a digit, at most 63 bytes"
        )
    return schema


def quote(schema: str) -> str:
    """The schema as an SQL identifier (checked by :func:`check_schema_name`)."""
    return '"' + schema.replace('"', '""') + '"'


def check_schema(conn: Any, schema: str, where: str) -> None:
    """Check that *schema* holds tickwork's tables of this version; create or migrate
    them, in one transaction on *conn* (a psycopg connection not in a transaction)
    under an advisory lock, so that stores opening at once migrate once.

    Raises:
        StoreError: the schema holds another application's tables, was written by a
            newer tickwork (it is left unchanged), or cannot be created (permission);
            the message names *where* (server, database, schema).
        psycopg.Error: any other failure (the caller says what failed).
    """
    import psycopg

    version = _version(conn, schema, where)
    if version == SCHEMA_VERSION:
        return
    _refuse_newer(version, where)
    s = quote(schema)
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (MIGRATE_CLASS, schema))
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
            # Another host may have migrated it while this one waited for the lock.
            version = _version(conn, schema, where)
            _refuse_newer(version, where)
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step]:
                    conn.execute(statement.format(s=s))
                if step:
                    logger.info("tickwork: %s: schema upgraded to version %d", where, step + 1)
            if version == 0:
                logger.info("tickwork: %s: tables created (schema version %d)", where,
                            SCHEMA_VERSION)  # fmt: skip
            conn.execute(
                f"INSERT INTO {s}.meta (key, value) VALUES ('app', %s), ('schema', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_APP, str(SCHEMA_VERSION)),
            )
    except psycopg.errors.InsufficientPrivilege as error:
        raise StoreError(
            f"{where}: no permission to create tickwork's tables ({error}); grant CREATE "
            "on the database (or create the schema for this user) and start again"
        ) from error


def _refuse_newer(version: int, where: str) -> None:
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{where} was written by a newer tickwork (schema version {version}; "
            f"this tickwork knows up to {SCHEMA_VERSION}). Upgrade tickwork to use it; "
            "nothing was changed."
        )


def _version(conn: Any, schema: str, where: str) -> int:
    """The schema version in the schema's meta table (0 for a missing or empty schema).

    Raises:
        StoreError: the schema has tables, but is not tickwork's.
    """
    tables = {
        row[0]
        for row in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
            (schema,),
        )
    }
    if not tables:
        return 0
    if "meta" not in tables:
        raise StoreError(
            f"{where} holds tables that are not tickwork's ({', '.join(sorted(tables)[:10])}); "
            "give tickwork a schema of its own (the schema= argument)"
        )
    columns = {
        row[0]
        for row in conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'meta'",
            (schema,),
        )
    }
    if not {"key", "value"} <= columns:
        raise StoreError(
            f"{where} holds a meta table that is not tickwork's (its columns: "
            f"{', '.join(sorted(columns)) or 'none'}); give tickwork a schema of its own "
            "(the schema= argument)"
        )
    meta = dict(
        conn.execute(
            f"SELECT key::text, value::text FROM {quote(schema)}.meta "
            "WHERE key::text IN ('app', 'schema')"
        ).fetchall()
    )
    raw = meta.get("schema")
    if meta.get("app") != _APP or raw is None or not str(raw).isdigit():
        raise StoreError(
            f"{where} holds a meta table that is not tickwork's (it says {meta!r}); "
            "give tickwork a schema of its own (the schema= argument)"
        )
    return int(raw)
