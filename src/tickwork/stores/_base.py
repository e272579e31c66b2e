"""The job store contract: what a scheduler asks of the place it keeps its jobs.

Theory of operation
-------------------
A scheduler keeps the jobs it runs in a *store*. The scheduler decides (what is due,
what to retry); the store only keeps data and answers. Two protocols say what a store
must do, in the docstrings of their methods:

* :class:`JobStore`: jobs (add, update, remove, read), the *claim* that turns one
  scheduled fire into a run exactly once (a compare-and-set on the job's next fire
  time), the run history, and jobs that cannot be loaded ("broken"). A store used by
  one process (:class:`~tickwork.stores.MemoryStore`) is a :class:`JobStore`.
* :class:`SharedJobStore`: a store several processes use at once, each with a
  scheduler of its own (:class:`~tickwork.stores.SQLiteStore`). It adds *leases* on the
  runs it claims, so the run of a process that dies is taken over by another, the
  hand-off of pending retries at shutdown, and :meth:`~SharedJobStore.sync`, which
  tells a process what the others changed.
* :class:`WindowedJobStore` (optional, beside either): a store that can list its jobs
  in the order they come due, a page at a time (:meth:`WindowedJobStore.due_jobs`), so
  that a scheduler keeps in memory only the jobs due soon instead of every stored job.
* :class:`NotifyingStore` (optional, beside a shared store): a store that *tells* a
  scheduler when another process changed something (:meth:`NotifyingStore.subscribe`),
  so the change is taken in at once instead of at the next ``poll_interval``; polling
  stays as the backstop.
* :class:`ClockedStore` (optional): a store whose data lives on a shared server with a
  clock of its own (:meth:`ClockedStore.database_now`). A scheduler on the real clock
  schedules by that clock, corrected by the offset it measures every few seconds, so
  hosts whose clocks disagree still agree on what is due.
* :class:`ProcessListing` (optional): a store that tells which scheduler processes use
  it, whether each is alive and which runs each holds (:meth:`ProcessListing.processes`,
  as :class:`ProcessInfo` and :class:`LeaseInfo` records), for dashboards and metrics.
* :class:`StatsListing` (optional): a store that tells cheaply, without loading jobs or
  history rows, each job's next fire time and paused flag
  (:meth:`StatsListing.schedules`) and how many runs of each job its history holds, by
  outcome (:meth:`StatsListing.run_counts`): what a metrics scrape reads.

A store may implement a protocol by its members alone (``isinstance`` checks them), or
subclass it to inherit the default bodies of the optional methods. The contract suites
``tickwork.testing.JobStoreContract`` and ``SharedJobStoreContract`` check a store
against these docstrings; ``docs/writing-a-store.md`` walks through a store that passes.

Rules for every method:

* A store never reads the clock: a method that needs the time takes ``now`` (aware).
* Every method may be called from any thread, concurrently: a store guards its own
  state. A method may be called before :meth:`JobStore.open`; a store that needs
  opening opens itself then (a scheduler adds jobs before it starts).
* Instants are compared as instants, never by wall time or zone: ``12:00 UTC`` and
  ``13:00 Europe/Berlin`` are the same fire time, and so are not the two passes of
  ``01:30`` in a fall-back overlap.
* A job read back equals the job stored (``==``), with ``func=None`` allowed for a
  store that keeps functions by reference (the scheduler imports ``func_ref``). Its
  ``next_fire`` is the same instant, in the same zone when the zone matters for
  equality (a time in a DST fold).
* Failures of the store itself (a file it cannot write, a lost connection) raise
  :class:`~tickwork.StoreError`, with nothing changed: a failed write is rolled back.
* Nothing a caller stored is ever dropped in silence. A stored job the store cannot
  turn back into a :class:`~tickwork.Job` (corrupt data, an unknown trigger type) is
  kept, left out of what the read methods return, and reported by
  :meth:`JobStore.broken_jobs` with the reason.
"""

from __future__ import annotations

import contextlib
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, NamedTuple, Protocol, TypeAlias, TypeVar, runtime_checkable

from .._errors import JobLookupError
from .._model import Job, Outcome, Run, RunEnd

