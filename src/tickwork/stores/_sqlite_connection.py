"""The store's hold on its SQLite file: the connection, errors, and transactions.

:class:`SQLiteConnection` is the base of :class:`~tickwork.stores.SQLiteStore`; the
classes above it (:mod:`._sqlite_history`, :mod:`._sqlite_leases`, then
:mod:`tickwork.stores.sqlite`) use only what it offers:

- *The connection*, opened at first use, once per process: a forked child never uses
  (nor closes) its parent's connection, and becomes a lease owner of its own. Opening
  sets the pragmas (WAL, ``synchronous = NORMAL``) and checks the schema
  (:func:`._sqlite_schema.check_schema`).
- *The file's identity* (device and inode), checked before each write: a file deleted
  or replaced under the store makes every write a ``StoreError``.
- *Errors*: a SQLite error becomes a ``StoreError`` that names the file and says what
  could not be done.
- *Transactions*: :meth:`SQLiteConnection._write` (``BEGIN IMMEDIATE``, retried while
  the file is busy, nested ones joining the outer one), with the change counter of its
  rows (:meth:`SQLiteConnection._seq`); single reads (:meth:`SQLiteConnection._read`).
- *Batches*: :func:`in_lists` cuts a batch of ids into ``IN (...)`` lists and
  :func:`insert_rows` writes many rows per ``INSERT`` (the values its rows have alike bound
  once per statement), so that a batch of claims, history rows, releases or removals
  costs a few statements, not one per row.

The instance state is set by ``SQLiteStore.__init__``; each class declares the part it
uses.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import chain
from operator import itemgetter
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from .._errors import StoreError
from ._history import process_name
from ._rows import warn_unclosed
from ._sqlite_schema import LATEST, check_schema, refuse_foreign

__all__ = ["SQLiteConnection", "in_lists", "insert_rows"]

logger = logging.getLogger("tickwork")

T = TypeVar("T")

#: Whether numbered parameters (``?1``) may be bound from a sequence without a warning:
#: Python 3.12.0 to 3.12.3 warn (a deprecation meant for named ones, mended in 3.12.4),
#: so there :func:`insert_rows` binds every value of every row (about a fifth slower
#: for history rows), where binding them by name would cost a quarter of a backlog's
#: runs per second.
_NUMBERED = not ((3, 12) <= sys.version_info[:3] < (3, 12, 4))
#: Whether this SQLite has ``INSERT ... RETURNING`` (3.35, 2021).
_RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)
#: Pages written to the WAL before a commit copies them into the file (a checkpoint).
_CHECKPOINT_PAGES = 10_000
#: SQLite's oldest limit on the parameters of one statement (newer ones allow more).
_MAX_PARAMS = 999
#: Values per ``IN (...)`` list: a power of two under that limit.
_IN_MAX = 512
#: The first pause of a process waiting for another's write lock, and the longest
#: (each is jittered by +-50 %, so that waiters do not look at the same moments).
_WAIT_FIRST = 0.0002
_WAIT_MAX = 0.002
_marks: dict[int, str] = {}
_inserts: dict[str, tuple[int, str]] = {}
_alike: dict[tuple[str, tuple[int, ...]], tuple[int, Callable[[Any], Any], dict[int, str]]] = {}
#: The fewest rows alike written as such (fewer go with the other rows).
_ALIKE_LEAST = 8


def delete_counted(
    conn: sqlite3.Connection,
    table: str,
    column: str,
    values: Sequence[T],
    condition: str = "",
    params: tuple[Any, ...] = (),
) -> Sequence[T]:
    """Delete the rows of *table* whose *column* is one of *values* (distinct) and that
    meet *condition* (SQL after ``AND``, with *params*); return the values deleted.

    Counted, not returned: ``RETURNING`` cost a backlog's done jobs and released leases
    about 0.6 µs a row. Only when fewer rows went than asked (a job given a fire time
    elsewhere, a lease taken over: rare) is the deletion undone to a savepoint and the
    rows that meet the condition read first."""
    where = f" AND {condition}" if condition else ""
    conn.execute("SAVEPOINT counted")
    deleted = 0
    for marks, chunk in in_lists(values):
        sql = f"DELETE FROM {table} WHERE {column} IN ({marks}){where}"
        deleted += conn.execute(sql, (*chunk, *params)).rowcount
    if deleted == len(values):
        conn.execute("RELEASE counted")
        return values
    conn.execute("ROLLBACK TO counted")
    found: list[T] = []
    for marks, chunk in in_lists(values):
        sql = f"SELECT {column} FROM {table} WHERE {column} IN ({marks}){where}"
        found += [row[0] for row in conn.execute(sql, (*chunk, *params))]
    for marks, chunk in in_lists(found):
        conn.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", chunk)
    conn.execute("RELEASE counted")
    return found


def in_lists(values: Sequence[T]) -> Iterator[tuple[str, Sequence[T]]]:
    """*values* cut for ``IN (...)`` lists: (placeholders, the values) per statement.

    Each list is padded to a power of two with its last value (a value twice changes
    nothing in an ``IN`` list), so a dozen SQL texts serve batches of every size and stay
    in the connection's statement cache instead of being compiled again each time.
    """
    for first in range(0, len(values), _IN_MAX):
        chunk = values[first : first + _IN_MAX]
        size = 1 << (len(chunk) - 1).bit_length()
        if size != len(chunk):
            chunk = [*chunk, *[chunk[-1]] * (size - len(chunk))]
        marks = _marks.get(size)
        if marks is None:
            marks = _marks[size] = ", ".join("?" * size)
        yield marks, chunk


def insert_rows(
    conn: sqlite3.Connection,
    insert: str,
    rows: Sequence[Sequence[Any]],
    shared: Sequence[int] = (),
) -> None:
    """Run *insert* (``INSERT ... VALUES (?, ...)``, one row's values last) for each of
    *rows*, many rows per statement: for a row of a few columns, a statement costs more
    than the row itself. The rows that do not fill a statement go one per row.

    *shared*: the positions (among the ``?``) of values that most rows of a batch have
    alike (a batch of history rows: the process, the time recorded, mostly the outcome,
    no error). Runs of rows with equal values there are written with those bound once
    per statement (numbered parameters every row uses), the rest bound per row: binding
    a value costs about as much as writing it (history rows: 5.1 µs each, 3.9 µs so).
    Rows with fewer than a few neighbours alike go as above.
    """
    if not rows:
        return
    if shared and _NUMBERED:
        # Runs of consecutive rows alike (rows are written in their order: history
        # rows get their ids by it, and a later lease replaces an earlier one).
        key = itemgetter(*shared)
        rest: list[Sequence[Any]] = []
        start = 0
        count = len(rows)
        while start < count:
            values = key(rows[start])
            stop = start + 1
            while stop < count and key(rows[stop]) == values:
                stop += 1
            if stop - start < _ALIKE_LEAST:
                rest += rows[start:stop]
            else:
                if rest:
                    _insert_rows(conn, insert, rest)
                    rest = []
                _insert_alike(conn, insert, shared, values, rows[start:stop])
            start = stop
        rows = rest
        if not rows:
            return
    _insert_rows(conn, insert, rows)


def _insert_rows(conn: sqlite3.Connection, insert: str, rows: Sequence[Sequence[Any]]) -> None:
    """:func:`insert_rows` with no values bound once."""
    known = _inserts.get(insert)
    if known is None:
        values = insert[insert.rindex("(") :]
        per = 1 << ((_MAX_PARAMS // values.count("?")).bit_length() - 1)
        known = _inserts[insert] = (per, insert + f", {values}" * (per - 1))
    per, many = known
    whole = len(rows) - len(rows) % per
    if whole:
        conn.executemany(
            many,
            [
                tuple(chain.from_iterable(rows[first : first + per]))
                for first in range(0, whole, per)
            ],
        )
    if whole < len(rows):
        conn.executemany(insert, rows[whole:])


def _insert_alike(
    conn: sqlite3.Connection,
    insert: str,
    shared: Sequence[int],
    values: Any,
    rows: Sequence[Sequence[Any]],
) -> None:
    """*rows*, alike at the positions *shared* (where they hold *values*), written with
    those bound once per statement: statements of the most rows that fit, then one each
    of fewer rows by halves (a few statement texts, each kept compiled)."""
    if len(shared) == 1:
        values = (values,)
    known = _alike.get((insert, tuple(shared)))
    if known is None:
        template = insert[insert.rindex("(") :]
        slots = template.count("?")
        varying = [index for index in range(slots) if index not in shared]
        per = 1 << (((_MAX_PARAMS - len(shared)) // len(varying)).bit_length() - 1)
        known = _alike[(insert, tuple(shared))] = (per, itemgetter(*varying), {})
    per, pick, texts = known
    if len(shared) == len(rows[0]) - 1:
        varied: list[Any] = [pick(row) for row in rows]  # (one value each: no tuples)
    else:
        varied = list(chain.from_iterable(map(pick, rows)))
    width = len(varied) // len(rows)
    head = tuple(values)
    first = 0
    count = len(rows)
    size = per
    while first < count:
        while size > count - first:
            size >>= 1
        text = texts.get(size)
        if text is None:
            text = texts[size] = _alike_text(insert, shared, size)
        step = size * width
        stop = first + (count - first) // size * size
        conn.executemany(
            text,
            [(*head, *varied[at : at + step]) for at in range(first * width, stop * width, step)],
        )
        first = stop


def _alike_text(insert: str, shared: Sequence[int], size: int) -> str:
    """The text of an insert of *size* rows whose values at the positions *shared* are
    the parameters ``?1``, ``?2``... (bound once), the others numbered after them, row
    by row."""
    at = insert.rindex("(")
    template = insert[at:]
    pieces = template.split("?")
    varying = len(pieces) - 1 - len(shared)
    rows = []
    for row in range(size):
        text = pieces[0]
        next_varying = len(shared) + 1 + row * varying
        for slot, piece in enumerate(pieces[1:]):
            if slot in shared:
                text += f"?{shared.index(slot) + 1}"
            else:
                text += f"?{next_varying}"
                next_varying += 1
            text += piece
        rows.append(text)
    return insert[:at] + ", ".join(rows)


#: Connections a forked process inherited from its parent: kept referenced, so that
#: neither this process nor its garbage collector ever closes them.
_inherited: list[sqlite3.Connection] = []


class SQLiteConnection:
    """The connection, file checks, errors and transactions of a ``SQLiteStore``."""

    path: str
    lock_timeout: float
    #: This process's name as a lease owner (``host:pid:nonce``), set at its first connection.
    owner: str
    _lock: threading.RLock
    _conn: sqlite3.Connection | None
    _pid: int  # the process that opened _conn
    _depth: int  # nesting of write transactions
    _txn_seq: int | None  # the change counter of the open write transaction's rows
    _seen_seq: int  # the change counter sync() has read up to
    _data_version: int | None  # PRAGMA data_version when sync() last read
    _leases: dict[tuple[str, int], int]  # (job id, scheduled us) -> token; per process
    #: Leases another process took over, by key (the runs' ends are not recorded).
    _taken_from_me: dict[tuple[str, int], int]
    #: Leases taken back from a process that had taken them from this one, by key: the
    #: attempt taken (the ends of earlier attempts going here are not recorded).
    _superseded: dict[tuple[str, int], int]
    #: The executor aliases this process's scheduler dispatches to, as the JSON text
    #: of ``processes.executors`` (None: it dispatches nothing; see ._sqlite_share).
    _dispatching: str | None
    # (device, inode) of the file as opened; a reason once it was deleted or replaced.
    _file_id: tuple[int, int] | None
    _lost: str | None

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
        warn_unclosed(self)
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
                if self._pid:  # (a forked child: the parent's scheduler is not its own)
                    self._dispatching = None
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
            if Path(path).is_dir():  # (SQLite says "disk I/O error")
                raise StoreError(f"cannot open {path!r}: it is a directory, not a SQLite file")
        try:
            conn = sqlite3.connect(
                path,
                timeout=min(self.lock_timeout, 5.0),
                isolation_level=None,
                check_same_thread=False,
                # Batches use a few dozen statement texts (IN lists and multi-row
                # inserts by size): all kept compiled, beside the rest.
                cached_statements=256,
            )
        except sqlite3.Error as error:
            raise StoreError(f"cannot open {path!r}: {error}") from error
        try:
            conn.execute("PRAGMA synchronous = NORMAL")
            # A checkpoint (the WAL copied into the file, with two fsyncs) is the dearest
            # thing a commit can do, and the commit that crosses the limit does it. At
            # SQLite's default (1,000 pages) that is every few hundred add_job calls, half
            # their cost on a slow disk; ten times fewer, for a WAL of up to ~40 MB.
            conn.execute(f"PRAGMA wal_autocheckpoint = {_CHECKPOINT_PAGES}")
            version = None
            if path != ":memory:":
                version = refuse_foreign(conn, path)  # (before anything is written to it)
                # Changing the journal mode needs the file to itself, and SQLite does
                # not wait for that (no busy handler): processes opening a new file at
                # the same moment would see "database is locked".
                mode = self._retry_busy(
                    lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone()[0], "open"
                )
                if str(mode).lower() != "wal":
                    logger.warning("tickwork: %s: WAL mode unavailable (%s)", path, mode)
            self._conn = conn
            check_schema(conn, self.path, self._write, version)
            # Opened (SQLite's busy handler waited for a file being created or migrated
            # meanwhile): from now on no busy handler, and a busy file raises at once;
            # the store waits for it with its own short pauses (_retry_busy).
            conn.execute("PRAGMA busy_timeout = 0")
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

    def _error(self, error: sqlite3.Error, action: str) -> StoreError:
        """A clear StoreError for a failed SQLite call."""
        text = str(error).lower()
        path = self.path
        if "full" in text:
            message = f"{path!r}: the disk is full; could not {action} (nothing stored was lost)"
        elif "readonly" in text or "read-only" in text:
            message = f"{path!r} is read-only; could not {action} (nothing stored was lost)"
        elif "unable to open" in text and read_only_place(path):
            message = (
                f"{path!r} is on a read-only file system or in a directory this process "
                f"cannot write: a store writes the file and keeps its -wal and -shm files "
                f"beside it; could not {action}. (The tickwork command reads such a file.)"
            )
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

    def _retry_busy(self, call: Callable[[], T], action: str, wait: float | None = None) -> T:
        """*call*, tried again while another process holds the file's lock, for up to
        ``lock_timeout``; SQLite errors become StoreErrors.

        The connection has no busy handler of its own: SQLite's sleeps longer and
        longer (up to 100 ms) while it waits, so a waiting process keeps missing the
        moments the lock is free, and one that takes it again at once (claiming the
        next chunk of a backlog) keeps it. Here a waiter looks again after a short,
        jittered pause that stops growing at :data:`_WAIT_MAX`, and gets the lock
        soon after it is let go. *wait*: seconds to wait instead of ``lock_timeout``.
        """
        deadline = 0.0
        pause = _WAIT_FIRST
        while True:
            try:
                return call()
            except sqlite3.OperationalError as error:
                text = str(error).lower()
                if "locked" in text or "busy" in text:
                    now = time.monotonic()
                    if not deadline:
                        deadline = now + (self.lock_timeout if wait is None else wait)
                    if now < deadline:
                        time.sleep(pause * (0.5 + random.random()))
                        pause = min(pause * 1.5, _WAIT_MAX)
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
            seq = int(conn.execute(LATEST).fetchone()[0]) + 1
            if seq == self._seen_seq + 1:
                self._seen_seq = seq  # nothing from others in between: no news to sync
            self._txn_seq = seq
        return self._txn_seq

    def _write_row(self, lone: str, joined: str, params: Sequence[Any], action: str) -> None:
        """Write one row: a statement that is its own transaction when none is open.

        *lone* takes *params* and stamps the row with the change counter itself
        (``RETURNING seq``); *joined* takes the counter as one more parameter, for a
        write inside an open transaction (or a SQLite older than 3.35). A lone add_job
        is then one statement instead of four (``BEGIN``, the counter, the row,
        ``COMMIT``). ``sqlite3.IntegrityError`` is raised as it is.
        """
        conn = self._connection()
        with self._lock:
            if self._depth or not _RETURNING:
                refused = None
                with self._write(action) as conn:
                    try:
                        conn.execute(joined, (*params, self._seq(conn)))
                    except sqlite3.IntegrityError as error:
                        refused = error  # (the transaction takes it as a StoreError)
                if refused is not None:
                    raise refused
                return
            if self._file_id is not None:
                self._check_file()
            try:
                # (fetchall: the statement runs to its end, which commits it.)
                seq = int(conn.execute(lone, params).fetchall()[0][0])
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error:
                # The file is busy (or failed): again, as every write is retried.
                def write() -> int | sqlite3.IntegrityError:
                    try:
                        return int(conn.execute(lone, params).fetchall()[0][0])
                    except sqlite3.IntegrityError as error:
                        return error

                seq_or_error = self._retry_busy(write, action)
                if isinstance(seq_or_error, sqlite3.IntegrityError):
                    raise seq_or_error from None
                seq = seq_or_error
            if seq == self._seen_seq + 1:
                self._seen_seq = seq  # nothing from others in between: no news to sync

    def _read(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Any]:
        conn = self._connection()
        with self._lock:
            return self._retry_busy(lambda: conn.execute(sql, params).fetchall(), "read")


class _Write:
    """The write transaction of :meth:`SQLiteConnection._write` (a class, not a generator:
    it is entered for every claim and every add, and this is several µs cheaper)."""

    __slots__ = ("_action", "_conn", "_outer", "_store")

    def __init__(self, store: SQLiteConnection, action: str) -> None:
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


def read_only_place(path: str) -> bool:
    """Whether the existing file *path* is where it cannot be written: its directory
    (where SQLite makes its -wal and -shm files) or the file itself is read-only."""
    if path == ":memory:" or path.startswith("file:") or not os.path.isfile(path):
        return False
    return not os.access(os.path.dirname(os.path.abspath(path)), os.W_OK) or not os.access(
        path, os.W_OK
    )
