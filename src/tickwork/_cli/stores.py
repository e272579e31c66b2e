"""Opening the store a command names: a SQLite job file or a PostgreSQL DSN.

Reading never changes the store: a SQLite file is copied through a read-only
connection and the copy is read; a PostgreSQL schema is read in a transaction that is
rolled back. Writing (``pause``, ``resume``, ``run-now``, ``remove``) and serving
(``metrics --listen``, ``dashboard``) open the real store (:func:`live`), after
checking that it is a tickwork job store (a mistyped path or schema must not become a
new, empty store).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .._errors import StoreError
from .._references import references_as_text
from ..stores import JobStore, SQLiteStore
from ..stores._sqlite_connection import read_only_place

if TYPE_CHECKING:
    from ..stores import PostgresStore

__all__ = ["is_dsn", "live", "read_only", "reading"]


@contextlib.contextmanager
def reading(target: str, schema: str | None) -> Iterator[tuple[JobStore, str]]:
    """The store *target* names (a SQLite file or a PostgreSQL DSN), to read without
    changing it, and how to name it to the user."""
    if is_dsn(target):
        with _postgres(target, "tickwork" if schema is None else schema) as (store, name):
            yield store, name
        return
    _no_schema(target, schema)
    with read_only(target) as store:
        yield store, target


@contextlib.contextmanager
def live(
    target: str, schema: str | None, *, pickle: bool = False, serving: bool = False
) -> Iterator[tuple[JobStore, str]]:
    """The real store *target* names, opened (to change jobs in, or, *serving*, to
    serve live pages from: a PostgreSQL store then keeps a few connections for
    requests at once), and how to name it.

    Raises:
        StoreError: *target* is not a tickwork job store (a file that does not exist is
            not created; a schema that does not exist is not created).
    """
    store: JobStore
    if is_dsn(target):
        store, name = _postgres_store(
            target, "tickwork" if schema is None else schema, pickle, 4 if serving else 1
        )
    else:
        _no_schema(target, schema)
        _require_job_file(target)
        store, name = SQLiteStore(target, pickle=pickle, lock_timeout=LOCK_TIMEOUT), target
    quiet_store_log()
    try:
        store.open()
        yield store, name
    finally:
        store.close()


def _no_schema(target: str, schema: str | None) -> None:
    if schema is not None:
        raise ValueError(f"--schema is for a PostgreSQL DSN; {target!r} is a SQLite file")


#: How a DSN begins, as libpq reads one: a URI, or ``keyword=value`` pairs.
_URI_SCHEMES = ("postgresql://", "postgres://")
_KEYWORD_VALUE = re.compile(r"\s*[A-Za-z_]+\s*=")


def is_dsn(target: str) -> bool:
    """Whether *target* names a PostgreSQL database rather than a SQLite file (a file
    that exists by that name is a file, whatever its name looks like)."""
    if target.startswith(_URI_SCHEMES):
        return True
    return _KEYWORD_VALUE.match(target) is not None and not os.path.exists(target)


def _postgres_store(
    dsn: str, schema: str, pickle: bool, pool_size: int = 1
) -> tuple[PostgresStore, str]:
    """A store on the tickwork schema *schema* of the database *dsn* (not opened), and
    its name for messages, once the schema is known to hold a job store.

    Raises:
        StoreError: psycopg is not installed, the server cannot be reached or refuses
            the connection, or the schema holds no tickwork store; the message names the
            server, database and schema (never a password).
    """
    try:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict
    except ImportError as error:
        raise StoreError(
            f'reading a PostgreSQL store needs psycopg: pip install "tickwork[postgres]" ({error})'
        ) from None
    from ..stores import PostgresStore

    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error as error:
        raise StoreError(f"not a valid PostgreSQL DSN: {error}") from None
    host = params.get("host") or "the local socket"
    port = params.get("port") or 5432
    name = f"schema {schema!r} of database {params.get('dbname') or '(default)'!r} at {host}"
    if not str(host).startswith("/") and host != "the local socket":
        name += f":{port}"
    # ValueError: a bad schema name.
    store = PostgresStore(dsn, schema=schema, pool_size=pool_size, pickle=pickle)
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            row = conn.execute(
                "SELECT to_regclass(format('%%I.jobs', %s::text)) IS NOT NULL", (schema,)
            ).fetchone()
    except psycopg.Error as error:
        reason = " ".join(str(error).split())
        raise StoreError(f"cannot read {name}: {reason}") from None
    if not row or not row[0]:
        raise StoreError(f"{name} is not a tickwork job store (it has no jobs table)")
    return store, name


@contextlib.contextmanager
def _postgres(dsn: str, schema: str) -> Iterator[tuple[JobStore, str]]:
    """The store of *dsn* and *schema*, to read without changing it.

    Unlike a file, a database cannot be copied aside, so the store reads it in place,
    in a transaction that is rolled back; and a schema that is not there already is
    never created: the store would make a fresh one, and a mistyped name would leave
    an empty schema behind. (The store registers itself as a live process while it
    reads, as every store does, and removes its row when closed.)
    """
    store, name = _postgres_store(dsn, schema, pickle=False)
    store.arguments_unread = True  # (a job's schedule is read; its pickled arguments not)
    # Looking at a store must never run code from it, as for a file. And it must not
    # change it: a store that reads can write (it marks rows it cannot decode broken,
    # and clears the mark of rows that decode, as rows naming a module that does not
    # import do here), so everything is read in one transaction, then rolled back.
    with references_as_text():
        quiet_store_log()
        try:
            store.open()
            with store.transaction():
                yield store, name
                raise _Undo
        except _Undo:
            pass
        finally:
            store.close()


class _Undo(Exception):
    """Raised at the end of a read to roll back whatever the reading wrote."""


@contextlib.contextmanager
def read_only(path: str) -> Iterator[SQLiteStore]:
    """A store over a private copy of the job file *path*, which is never changed.

    Reading through a store can write: it marks rows it cannot load as broken, clears
    the mark of rows that load again, and creates or upgrades the schema of an empty or
    older file. So the file is copied through a connection SQLite opens read-only (no
    write, not even a checkpoint, can reach it), and the store reads the copy.

    Raises:
        StoreError: *path* does not exist (it is not created), is a directory, is not a
            SQLite file, is empty, is not a tickwork job store, or another process holds
            it locked for longer than :data:`LOCK_TIMEOUT`; the message names *path*.
    """
    _existing_file(path)
    # Looking at a file must never run code from it: rows are decoded without importing
    # the modules they name (and the store, opened without pickle=True, unpickles nothing).
    with references_as_text(), tempfile.TemporaryDirectory(prefix="tickwork-") as folder:
        copy = os.path.join(folder, "jobs.db")
        _copy_read_only(path, copy)
        quiet_store_log()
        store = SQLiteStore(copy)
        store.arguments_unread = True  # (a job's schedule is read; its pickled arguments not)
        try:
            store.open()
            yield store
        except StoreError as error:
            # Its message names the copy; the user knows the file by *path*.
            raise StoreError(str(error).replace(repr(copy), repr(path))) from error
        finally:
            store.close()


def quiet_store_log() -> None:
    """Keep the store's log of broken rows off stderr (the report lists them, and the
    log names the copy); once per process."""
    log = logging.getLogger("tickwork")
    if not any(isinstance(handler, logging.NullHandler) for handler in log.handlers):
        log.addHandler(logging.NullHandler())


#: Seconds a command waits for a file another process holds locked (a transaction
#: that lasts, an exclusive lock) before it gives up with an error: SQLite's busy
#: timeout, which the read-only connection waits with.
LOCK_TIMEOUT = 5.0


def _existing_file(path: str) -> None:
    if not os.path.exists(path):
        raise StoreError(f"no such file: {path!r}")
    if os.path.isdir(path):
        raise StoreError(f"{path!r} is a directory, not a job file")


@contextlib.contextmanager
def _read_only_connection(path: str) -> Iterator[sqlite3.Connection]:
    """A connection that SQLite opens read-only on *path*, in a read transaction (taken
    within :data:`LOCK_TIMEOUT`, or a StoreError), closed on leaving.

    A read-only connection to a file in WAL mode creates the ``-wal`` and ``-shm``
    files its readers need when they are not there (no process has the file open), and
    cannot remove them as it closes: SQLite leaves that to the last connection that can
    write, which checkpoints the WAL into the file and deletes them. So when this made
    them, and the WAL is still empty (nothing to checkpoint), a connection that can
    write is opened and closed after it, to do just that. SQLite removes them only once
    it has the file to itself: a process that opened the file meanwhile keeps them.
    """
    wal = f"{path}-wal"
    had_wal = os.path.exists(wal)
    # On a read-only file system (a snapshot, a readOnly volume) SQLite cannot make the
    # -wal and -shm files a reader needs: no process can write there either, so the
    # file is read as it is (immutable), with the -wal beside it if there is one.
    fixed = "&immutable=1" if read_only_place(path) and not had_wal else ""
    try:
        source = sqlite3.connect(
            f"{Path(path).resolve().as_uri()}?mode=ro{fixed}", uri=True, timeout=LOCK_TIMEOUT
        )
    except sqlite3.Error as error:
        raise StoreError(f"cannot open {path!r}: {error}") from error
    try:
        try:
            # The read lock first, under the busy timeout: Connection.backup retries a
            # file another process holds locked forever, with no timeout of its own.
            source.execute("BEGIN")
            source.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as error:
            raise _not_a_store(path, error) from error
        yield source
    finally:
        source.close()
        if not had_wal:
            _remove_companions(path)


def _remove_companions(path: str) -> None:
    """Have SQLite remove the empty ``-wal`` and ``-shm`` files of *path* that a
    read-only connection left, when no other process has the file open."""
    try:
        size = os.path.getsize(f"{path}-wal")
    except OSError:
        return  # (none made: the file is not in WAL mode, or is no database)
    if size != 0:
        return  # (written meanwhile: it holds commits, for their writer to check in)
    with contextlib.suppress(sqlite3.Error):
        closer = sqlite3.connect(path, timeout=0)
        try:
            closer.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            closer.close()


def _not_a_store(path: str, error: sqlite3.Error) -> StoreError:
    if "not a database" in str(error) or "malformed" in str(error):
        return StoreError(f"{path!r} is not a SQLite database, or is corrupt: {error}")
    if "locked" in str(error) or "busy" in str(error):
        return StoreError(
            f"cannot read {path!r}: {error}: another process holds it locked "
            f"(waited {LOCK_TIMEOUT:g} s)"
        )
    return StoreError(f"cannot read {path!r}: {error}")


def _require_job_file(path: str) -> None:
    """Refuse, before a store opens it (and would make it one), a *path* that is not a
    tickwork job file."""
    _existing_file(path)
    with _read_only_connection(path) as source:
        try:
            found = source.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'jobs'"
            ).fetchone()[0]
        except sqlite3.DatabaseError as error:
            raise _not_a_store(path, error) from error
    if not found:
        raise StoreError(f"{path!r} is not a tickwork job store (it has no jobs table)")


def _copy_read_only(path: str, copy: str) -> None:
    """Copy the database *path* to *copy*, opening *path* with SQLite's ``mode=ro``
    (a consistent snapshot, even while schedulers write to it)."""
    with _read_only_connection(path) as source:
        try:
            target = sqlite3.connect(copy)
            try:
                source.backup(target)
                tables = target.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            finally:
                target.close()
        except sqlite3.DatabaseError as error:
            raise _not_a_store(path, error) from error
    if not tables:
        # SQLiteStore would make it a job store; every file it has opened has tables.
        raise StoreError(f"{path!r} is empty: not a tickwork job store")