__all__ = [
    "Claim",
    "ClaimLike",
    "ClockedStore",
    "HandOff",
    "HandOffLike",
    "JobSchedule",
    "JobStore",
    "LeaseInfo",
    "NotifyingStore",
    "ProcessInfo",
    "ProcessListing",
    "RunCount",
    "SharedJobStore",
    "StatsListing",
    "Takeover",
    "Upkeep",
    "WindowedJobStore",
]

_S = TypeVar("_S", bound="JobStore")
#: What :meth:`JobStore.transaction` returns for a store without transactions.
_NO_TRANSACTION: contextlib.AbstractContextManager[None] = contextlib.nullcontext()


class Claim(NamedTuple):
    """One claim for :meth:`JobStore.claim_fires`: "if job *job_id* still fires at
    *expected*, make its next fire *new_next* (and its remaining runs
    *remaining_runs*), and start the runs scheduled at *runs*".

    A store accepts a plain tuple of the same five values too (the scheduler passes
    tuples).
    """

    job_id: str
    #: The next fire time the caller read; the claim wins only if it is still stored.
    expected: datetime | None
    #: The next fire time to store (None: the job has no more fire times).
    new_next: datetime | None
    #: The remaining runs to store with it, or None to keep the stored value.
    remaining_runs: int | None
    #: The scheduled times of the runs this claim starts (a shared store leases each).
    runs: tuple[datetime, ...] = ()


#: What :meth:`JobStore.claim_fires` accepts for one claim: a :class:`Claim`, or a plain
#: tuple of its five values.
ClaimLike: TypeAlias = tuple[
    str, datetime | None, datetime | None, int | None, tuple[datetime, ...]
]


class HandOff(NamedTuple):
    """A pending retry left to the other processes at shutdown
    (:meth:`SharedJobStore.hand_off_retries`): run *attempt* of the fire of *job_id*
    scheduled at *scheduled_at*, once *due* has passed. A store accepts a plain tuple of
    the same four values too."""

    job_id: str
    scheduled_at: datetime
    attempt: int
    due: datetime


#: What :meth:`SharedJobStore.hand_off_retries` accepts for one retry.
HandOffLike: TypeAlias = tuple[str, datetime, int, datetime]


class Takeover(NamedTuple):
    """A run this store now holds the lease of, found by :meth:`SharedJobStore.maintain`:

    * the run of another process that stopped renewing its lease (it expired) or, with
      *dead*, that was found dead before its lease expired: *attempt* is the attempt
      that was cut off, which the scheduler records as interrupted and may retry;
    * with *handed_off*, a retry another process left when it shut down
      (:meth:`SharedJobStore.hand_off_retries`), now due: *attempt* is the attempt to
      run, and *owner* is ``""``.
    """

    job_id: str
    scheduled_at: datetime
    attempt: int
    #: The lease's previous owner (``""`` for a handed-off retry).
    owner: str
    handed_off: bool = False
    #: True when the holder was found dead (before its lease expired).
    dead: bool = False


class Upkeep(NamedTuple):
    """What :meth:`SharedJobStore.maintain` did.

    ``lost``: (job id, scheduled time) of runs this store held whose lease another
    store took over (this one did not renew it in time); each is reported once, and
    their waiting runs must not be started. ``taken``: the runs this store now holds
    (see :class:`Takeover`); the caller runs or records each and ends it with
    :meth:`JobStore.record_runs`. ``next_at``: when to call ``maintain`` again (None:
    no need to call it on a timer). ``peers``: how many other scheduler processes use
    the store and beat within ``lease_time`` (None: not known); while there are any,
    the scheduler claims a due backlog in smaller, fairer parts.
    """

    lost: list[tuple[str, datetime]]
    taken: list[Takeover]
    next_at: datetime | None
    peers: int | None = None


