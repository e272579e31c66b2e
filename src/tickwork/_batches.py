"""Adding jobs all or nothing: ``add_jobs``, and ``add_job`` with ``on_failure=`` (the
job and its failure handler together).

A mixin of :class:`~tickwork._engine.Engine`, kept apart so the engine module stays
small. While a batch runs, the engine's ``add_job`` checks and builds each job as
always but leaves the writes to the batch (``Engine._batch_writes``; an existing job
named as a failure handler, changed, too): they are made together, in one store
transaction, once every job of the batch has been accepted; a job refused on the way
undoes what the core took in before it, and nothing is written or reported.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._errors import ConflictingIdError
from ._machine import Machine
from ._model import ChainOn
from ._options import adds_only

if TYPE_CHECKING:
    from ._events import Event
    from ._model import Job

__all__ = ["JobBatches", "entries_of"]

#: One ``add_job`` call of a batch: its positional and its keyword arguments.
Call = tuple[Sequence[Any], Mapping[str, Any]]


class JobBatches(Machine):
    """``add_jobs``, and the batch ``add_job`` runs in for an ``on_failure`` handler."""

    _batch: list[tuple[str, Job | None]] | None
    _batch_events: list[Event]
    _batch_writes: tuple[list[Job], list[Job], list[Job]]
    _batch_ids: set[str]
    _batch_edges: dict[str, tuple[tuple[str, ...], ChainOn]]
    #: The thread whose batch runs (None: none does).
    _batch_owner: int | None = None

    if TYPE_CHECKING:

        def add_job(self, /, func: Any, *args: Any, **kwargs: Any) -> Job: ...

        def _require_open(self) -> None: ...

        def _load_early(self) -> None: ...

    def add_jobs(self, jobs: Iterable[Mapping[str, Any]]) -> list[Job]:
        """Add several jobs at once, in one store transaction: all of them, or none.

        Each item holds the arguments of one :meth:`add_job` call (``func``,
        ``trigger`` and any options)::

            scheduler.add_jobs(
                {"func": "reports:send", "trigger": "cron", "hour": 9, "id": f"r{n}"}
                for n in range(1000)
            )

        If any job is refused, the error is raised and none of them is added; its
        message starts with the item at fault (``jobs[40] (id 'office-40'): ...``), and
        its type is the one ``add_job`` raised. With a file store this is many times
        faster than adding the jobs one by one.

        Raises:
            TypeError: *jobs* is not a list (or other iterable) of mappings, or an item
                has no ``func``.
            ConflictingIdError: an id exists already, or is given twice in the batch
                (unless the later item has ``replace_existing`` or ``conflict``: it
                then acts as a second ``add_job`` call would).
        """
        return self._add_batch([((), entry) for entry in entries_of(jobs)], named=True)

    def _in_batch(self) -> bool:
        """Whether the calling thread is inside a batch (its ``add_job`` calls are part
        of it). Another thread's batch holds the lock: a new one waits for it."""
        return self._batch_owner == threading.get_ident()

    def _add_batch(self, calls: list[Call], *, named: bool = False) -> list[Job]:
        """Make the ``add_job`` *calls* as one batch (see the module docstring). With
        *named*, an error of a call is raised naming it (``jobs[3] (id 'x'): ...``)."""
        with self._lock:
            self._require_open()
            if self._batch is not None:
                raise RuntimeError("add_jobs cannot be called from inside add_jobs")
            # (A shared store's jobs are loaded before its transaction, not in it: an
            # upstream or a handler named by id is looked up there.)
            self._load_early()
            self._batch, self._batch_events = [], []
            self._batch_owner = threading.get_ident()
            self._batch_writes = ([], [], [])
            self._batch_ids = {kw["id"] for _, kw in calls if isinstance(kw.get("id"), str)}
            # Jobs that replace none are built before the write lock is taken (building
            # is Python, tens of µs a job: other processes' claims waited for it).
            plain = all(adds_only(kw) for _, kw in calls)
            try:
                with contextlib.nullcontext() if plain else self._store.transaction():
                    if named:
                        added = []
                        for index, (args, kw) in enumerate(calls):
                            try:
                                added.append(self.add_job(*args, **kw))
                            except Exception as error:
                                raise _named(error, index, calls) from None
                    else:
                        added = [self.add_job(*args, **kw) for args, kw in calls]
                    with self._store.transaction():
                        new, replaced, changed = self._batch_writes
                        if new:
                            self._store.add_jobs(new)
                        if replaced:
                            self._store.add_jobs(replaced, replace=True)
                        for job in changed:  # (a handler: its fire state stays the store's)
                            self._store.update_job(job, schedule=False)
            except BaseException:
                for job_id, previous in reversed(self._batch):
                    if previous is None:
                        self._core.discard(job_id)
                    else:
                        self._core.put(previous)
                raise
            finally:
                events, self._batch, self._batch_events = self._batch_events, None, []
                self._batch_owner = None
                self._batch_writes = ([], [], [])
                self._batch_ids, self._batch_edges = set(), {}
                self._chains.changed()
        self._emit(events)
        self._driver.wakeup()
        return added


def entries_of(jobs: object) -> list[Mapping[str, Any]]:
    """The items of an ``add_jobs`` call as a list, each checked to be a mapping with a
    ``func`` (the asyncio driver reads a generator once, before it passes the list on)."""
    if isinstance(jobs, (Mapping, str, bytes)) or not isinstance(jobs, Iterable):
        hint = "; for one job, call add_job(**item) or pass [item]"
        raise TypeError(
            "add_jobs takes a list of dicts, each the arguments of one add_job call; "
            f"got {type(jobs).__name__}{hint if isinstance(jobs, Mapping) else ''}"
        )
    entries = list(jobs)
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise TypeError(
                f"jobs[{index}] must be a mapping of add_job arguments, got {type(entry).__name__}"
            )
        if "func" not in entry:
            raise TypeError(
                f"{_item(index, entry)}: no 'func' given (the function to run: a "
                "callable or a 'module:function' reference)"
            )
    return entries


def _item(index: int, entry: Mapping[str, Any]) -> str:
    """How an error names item *index* of a batch: ``jobs[3]``, ``jobs[3] (id 'x')``."""
    return f"jobs[{index}]" + (f" (id {entry['id']!r})" if "id" in entry else "")


def _named(error: Exception, index: int, calls: list[Call]) -> Exception:
    """*error*, raised by item *index* of *calls*, as an error of the same type (and
    details) whose message starts with the item: or *error* itself, when its message
    is not its one argument."""
    entry = calls[index][1]
    job_id = entry.get("id")
    if isinstance(error, ConflictingIdError) and isinstance(job_id, str):
        first = next((n for n, (_, kw) in enumerate(calls[:index]) if kw.get("id") == job_id), None)
        if first is not None:
            return ConflictingIdError(
                f"{_item(index, entry)}: the id {job_id!r} is given twice in the batch "
                f"(jobs[{first}] and jobs[{index}]); each job needs an id of its own"
            ).with_traceback(error.__traceback__)
    if type(error).__str__ is not BaseException.__str__:
        return error
    if len(error.args) != 1 or not isinstance(error.args[0], str):
        return error
    named = type(error).__new__(type(error), f"{_item(index, entry)}: {error.args[0]}")
    named.__dict__.update(vars(error))
    return named.with_traceback(error.__traceback__)
