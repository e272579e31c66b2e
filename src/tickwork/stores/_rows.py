"""What the stores that keep jobs as database rows share (``SQLiteStore``,
``PostgresStore``): turning rows into jobs, with the rows that cannot be loaded kept,
marked ("broken") and logged once; the warning for a store dropped while open; and the
record of a lease taken over.

A store's row holds the codec's columns (:mod:`tickwork.stores.codec`) in whatever
layout its tables have; :meth:`JobRows._fields` gives them in the codec's order.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, tzinfo
from typing import Any

from .._errors import JobLookupError, SerializationError
from .._instants import epoch_us
from .._model import Job
from .._references import FUNCTIONS, imports_allowed
from .._tz import timezone_name
from ._base import Takeover
from .codec import decode_job

__all__ = ["FUNCTION_MARK", "HANDED_OFF", "JobRows", "takeover", "warn_unclosed", "zone_name"]

logger = logging.getLogger("tickwork")

#: The owner of a lease left for any process: a retry handed off at shutdown.
HANDED_OFF = ""
#: How a scheduler marks a job whose function does not import (``StoreLink.loadable``).
#: A row with such a mark decodes: reading it clears the mark only where the function
#: imports now (a deploy brought it back), not in a process that cannot tell (the
#: dashboard of another program, the command line), nor where it still fails. A claim
#: clears any mark (the claiming scheduler loaded the job), and a process writes a mark
#: once (``mark_broken``): in a rolling deploy, old processes mark a job of the new
#: code once each, the new ones run it and clear the mark, and nothing ping-pongs.
FUNCTION_MARK = "its function cannot be imported: "


class JobRows:
    """Rows into jobs, for a store that keeps jobs as rows (a mixin)."""

    pickle: bool
    #: Set by a reader that shows no job's arguments and must run no code (the command
    #: line's reads, over a copy or in a transaction rolled back): a row whose arguments
    #: are pickled is read without them (empty), not marked broken.
    arguments_unread: bool = False
    _reported: dict[str, str]  # broken job -> the reason already logged (and marked)
    #: Per thread: the jobs marked broken in its open transaction() (see _noted_mark).
    _marking: threading.local
    #: Rows this store could not decode when it last read them: never claimed here.
    _unreadable: set[str]
    #: Jobs whose leases ``maintain`` leaves to other processes ("id:version" of the row
    #: found: this process cannot run them); forgotten when the history is pruned.
    _refused: set[str]
    #: The jobs whose leases were left to others, as logged (once each).
    _refused_logged: set[str]
    #: What holds the rows, in words ("the file", "the database").
    _medium: str

    # -- what a store says of its rows ------------------------------------------------

    def _fields(self, row: Sequence[Any]) -> tuple[Sequence[Any], Any]:
        """The codec's columns of *row*, in the codec's order, and its broken mark."""
        raise NotImplementedError

    def _clear_broken(self, job_id: str) -> None:
        """Clear the broken mark of a row that loads again (a failure is ignored)."""
        raise NotImplementedError

    def _kept_in(self) -> str:
        """Where the rows are kept, for messages (a file, a server and schema)."""
        raise NotImplementedError

    def mark_broken(self, job_id: str, reason: str) -> None:
        """Mark the row *job_id* broken, with *reason*."""
        raise NotImplementedError

    @contextlib.contextmanager
    def _forgetting_marks(self, transaction: AbstractContextManager[object]) -> Iterator[None]:
        """The store's own *transaction*, through which the jobs marked broken in this
        thread (:meth:`_noted_mark`) are forgotten as marked if it is rolled back
        (:meth:`_marks_undone`); a nested one joins the outer one's list."""
        marked: list[str] = []
        try:
            with transaction:
                local = self._marking
                outer = getattr(local, "marked", None) is None
                if outer:
                    local.marked = marked
                try:
                    yield
                finally:
                    if outer:
                        local.marked = None
        except BaseException:
            self._marks_undone(marked)  # (an outer one's, or none)
            raise

    def _noted_mark(self, job_id: str) -> None:
        """*job_id* was marked broken: noted, when in this thread's transaction()."""
        marked: list[str] | None = getattr(self._marking, "marked", None)
        if marked is not None:
            marked.append(job_id)

    def _marks_undone(self, job_ids: list[str]) -> None:
        """The transaction in which *job_ids* were marked broken was rolled back, their
        marks with it: forget them as marked. (A mark is written once per process and
        reason: one taken for written would never be written again, and a job found
        broken in a refused ``remove_job`` or ``add_jobs``, or a command line's read,
        would then be neither loaded nor listed broken.) Marked again, and logged again,
        when next found."""
        for job_id in job_ids:
            self._reported.pop(job_id, None)

    # -- shared -----------------------------------------------------------------------

    def _decode(self, row: Sequence[Any]) -> Job | None:
        """A row's job; None for a broken row, which is marked (and logged once)."""
        return self._job_of(*self._fields(row))

    def _job_of(self, fields: Sequence[Any], broken: Any) -> Job | None:
        """The job of a row's codec *fields*, given its *broken* mark (``_decode``)."""
        if not self.pickle and (isinstance(fields[3], bytes) or isinstance(fields[4], bytes)):
            # Unpickling runs code: only a store opened with pickle=True does it.
            if self.arguments_unread:
                return self._job_of((*fields[:3], "[]", "{}", *fields[5:]), broken)
            self._unreadable.add(fields[0])
            self.mark_broken(fields[0], self._pickled_reason())
            return None
        try:
            job = decode_job(fields)
        except SerializationError as error:
            self._unreadable.add(fields[0])
            self.mark_broken(fields[0], str(error))
            return None
        if self._unreadable:
            self._unreadable.discard(fields[0])
        if broken is not None and _mark_gone(fields[2], broken):
            # It loads again (its module was deployed, say): clear the mark.
            self._clear_broken(fields[0])
            self._reported.pop(fields[0], None)
        return job

    def _pickled_reason(self) -> str:
        """Why a row with pickled arguments is not loaded here (no ``pickle=True``)."""
        return (
            "its arguments are pickled, and this store was opened without pickle=True "
            f"(pass it only if you trust every process that writes {self._medium})"
        )

    def _decode_rows(self, rows: Sequence[Sequence[Any]]) -> tuple[list[Job], list[str]]:
        """The jobs of *rows*, and the ids of the broken ones (marked and logged)."""
        jobs: list[Job] = []
        broken = []
        fields_of, job_of, add = self._fields, self._job_of, jobs.append
        for row in rows:
            job = job_of(*fields_of(row))
            if job is None:
                broken.append(row[0])
            else:
                add(job)
        return jobs, broken

    def _changes(
        self, bound: tuple[datetime, str] | None
    ) -> tuple[list[Job], list[str], list[str]] | None:
        """The changes :meth:`sync_within` gives (with *bound* None: every changed job
        decoded, the third list empty)."""
        raise NotImplementedError

    def sync(self) -> tuple[list[Job], list[str]] | None:
        """Jobs other processes changed or removed since the last call (or None); with a
        store that splits due jobs between its processes, also the due jobs left to
        another process that are this one's to take in, as they are."""
        changed = self._changes(None)
        return None if changed is None else changed[:2]

    def sync_within(
        self, bound: tuple[datetime, str]
    ) -> tuple[list[Job], list[str], list[str]] | None:
        """:meth:`sync` for a scheduler that holds only the jobs up to a window's
        *bound* (a key, as ``due_jobs`` takes it): the jobs changed beyond it (or with
        no fire time, or paused) come as ids only, undecoded, in a third list."""
        return self._changes(bound)

    def _split_at(
        self, rows: list[Sequence[Any]], bound: tuple[datetime, str] | None
    ) -> tuple[list[Sequence[Any]], list[str]]:
        """*rows* of changed jobs split at a window's *bound* (``sync_within``): those
        to decode (a key, ``(next fire, id)``, at most the bound; or a trigger that
        listens for events), and the ids of the rest, left undecoded (a scheduler
        holding only the jobs up to the bound has no use for them: decoding the rows of
        another process's bulk add of far-off jobs took it 0.3 s at each poll)."""
        if bound is None:
            return rows, []
        moment, last_id = bound
        bound_us = epoch_us(moment)
        within, beyond = [], []
        fields_of = self._fields
        for row in rows:
            # (Codec columns: id 0, trigger 5, next_fire_us 7, paused 8.)
            fields = fields_of(row)[0]
            fire_us = fields[7]
            if (
                fire_us is not None
                and not fields[8]
                and (fire_us < bound_us or (fire_us == bound_us and fields[0] <= last_id))
            ) or '"event"' in fields[5]:
                within.append(row)
            else:
                beyond.append(fields[0])
        return within, beyond

    def _due_page(
        self,
        rows: Sequence[Sequence[Any]],
        limit: int,
        more: Callable[[Sequence[Any], int], Sequence[Sequence[Any]]],
    ) -> list[Job]:
        """A page of ``due_jobs``: the jobs of *rows* (up to *limit* read in key order)
        and, while broken rows leave the page short, of the rows after them:
        *more(last_row, n)* reads the next *n* rows after the key of *last_row*.
        (Decoded outside the read: a row that does not decode is marked broken, a
        write.)"""
        jobs: list[Job] = []
        asked = limit
        while True:
            jobs += self._decode_rows(rows)[0]
            if len(rows) < asked or len(jobs) == limit:
                return jobs
            asked = limit - len(jobs)
            rows = more(rows[-1], asked)

    def _one_job(self, job_id: str, rows: Sequence[Sequence[Any]]) -> Job:
        """The job of the row read for *job_id* (``get_job``).

        Raises:
            JobLookupError: there is no row, or it is broken; the message names the id.
        """
        if not rows:
            raise JobLookupError(f"no job with id {job_id!r}")
        job = self._decode(rows[0])
        if job is None:
            raise JobLookupError(
                f"job {job_id!r} is stored but broken: {self._reported.get(job_id, '?')}"
            )
        return job

    # -- runs left by others ------------------------------------------------------------

    def _takeable(self, rows: Sequence[Sequence[Any]], version_at: int) -> list[Any]:
        """The leases this process may take over, of the candidates ``maintain`` read
        (*rows*: token, job id, then the job's columns as :meth:`_fields` reads them
        with the row's version at *version_at* among them, or NULLs if the job is not
        stored): the tokens of those whose runs this process can run. A stored job's
        executor is checked by the read; here, that its record loads (it decodes, and
        its function imports, as the scheduler will import it). The others are left in
        the store, untouched, for a process that can run them; their rows are
        remembered (:attr:`_refused`, which the read leaves out until the row changes)
        and logged once. The run of a job not stored at all is taken (the scheduler
        reports it skipped or interrupted: its job is gone). No write."""
        tokens = []
        verdicts: dict[str, str | None] = {}
        imports: dict[str, str | None] = {}
        left: dict[str, str] = {}
        for row in rows:
            job = row[2:]
            if job[0] is None:  # (not stored)
                tokens.append(row[0])
                continue
            job_id = row[1]
            if job_id not in verdicts:
                reason = verdicts[job_id] = self._cannot_run(self._fields(job)[0], imports)
                if reason is not None:
                    self._refused.add(f"{job_id}:{job[version_at]}")
                    if job_id not in self._refused_logged:
                        self._refused_logged.add(job_id)
                        left[job_id] = reason
            if verdicts[job_id] is None:
                tokens.append(row[0])
        if left:
            job_id, reason = next(iter(left.items()))
            logger.warning(
                "tickwork: runs of %s left in %s for a process that can run them; this one "
                "cannot: %s",
                f"job {job_id!r}" + (f" and {len(left) - 1} more" if len(left) > 1 else ""),
                self._kept_in(),
                reason,
            )
        return tokens

    def _cannot_run(self, fields: Sequence[Any], imports: dict[str, str | None]) -> str | None:
        """Why this process cannot run the job of a row's codec *fields* (None: it can):
        its record does not decode here, or its function does not import here (not
        looked at by a reader that imports nothing). *imports*: the answers for function
        references found so far (a backlog of one job's runs is looked at once)."""
        if not self.pickle and (isinstance(fields[3], bytes) or isinstance(fields[4], bytes)):
            return self._pickled_reason()
        func_ref = fields[2]
        if func_ref not in imports:
            imports[func_ref] = None
            if imports_allowed():
                try:
                    FUNCTIONS(func_ref)
                except Exception as error:  # an import can raise anything
                    imports[func_ref] = f"{FUNCTION_MARK}{error}"
        if imports[func_ref] is not None:
            return imports[func_ref]
        try:
            decode_job(fields)
        except SerializationError as error:
            return str(error)
        return None

    def _log_broken(self, job_id: str, reason: str) -> None:
        """Log that *job_id* cannot be loaded (once per process and reason)."""
        if self._reported.get(job_id) != reason:
            self._reported[job_id] = reason
            logger.error(
                "tickwork: stored job %r cannot be loaded and will not run until fixed "
                "(it is kept in %s): %s",
                job_id,
                self._kept_in(),
                reason,
            )