@runtime_checkable
class JobStore(Protocol):
    """A place a scheduler keeps its jobs: the methods every store has.

    Subclass it to inherit the default bodies of :meth:`open`, :meth:`close`, the
    context manager, :meth:`add_jobs`, :meth:`remove_jobs`, :meth:`load_jobs`,
    :meth:`claim_fire`, :meth:`transaction`, :meth:`record_runs`, :meth:`history`,
    :meth:`mark_broken` and :meth:`broken_jobs`; implement the others.

    Example::

        class DictStore(JobStore):
            def add_job(self, job, *, replace=False): ...
            # update_job, remove_job, get_job, get_jobs, claim_fires ...

        isinstance(DictStore(), JobStore)        # True
    """

    #: Derived, kept for compatibility: True exactly for a :class:`SharedJobStore`.
    #: Test ``isinstance(store, SharedJobStore)`` instead; do not set it.
    persistent: bool = False

    @classmethod
    def __subclasshook__(cls, other: type) -> Any:
        """``issubclass`` is true for the classes that subclass this protocol (or are
        registered), as when stores had an abstract base class. (Python refuses
        ``issubclass`` for a protocol with data members; ``isinstance`` checks the
        members of any object.)"""
        del other
        return NotImplemented

    # -- lifetime -----------------------------------------------------------------------

    def open(self) -> None:
        """Prepare the store (open files or connections, create tables).

        The scheduler calls it when it starts. Opening an open store does nothing.

        Raises:
            StoreError: the store cannot be used (a file that is not a job store, a
                database that refuses the connection).
        """
        return

    def close(self) -> None:
        """Release what the store holds (files, connections); keep the data.

        The scheduler calls it when it shuts down (also one never started). Closing
        twice, or closing a store never opened, does nothing; a closed store opens
        again when next used.
        """
        return

    def __enter__(self: _S) -> _S:
        """Open the store; the ``with`` block's end closes it.

        >>> with SQLiteStore("jobs.db") as store:  # doctest: +SKIP
        ...     Scheduler(store=store).add_job("myapp.jobs:digest", "cron", hour=7)
        """
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the store (:meth:`close`)."""
        self.close()

    # -- jobs ---------------------------------------------------------------------------

    @abstractmethod
    def add_job(self, job: Job, *, replace: bool = False) -> None:
        """Store a new job.

        With *replace*, a job with the same id (or a broken record of one) is replaced
        whole, schedule state included.

        Raises:
            ConflictingIdError: a job with this id is stored (broken or not) and
                *replace* is False; the message names the id. Nothing is changed.
            SerializationError: a store that keeps jobs as data cannot keep this one
                (a lambda, an argument that is not JSON data); nothing is stored.
            StoreError: the store failed; nothing is stored.
        """

    def add_jobs(self, jobs: Sequence[Job], *, replace: bool = False) -> None:
        """Store several jobs at once: all of them or, when one fails, none.

        With *replace*, each replaces a stored job with its id; a job given twice is
        stored as given last.

        Raises:
            ConflictingIdError: without *replace*, an id is stored already or given
                twice; the message names such ids (the first ten). Nothing is stored.
            SerializationError, StoreError: as :meth:`add_job`; nothing is stored.
        """
        with self.transaction():
            for job in jobs:
                self.add_job(job, replace=replace)

    @abstractmethod
    def update_job(self, job: Job, *, schedule: bool = True) -> None:
        """Replace the stored record of the job with *job*'s id by *job*.

        With ``schedule=False`` the stored next fire time and remaining runs are kept
        (the fields claims move, which another scheduler may have moved since the
        caller read the job); every other field is replaced. A broken record is
        replaced like any other and is no longer broken.

        Raises:
            JobLookupError: no job with this id is stored; the message names the id.
                Nothing is added.
            SerializationError, StoreError: as :meth:`add_job`; nothing is changed.
        """

    @abstractmethod
    def remove_job(self, job_id: str) -> None:
        """Delete the job *job_id* (a broken record of it too). Its run history stays.

        Raises:
            JobLookupError: no job with this id is stored; the message names the id.
            StoreError: the store failed; nothing is deleted.
        """

    def remove_jobs(self, job_ids: Sequence[str]) -> None:
        """Delete several jobs at once (all or, on a store failure, none); ids that are
        not stored are ignored.

        Raises:
            StoreError: the store failed; nothing is deleted.
        """
        with self.transaction():
            for job_id in job_ids:
                with contextlib.suppress(JobLookupError):
                    self.remove_job(job_id)

    @abstractmethod
    def get_job(self, job_id: str) -> Job:
        """The stored job *job_id*, as stored (schedule state included).

        A shared store reads the data as it is now, changes by other processes included.

        Raises:
            JobLookupError: no job with this id is stored, or its record is broken
                (then the message says so); the message names the id.
            StoreError: the store failed.
        """

    @abstractmethod
    def get_jobs(self) -> list[Job]:
        """Every stored job that can be loaded: a new list, ordered by next fire time
        (by instant; jobs without one last), then by id.

        Broken records are left out (and reported by :meth:`broken_jobs`).

        Raises:
            StoreError: the store failed.
        """

    def load_jobs(self) -> list[Job]:
        """Every stored job that can be loaded, in any order: what a scheduler loads
        when it starts. The same jobs as :meth:`get_jobs`; a store that can skip the
        sorting overrides it. A :class:`SharedJobStore` counts the changes
        :meth:`SharedJobStore.sync` reports from here.

        Raises:
            StoreError: the store failed.
        """
        return self.get_jobs()

    # -- claims -------------------------------------------------------------------------

    def claim_fire(
        self,
        job_id: str,
        expected: datetime | None,
        new_next: datetime | None,
        *,
        now: datetime,
        remaining_runs: int | None = None,
    ) -> bool:
        """One claim (see :meth:`claim_fires`), starting no runs: True when it won.

        Atomically moves the job's next fire time from *expected* to *new_next* (and
        stores *remaining_runs*, unless None). Returns False, changing nothing, when the
        stored next fire time is not *expected* (another scheduler claimed that fire,
        or the job changed) or the job is not stored.
        """
        claim = Claim(job_id, expected, new_next, remaining_runs, ())
        return self.claim_fires([claim], now=now)[0] is not None

    @abstractmethod
    def claim_fires(self, claims: Sequence[ClaimLike], *, now: datetime) -> list[int | None]:
        """Claim scheduled fires: the compare-and-set that makes each fire run once.

        For each :class:`Claim` (or plain tuple ``(job_id, expected, new_next,
        remaining_runs, runs)``), in order: if the job is stored, not broken (a record
        this store cannot decode), not paused (as stored: a pause by another process
        counts), and its stored next fire time is the instant *expected* (None matches
        only None), set it to *new_next* and, unless *remaining_runs* is None, the
        remaining runs to *remaining_runs*; nothing else of the job changes. Otherwise
        change nothing. (A mark made with :meth:`mark_broken` stops no claim: it says
        what one process found, and the caller loaded the job; a
        :class:`SharedJobStore` clears it with a claim that wins.)
        A later claim in the same call sees the effect of an earlier one.

        Returns one result per claim, in order: None when it was not claimed, else how
        many runs of the job other processes hold leases for (0 for a store of one
        process), which the scheduler counts against ``max_instances``.

        A :class:`SharedJobStore` makes all the claims in one transaction and, in it,
        takes a lease on each run a winning claim starts (*runs*); see its lease rules.
        ``now`` is when the leases start.

        A store may also keep *run slots*: the (job id, scheduled instant) of every run
        a claim started, for as long as it keeps history, so that no later claim starts
        a run of the same fire again (a job replaced with its first fire reset, a
        catch-up over fires that ran). A claim whose compare-and-set matches but one of
        whose *runs* already had its slot still moves the job as asked (so the caller
        does not claim that fire for ever), starts no run and returns None.
        :class:`~tickwork.stores.PostgresStore` does this; the other stores do not.

        Raises:
            StoreError: the store failed; nothing was claimed.
        """

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """Group the calls made inside the block into one transaction, where the store
        has them: all of their changes are kept, or (when the block raises) none.

        Blocks may nest (the inner joins the outer). The default has no transactions:
        each call inside is atomic on its own, and nothing is undone.
        """
        # One shared no-op block: the scheduler opens one per dispatch step that ended
        # runs, where a generator-based one cost three Python calls for nothing.
        return _NO_TRANSACTION

    # -- run history --------------------------------------------------------------------

    def record_runs(self, runs: Sequence[RunEnd], *, now: datetime) -> None:
        """Append *runs* to the run history, in order (*now* is when).

        A :class:`SharedJobStore` also ends each run's lease in the same transaction
        (see its lease rules): it releases the lease of a run whose ``final`` is set,
        and otherwise sets the lease's attempt to the next one.

        The default keeps no history (:meth:`history` is then always empty).

        Raises:
            StoreError: the store failed; nothing is recorded or released.
        """
        return

    def history(self, job_id: str | None = None, *, limit: int = 100) -> list[Run]:
        """The recorded runs, newest (last recorded) first: all of them, or those of
        *job_id*, at most *limit* of them.

        Each :class:`~tickwork.Run` holds the run's fields (see
        :func:`tickwork.stores.codec.run_from_end`) and names the process that recorded
        it. A store bounds what it keeps, dropping the oldest runs first; the history
        of a job outlives the job.

        Raises:
            ValueError: *limit* is not a whole number >= 0.
            StoreError: the store failed.
        """
        return []

    # -- broken jobs --------------------------------------------------------------------

    def mark_broken(self, job_id: str, reason: str) -> None:
        """Note that the stored job *job_id* cannot be loaded, and why (the scheduler
        calls it when the job's function no longer imports); the job stays stored.

        :meth:`broken_jobs` reports it until the job is replaced, updated or removed (a
        store that decodes its records may also clear the mark when the record next
        loads where the function imports). Marking a job that is not stored does
        nothing. A mark is what the process that wrote it found: it stops no claim. A
        :class:`SharedJobStore` clears it with a claim that wins (its process loaded
        the job), and writes a mark once per job and reason: marked again after another
        process cleared it, it changes nothing (two processes would undo each other's
        writes for ever).

        Raises:
            StoreError: the store failed.
        """
        return

    def broken_jobs(self) -> dict[str, str]:
        """The stored jobs that cannot be loaded, id to reason, ordered by id: records
        the store could not decode, and jobs marked by :meth:`mark_broken`.

        Raises:
            StoreError: the store failed.
        """
        return {}


@runtime_checkable
class SharedJobStore(JobStore, Protocol):
    """A job store that several processes use at once, each running a scheduler.

    Each scheduled fire runs once among the processes, whichever claims it
    (:meth:`~JobStore.claim_fires`); a change one process makes reaches the others
    through :meth:`sync`; the run of a process that dies is taken over by another
    through *leases* (:meth:`maintain`); retries pending at shutdown are left to the
    others (:meth:`hand_off_retries`).

    Lease rules
    -----------
    1. *One lease per claimed run*, keyed by job id and scheduled instant, taken in the
       same transaction as the claim that starts the run (the claim's ``runs``). A
       lease has an owner (this store object: one per process), an expiry, and a
       fencing token that is never reused.
    2. *Renewal*: :meth:`maintain` extends this store's leases to ``now + lease
       time``, at the latest when a third of the lease time has passed since they were
       last renewed; the scheduler calls it again at :attr:`Upkeep.next_at`.
    3. *Release*: :meth:`~JobStore.record_runs` deletes the lease of a run whose
       ``final`` is set, in the same transaction as the run's history row, and only if
       the lease still has this store's token (one taken over since is left alone).
       A run that ends with another attempt to come keeps its lease, with the attempt
       set to the next one (what a process taking it over runs).
    4. *Expiry and takeover*: a lease expires when its expiry is before ``now``.
       :meth:`maintain` (with ``take_over``) takes over the expired leases of other
       owners, and the leases of owners found dead before that where the store can
       tell; each becomes this store's under a new token, and is reported once as a
       :class:`Takeover`. It takes over only runs its process can run: it leaves alone
       the lease of a run whose job is stored but whose record does not load in this
       process (it does not decode, or its function does not import here), and, in a
       store told which executors its scheduler dispatches to (the optional
       ``dispatching(aliases)``), of a job whose executor is not among them. Such a
       lease stays as it is, for a process that can run the run (one with the new
       code, or the executor) to take over; the run of a job no longer stored at all
       is taken over as any other.
    5. *Lost leases*: a store that finds, when it renews, that one of its leases was
       taken over reports it once in :attr:`Upkeep.lost`; it must not release or renew
       the new owner's lease.
    6. *Hand-off*: :meth:`hand_off_retries` leaves a held lease to no one (owner
       ``""``), with the attempt to run and its due time as expiry; it is taken over
       like an expired lease once due, as a :class:`Takeover` with ``handed_off``.
    7. *Counting*: a claim's result counts the job's leases held by other owners (a
       handed-off retry is no run in progress and is not counted).
    """

    persistent: bool = True
    #: Seconds between :meth:`sync` calls (None: the scheduler never calls it on a
    #: timer, only after losing a claim).
    poll_interval: float | None = None

    @classmethod
    def __subclasshook__(cls, other: type) -> Any:
        """As :meth:`JobStore.__subclasshook__`."""
        del other
        return NotImplemented

    @abstractmethod
    def sync(self) -> tuple[list[Job], list[str]] | None:
        """What other store objects (other processes) changed: ``(jobs, removed_ids)``,
        or None when nothing changed.

        *jobs* holds the current state of each job added or changed since the last
        :meth:`sync` or :meth:`~JobStore.load_jobs` (a store may count from
        :meth:`~JobStore.get_jobs` too); *removed_ids* the jobs removed since, and those
        whose record this store can no longer decode (not those another process marked
        with :meth:`~JobStore.mark_broken`). A change may be reported more than once,
        and this store's own writes may be among them; none is missed. With no change
        by another, the result is None.

        Raises:
            StoreError: the store failed.
        """

    @abstractmethod
    def maintain(self, now: datetime, *, take_over: bool = True) -> Upkeep:
        """Look after leases (see the lease rules): renew this store's when due, report
        those it lost and, with *take_over*, take over the expired leases of others
        and those of owners found dead, of runs this process can run (rule 4). A store
        may also prune its history here.

        ``take_over=False`` (a paused scheduler) renews and reports lost leases but
        takes over nothing.

        Raises:
            StoreError: the store failed; no lease was taken.
        """

    @abstractmethod
    def hand_off_retries(self, retries: Sequence[HandOffLike], *, now: datetime) -> list[bool]:
        """At shutdown, leave pending retries to the other processes.

        For each :class:`HandOff` (or plain tuple ``(job_id, scheduled_at, attempt,
        due)``), in one transaction: if this store holds the lease of that run, the
        lease is kept with no owner (``""``), the attempt to run, and *due* as expiry;
        the first store whose :meth:`maintain` looks once it is due takes it over (a
        :class:`Takeover` with ``handed_off``). This store no longer renews it.

        Returns, for each retry, whether the store kept it. A retry of a run this store
        holds no lease for (one started by ``run_job_now``, or one it lost) is not kept:
        the scheduler reports it skipped.

        Raises:
            StoreError: the store failed; nothing was kept.
        """


@runtime_checkable
class WindowedJobStore(Protocol):
    """A store that lists its jobs in the order they come due, a page at a time.

    A scheduler on such a store keeps in memory only a *window*: the jobs due next, a
    few thousand, read with :meth:`due_jobs` when it starts and again, from where the
    last page ended, as time moves on. The others stay in the store until their turn;
    reads by id (:meth:`JobStore.get_job`) and :meth:`JobStore.get_jobs` still see them.
    A store that does not offer this (:class:`~tickwork.stores.MemoryStore`) is loaded
    whole (:meth:`JobStore.load_jobs`).

    It is a protocol of its own, to implement beside :class:`JobStore` or
    :class:`SharedJobStore`; ``isinstance(store, WindowedJobStore)`` tells whether a
    store offers it. The contract suites check it for a store that does.
    """

    @abstractmethod
    def due_jobs(self, *, after: tuple[datetime, str] | None, limit: int) -> list[Job]:
        """The next *limit* jobs to come due after the key *after*, in that order.

        A job's key is ``(next_fire, id)``: its next fire time, compared as an instant,
        then its id, compared as Python compares ``str`` (by code point; in SQL, a binary
        collation). Returned: the stored jobs that can be loaded, are not paused and have
        a next fire time, ordered by key, with a key strictly greater than *after*
        (None: from the first), at most *limit* of them. Fewer than *limit* means that
        no more come after the last one returned. Keyset paging, not a time bound: the
        next page starts at the last key returned, so jobs due at one instant (any
        number of them) are each returned once, in id order.

        A page shows the data as it is at the call; a job changed since an earlier page
        is returned again if its new key falls in a later page (and not, if it moved
        into a page already read). Broken records are left out (and reported by
        :meth:`JobStore.broken_jobs`), as by :meth:`JobStore.get_jobs`.

        A :class:`SharedJobStore` counts the changes :meth:`SharedJobStore.sync` reports
        from the call with ``after=None`` (where a scheduler starts), as from
        :meth:`JobStore.load_jobs`; a call with a key, and :meth:`JobStore.get_jobs`, do
        not move that point (the scheduler learns of changes to jobs outside its window
        through :meth:`SharedJobStore.sync` alone).

        Raises:
            TypeError, ValueError: *limit* is not a whole number >= 1 (an int).
            StoreError: the store failed.
        """


@runtime_checkable
class NotifyingStore(Protocol):
    """A store that tells a scheduler at once when another process changed something.

    Without it, a scheduler on a :class:`SharedJobStore` learns of other processes'
    changes every ``poll_interval`` seconds; with it, within moments (a job another
    host adds with a fire time of now starts at once). It is a protocol of its own, to
    implement beside :class:`SharedJobStore`; ``isinstance(store, NotifyingStore)``
    tells whether a store offers it. Polling stays as the backstop: a notification may
    be lost, and the scheduler still calls :meth:`SharedJobStore.sync` on its timer.
    """

    @abstractmethod
    def subscribe(
        self,
        callback: Callable[[], None],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> Callable[[], None]:
        """Call *callback* whenever another process changed something; return a
        function that unsubscribes (calling it twice does nothing).

        "Changed something": a job added, changed or removed, a run ended (a lease
        released), a retry handed off: anything :meth:`SharedJobStore.sync` or
        :meth:`SharedJobStore.maintain` would find. *callback* takes no arguments and
        says only "look again": the scheduler then calls :meth:`SharedJobStore.sync`.
        It may be called more than once for one change (and for this store's own
        changes), and many calls in a burst may be taken together; it must not be
        called for a change :meth:`SharedJobStore.sync` cannot see yet (call it after
        the change is committed).

        Both functions are called from a thread of the store's own (never while the
        store holds a lock the scheduler may wait for); they return quickly and do not
        raise. When the store loses its way of hearing (a dropped connection), it calls
        *on_error* with the error, once per outage, and, once it hears again, calls
        *callback* (changes may have been missed meanwhile). The scheduler goes on by
        polling in between.

        The scheduler subscribes when it starts (after :meth:`JobStore.open`) and
        unsubscribes when it shuts down, before :meth:`JobStore.close`; after the
        unsubscribe function returns, neither function is called again.

        Raises:
            StoreError: the store cannot notify (the scheduler logs it, reports a
                ``STORE_ERROR`` event and goes on by polling).
        """


@runtime_checkable
class ClockedStore(Protocol):
    """A store on a shared server whose clock every host sharing the store agrees on.

    Hosts' clocks drift and are set wrong; the scheduler of a host on the real clock
    (``SystemClock``) schedules by the database's clock instead: it reads
    :meth:`database_now` when it starts and every 10 seconds after, and adds the offset
    it measured (against the midpoint of its own readings before and after) to its own
    clock. A scheduler with any other clock (a ``FakeClock``, a user's clock) is not
    corrected. ``isinstance(store, ClockedStore)`` tells whether a store offers it.
    """

    @abstractmethod
    def database_now(self) -> datetime:
        """The database's current time, an aware datetime (UTC).

        One short query; it may be called from any thread, before :meth:`JobStore.open`
        (opening the store) too.

        Raises:
            StoreError: the store failed (the scheduler keeps the offset it last
                measured and tries again later).
        """


@dataclass(frozen=True, kw_only=True, slots=True)
class LeaseInfo:
    """A run a process holds the lease of (see the lease rules of
    :class:`SharedJobStore`), as :meth:`ProcessListing.processes` lists it."""

    #: The job of the run.
    job_id: str
    #: The run's nominal fire time (aware; UTC when the store keeps instants only).
    scheduled_at: datetime
    #: The attempt the holder runs (the next one, after a failed attempt that retries).
    attempt: int
    #: When the lease expires unless renewed (aware, UTC).
    expires: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class ProcessInfo:
    """A scheduler process that uses a store, as :meth:`ProcessListing.processes`
    lists it. A field the store cannot tell is None."""

    #: The process's name as a lease owner (``host:pid:nonce`` for tickwork's stores):
    #: unique among the processes of a store, and the ``owner`` of its leases.
    id: str
    #: The host it runs on.
    host: str | None
    #: Its process id on that host.
    pid: int | None
    #: When it started using the store (aware, UTC).
    started: datetime | None
    #: When it last told the store it was alive (its heartbeat; aware, UTC).
    last_seen: datetime | None
    #: Whether it is alive, by the store's own test (see the store's ``processes``);
    #: None when the store cannot tell.
    alive: bool | None
    #: The runs it holds the leases of, by nominal fire time, then job id.
    leases: tuple[LeaseInfo, ...] = ()


@runtime_checkable
class ProcessListing(Protocol):
    """A store that tells which scheduler processes use it, and what each holds.

    For dashboards, metrics and the command line: "which process holds what". It is a
    protocol of its own, to implement beside :class:`JobStore` or
    :class:`SharedJobStore`; ``isinstance(store, ProcessListing)`` tells whether a store
    offers it. Nothing in the scheduler depends on it.
    """

    @abstractmethod
    def processes(self, *, now: datetime) -> list[ProcessInfo]:
        """The scheduler processes of this store, each with the leases it holds.

        Listed: every process whose scheduler looks after its leases on the store (a
        scheduler does from its first step, through :meth:`SharedJobStore.maintain`,
        which is also where a store records its heartbeat, ``last_seen``), whether
        alive or found dead, until it closes the store or the store forgets it; and
        every owner of a lease, even one the store has no other record of. A store
        opened only to read or change jobs (the command line, a dashboard) is no
        scheduler, and is not listed. Retries handed off at shutdown are held by no
        process and are not listed. A store that only one process can use (in memory)
        may list that process, always.

        *alive* is the store's own test, at *now*: the one by which it takes runs over
        from dead processes (a store documents it). Ordered by ``started`` (unknown
        last), then id; each process's leases by nominal fire time, then job id.

        Raises:
            StoreError: the store failed.
        """


class JobSchedule(NamedTuple):
    """A stored job's schedule, as :meth:`StatsListing.schedules` lists it."""

    job_id: str
    #: Its next fire time (aware; UTC for a store that keeps instants), or None.
    next_fire: datetime | None
    paused: bool


class RunCount(NamedTuple):
    """How many runs of one job with one outcome a store's history holds, as
    :meth:`StatsListing.run_counts` lists them."""

    job_id: str
    outcome: Outcome
    #: How many (a field named ``count`` would hide ``tuple.count``).
    runs: int
    #: When the newest of them ended (its ``finished_at`` for a run that ran, else when
    #: it was recorded; aware, UTC), or None if the store cannot tell.
    last: datetime | None


@runtime_checkable
class StatsListing(Protocol):
    """A store that tells cheaply what a metrics scrape or a dashboard counts.

    :meth:`JobStore.get_jobs` and :meth:`JobStore.history` load whole jobs and runs; a
    scrape of a store of ten thousand jobs wants only each job's next fire time and how
    its runs went. It is a protocol of its own, to implement beside :class:`JobStore`;
    ``isinstance(store, StatsListing)`` tells whether a store offers it (without it,
    ``tickwork.metrics`` reads ``get_jobs`` and ``history``).
    """

    @abstractmethod
    def schedules(self) -> list[JobSchedule]:
        """Each stored job's id, next fire time and paused flag, ordered by id: the jobs
        :meth:`JobStore.get_jobs` returns, with the same values, read without loading
        them (a record not yet found broken may be listed too).

        Raises:
            StoreError: the store failed.
        """

    @abstractmethod
    def run_counts(self) -> list[RunCount]:
        """How many runs of each job the history holds, by outcome, ordered by job id
        then outcome value: the runs :meth:`JobStore.history` would return with no
        limit (of jobs removed since too), counted.

        Raises:
            StoreError: the store failed.
        """


@runtime_checkable
class StatsRows(Protocol):
    """A :class:`StatsListing` whose answers are rows of times in microseconds (the
    SQL stores): what a metrics scrape writes as Unix times, read without making a
    ``datetime`` of each. Not public: ``tickwork.metrics`` uses it when it is there."""

    def schedule_rows(self) -> list[tuple[str, int | None, Any]]:
        """:meth:`StatsListing.schedules` as (job id, next fire in µs since the epoch or
        None, paused flag) rows, in the same order."""
        ...

    def run_count_rows(self) -> list[tuple[str, str, int, int | None]]:
        """:meth:`StatsListing.run_counts` as (job id, outcome value, runs, newest end
        in µs or None) rows, in the same order."""
        ...