def _mark_gone(func_ref: str, broken: object) -> bool:
    """Whether the reason a decoded row was marked broken is gone: a mark of the row's
    own (it did not decode) is; one of its function (:data:`FUNCTION_MARK`) only if the
    function imports here, in a process that imports functions."""
    if not (isinstance(broken, str) and broken.startswith(FUNCTION_MARK)):
        return True
    if not imports_allowed():
        return False
    try:
        FUNCTIONS(func_ref)
    except Exception:  # an import can raise anything
        return False
    return True


def warn_unclosed(store: object) -> None:
    """Warn, as Python does for an unclosed file, that *store* was dropped while open
    (from its ``__del__``: the garbage collector is a backstop, not the way to close)."""
    if not sys.is_finalizing():
        warnings.warn(
            f"unclosed {store!r}: call its close(), or its scheduler's shutdown()",
            ResourceWarning,
            stacklevel=3,
            source=store,
        )


def takeover(
    job_id: str, scheduled_at: datetime, attempt: int, owner: str, dead: Sequence[str]
) -> Takeover:
    """The record of a lease taken over from *owner* (``""``: a handed-off retry; one
    of *dead*: an owner found dead before its lease expired). A negative *attempt* is a
    retry that was waiting for its time (``_history.PENDING``): handed off too."""
    return Takeover(
        job_id,
        scheduled_at,
        abs(attempt),
        owner,
        handed_off=owner == HANDED_OFF or attempt < 0,
        dead=owner in dead,
    )


_zone_names: dict[int, tuple[tzinfo, str]] = {}


def zone_name(moment: datetime) -> str:
    """The name of *moment*'s zone, as a row keeps it (cached per tzinfo object: zones
    are few, and a claim batch names one per job moved)."""
    tz = moment.tzinfo
    assert tz is not None
    known = _zone_names.get(id(tz))
    if known is None or known[0] is not tz:
        known = _zone_names[id(tz)] = (tz, timezone_name(tz))
    return known[1]
