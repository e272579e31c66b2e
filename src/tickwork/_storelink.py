"""The store link: everything the engine does with its job store, in one place.

The core decides (``_core``); this class carries its decisions to the store and the
store's answers back:

* **loading**: the stored jobs at start (or when first asked for), their functions
  imported once each, and a job whose function no longer imports marked broken in the
  store, never dropped; from a :class:`~tickwork.stores.WindowedJobStore`, only the
  jobs due next, a page at a time (``_window``: the rest stay in the store until their
  turn);
* **claims**: due fires are claimed in the store (a compare-and-set per fire, in one
  transaction) before anything runs; a fire another process claimed first is not
  run, and the job is taken as the store now has it;
* **sharing** (a :class:`~tickwork.stores.SharedJobStore` only): other processes'
  changes are taken in every ``poll_interval`` and, from a
  :class:`~tickwork.stores.NotifyingStore`, at the step after it tells of them (a
  burst of notifications is one read), leases are renewed, runs of dead processes
  taken over, and runs not started handed off at shutdown (or pause);
* **persisting** a decision (job records, finished jobs, history rows) in one
  transaction; rows a failing store could not take are kept and written later.

A failing store stops dispatching (a run must not start without a claim that other
processes can see) until it answers again; the first failure is reported once as a
``STORE_ERROR`` event. Every method is called with the engine's lock held; none reads
the clock: ``now`` is an argument.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import random
import zlib
from collections.abc import Callable, Collection, Container, Mapping
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

from ._context import log_fields
from ._core import PAUSED_BEFORE_START, REMOVED_BEFORE_START, SchedulerCore
from ._decision import Decision, FireDue, RetryDue
from ._errors import JobLookupError, StoreError
from ._events import Event, EventKind
from ._hearing import Hearing
from ._instants import EPOCH as _EPOCH
from ._model import Job, with_counters
from ._pace import ClaimPace
from ._planning import epoch_us
from ._serialize import fire_zone
from ._storecheck import claimed_by, loaded_from
from ._window import Window, changes
from .stores import (
    HandOffLike,
    JobStore,
    SharedJobStore,
    Takeover,
    WindowedJobStore,
)
from .stores._rows import FUNCTION_MARK

__all__ = ["StoreLink"]

logger = logging.getLogger("tickwork")

#: Fires planned at once while other processes race for them (see StoreLink.dispatch).
CLAIM_POOL = 8192
#: How long to wait before trying a failing store again.
STORE_RETRY = timedelta(seconds=1)
#: History rows kept in memory while the store cannot take them.
UNSAVED_LIMIT = 100_000
_REMOVED = int(EventKind.JOB_REMOVED)
#: A FireDue's claim: (job id, nominal, next fire, remaining runs, runs).
_CLAIM = itemgetter(0, 1, 4, 6, 2)


def earliest(*moments: datetime | None) -> datetime | None:
    """The earliest of the given instants (None when none is given)."""
    return min((moment for moment in moments if moment is not None), key=epoch_us, default=None)


class StoreLink(Hearing):
    """The engine's side of the store contract (see the module docstring)."""

    def __init__(
        self,
        store: JobStore,
        core: SchedulerCore,
        functions: Callable[[str], Callable[..., Any]],
        executors: Container[str],
    ) -> None:
        self.store = store
        # Whether the store groups calls in transactions (the default block does nothing;
        # a store of no JobStore subclass is asked for its own, as always).
        self._grouped = getattr(type(store), "transaction", None) is not JobStore.transaction
        # The store when other processes may share it (claims race, leases, sync).
        self._shared = store if isinstance(store, SharedJobStore) else None
        #: Whether other processes may share the store.
        self.shared = self._shared is not None
        self._core = core
        self._functions = functions
        # The aliases of the executors this process has (the engine's live mapping).
        self._executors = executors
        self.loaded = False
        #: False while the store fails: nothing is claimed until it answers again.
        self.ok = True
        # A STORE_ERROR was sent and the store has not answered since (True: a write
        # failed, which a read that succeeds, as in WAL mode while another process
        # holds the write lock, does not end; False: a read failed).
        self._outage: bool | None = None
        #: STORE_ERROR events for the next decision.
        self.events: list[Event] = []
        # History rows a failing store could not take yet (kept, retried, never dropped
        # silently), and when the store next wants upkeep (leases) and a change check.
        self._unsaved: list[Any] = []
        self.upkeep_at: datetime | None = None
        self._sync_at: datetime | None = None
        self._claim_salt = random.getrandbits(32)  # this process's order of claiming
        self._leftover: list[FireDue] = []  # due fires planned beyond the last chunk
        #: Takes back from the executors the runs not started yet of jobs another
        #: process paused or removed (job id -> why), into a decision (set by the engine).
        self.withdraw: Callable[[Mapping[str, str], datetime, Decision], None] | None = None
        self._contended = False  # another process has claimed a fire this one wanted
        self._peers = 0  # other live processes on the store (its last upkeep said)
        self._pace = ClaimPace()  # how far ahead to claim while others share the store
        self._lost_claims = False  # ... since this process last read the changes
        # Stored jobs for executors this process does not have: listed, never claimed.
        self._foreign: set[str] = set()
        self.make_asyncio: Callable[[], object] | None = None
        #: The jobs of a store too big to load whole that the core holds (None: the
        #: core holds every stored job).
        self.window = (
            Window(store, core, self._windowed) if isinstance(store, WindowedJobStore) else None
        )
        #: Whether the core may lack a stored job (the store shared, or windowed): the
        #: store is asked for a job the core does not hold.
        self.partial = self.shared or self.window is not None
        self.listen_to(store if self._shared is not None else None)
        # What tell_dispatching last told the store (running, the executors' aliases).
        self._told: tuple[bool, tuple[str, ...]] | None = None

    # -- loading ----------------------------------------------------------------------

    def load(self) -> None:
        """Open the store and load its jobs into the core, once: at start, or before it
        when a stored job is first asked for."""
        if self.loaded:
            return
        self.store.open()
        if self.window is not None:
            self.window.start()
            self.loaded = True
            return
        core = self._core
        loaded = []
        # Loading makes a few objects per job and frees almost none: the cyclic garbage
        # collector would walk them again and again for nothing (a third of the time
        # for 100,000 jobs).
        collecting = gc.isenabled()
        gc.disable()
        try:
            for job in loaded_from(self.store):
                if job.id not in core:
                    ready = self.loadable(job)
                    if ready is not None:
                        loaded.append(ready)
            core.put_many(loaded)
        finally:
            if collecting:
                gc.enable()
        self.loaded = True

    def restart(self) -> None:
        """Forget when upkeep and the change check are due: both run at the next step
        (and what the store was told of this process's dispatching: told again)."""
        self.upkeep_at = self._sync_at = None
        self._told = None

    def loadable(self, job: Job) -> Job | None:
        """*job*, if its function imports; else None, and the job marked broken.

        The record is kept as the store gave it, with only the function's reference:
        a run looks the function up when it starts, and the engine fills it in on the
        copy it hands a caller (copying every loaded record here would make loading
        100,000 jobs a third slower).
        """
        if job.func is not None or not job.func_ref:
            return job
        try:
            self._functions(job.func_ref)
        except Exception as error:  # an import can raise anything
            reason = f"{FUNCTION_MARK}{error}"
            try:
                self.store.mark_broken(job.id, reason)
            except StoreError as store_error:
                logger.error("tickwork: job %r is broken (%s): %s", job.id, reason, store_error)
            return None
        if job.executor == "asyncio" and self.make_asyncio and "asyncio" not in self._executors:
            self.make_asyncio()  # (as add_job makes it: on first use)
        if job.executor not in self._executors:
            if job.id not in self._foreign:
                self._foreign.add(job.id)
                logger.warning(
                    "tickwork: job %r runs on executor %r, which this process does not "
                    "have; its fires are left to processes that do",
                    job.id,
                    job.executor,
                )
        else:
            self._foreign.discard(job.id)
        return job

    def _windowed(self, job: Job) -> Job | None:
        """:meth:`loadable`, for a window: a job for an executor this process lacks is
        not held (this process never fires it, and ``get_jobs`` reads the store)."""
        ready = self.loadable(job)
        return None if ready is None or ready.id in self._foreign else ready

    def keep(self, job: Job) -> None:
        """Hold *job* (new or changed, as stored) in the core, unless a window leaves it
        to the store: then the core forgets it, if no run of it is going."""
        window = self.window
        core = self._core
        if window is None or window.admits(job) or core.busy(job.id):
            core.put(job)
        else:
            core.discard(job.id)

    def every_job(self, held: list[Job], stored: list[Job]) -> list[Job]:
        """The jobs the core holds (*held*), and the other jobs of the store (*stored*,
        read outside the lock) that can be loaded: what ``get_jobs`` lists when a
        window leaves jobs in the store."""
        seen = {job.id for job in held}
        held += (job for job in stored if job.id not in seen and self.loadable(job) is not None)
        return held

    def find(self, job_id: str) -> Job | None:
        """The job, looked up in the store too when the core may not hold it (shared:
        another process may have added it since this one last checked for changes;
        windowed: it is not due soon). A job found there is held by the core until it
        is idle (a run of it may be asked for)."""
        core = self._core
        job = core.get(job_id)
        if job is not None or not self.partial:
            return job
        try:
            stored = self.store.get_job(job_id)
        except JobLookupError:
            return None
        loaded = self.loadable(stored)
        if loaded is None:
            return None
        core.put(loaded)
        return core.get(job_id)

    def stored(self, job_id: str) -> Job | None:
        """The store's own record of a job, with its function (None: none, or broken)."""
        try:
            existing = self.store.get_job(job_id)
        except JobLookupError:
            return None
        if existing.func is None:
            return self.loadable(existing) or existing
        return existing

    # -- claiming ---------------------------------------------------------------------

    def next_dispatch(self, now: datetime) -> datetime | None:
        """When something is next due to dispatch, while running."""
        if not self.ok:
            return self.upkeep_at  # nothing is claimed until the store answers
        if self._leftover and not self._held_back(now):
            return now  # fires left over from the last chunk
        if (self._lost_claims or self.changes_pending) and (
            self._race_done(now) or (self.changes_pending and not self._backlogged(now))
        ):
            return now  # read what the others did (upkeep): a backlog here is done
        due = self._core.next_due()
        if self.window is not None and self.window.behind(due):
            return now  # the window's next page is wanted
        if due is not None and due <= now and self._held_back(now):
            # Enough runs are in flight: the next step is when one of them ends (a
            # shared store's run always wakes the driver when it ends).
            return None
        return due

    def next_wakeup(self, upcoming: datetime | None) -> tuple[datetime | None, bool]:
        """When the driver must next step: *upcoming* (the next run), or the store's
        next upkeep or change check; and whether that is a run (worth waking precisely
        for)."""
        if not self.shared or not self.ok:
            return upcoming, upcoming is not None
        wake = earliest(upcoming, self.upkeep_at, self._sync_at)
        return wake, wake is upcoming and upcoming is not None

    def dispatch(self, now: datetime, batch: Decision, *, limit: int) -> None:
        """Take up to *limit* due runs from the core, claim them in the store (one
        transaction), and apply the ones claimed.

        Fires left over from an earlier step come first. While other processes race for
        the same due fires (a claim was lost, or they are known to share the store and
        it did not split the backlog), a larger pool is planned and claimed in an order
        of this process's own, so that they mostly claim different fires; the rest of
        the pool waits, planned, for the next step. (Alone, in due order.) With a shared
        store a process claims no more than its executors can start soon
        (:meth:`_share_limit`)."""
        if self.shared:
            racing = self._racing()
            if racing:
                self._contended = True
            limit = self._share_limit(limit, now, racing=racing)
            if limit <= 0:
                return  # enough runs in flight: more when some end
        waiting = self._waiting_fires(limit) if self._leftover else []
        pool = max(limit, CLAIM_POOL) if self._contended else limit
        room = 0 if self._leftover else pool - len(waiting)  # (new ones once it is used up)
        due = self._core.pop_due(now, batch, limit=room) if room > 0 else []
        if self._foreign:
            # Fires of jobs for an executor this process lacks are left to the processes
            # that have it (not claimed, so not lost).
            due = [item for item in due if item.job_id not in self._foreign]
        # (type, not isinstance: once per due item, neither subclassed; the look in C.)
        retries = (
            [item for item in due if type(item) is RetryDue] if RetryDue in map(type, due) else []
        )
        # (Not typing.cast: a Python call, once per step.)
        fires: list[FireDue] = (
            [item for item in due if type(item) is FireDue] if retries else due  # type: ignore[assignment]
        )
        if self._contended and len(fires) > 1:
            salt = self._claim_salt
            fires.sort(key=lambda fire: zlib.crc32(fire.job_id.encode(), salt))
        fires = waiting + fires
        if len(fires) > limit:
            self._leftover = fires[limit:]
            fires = fires[:limit]
        try:
            if retries and hasattr(self.store, "start_retries"):
                # (Optional: a lease's pending retry now runs; one taken over is not.)
                keys = [(retry.job_id, retry.scheduled_at, retry.attempt) for retry in retries]
                starts = self.store.start_retries(keys)
                retries = [retry for retry, ok in zip(retries, starts, strict=True) if ok]
            claimed = claimed_by(self.store, list(map(_CLAIM, fires)), now) if fires else []
        except StoreError as error:
            # Nothing was claimed, so nothing runs; the fires stay due and are tried again.
            logger.error("tickwork: could not claim %d due run(s): %s", len(fires), error)
            self._core.requeue([*retries, *fires, *self._leftover])
            self._leftover = []
            self.failed(now, error, write=True)
            return
        if fires or retries:
            self.answered(write=True)
        core = self._core
        for retry in retries:
            core.commit_retry(retry, now, batch)
        lost = core.commit_claimed(fires, claimed, now, batch)
        if lost:
            self._contended = True
            self._after_lost_claims(lost, now)

    def _held_back(self, now: datetime) -> bool:
        """Whether due runs wait for this process's runs in flight to end before more
        are claimed from a shared store (see :meth:`_share_limit`)."""
        return self.shared and self._share_limit(CLAIM_POOL, now, racing=self._racing()) <= 0

    def _racing(self) -> bool:
        """Whether other processes claim the same due fires as this one: they share the
        store, and it did not split the due backlog between them. A store that splits
        it (``waiting_on_others``, optional: due jobs were left to the others) gives
        this process only its share."""
        if not self._peers:
            return False
        waiting = getattr(self._shared, "waiting_on_others", None)
        return waiting is None or not waiting()

    def _share_limit(self, limit: int, now: datetime, *, racing: bool) -> int:
        """The most due runs to claim now from a shared store, alone too, out of *limit*
        (:class:`~tickwork._pace.ClaimPace`, by this process's workers: all its
        executors' ``max_workers``; *racing*: see :meth:`_racing`). *limit* as it is
        when an executor has none (an asyncio or task queue executor: runs wait in a
        loop or a queue, not for this process's workers)."""
        workers = 0
        executors = self._executors
        if not isinstance(executors, Mapping):
            return limit
        for executor in executors.values():
            count = getattr(executor, "max_workers", None)
            if not isinstance(count, int) or count < 1:
                return limit
            workers += count
        core = self._core
        return self._pace.room(
            limit, epoch_us(now), workers, core.in_flight(), core.ended, racing=racing
        )

    def _waiting_fires(self, limit: int) -> list[FireDue]:
        """Up to *limit* fires left over from earlier claim batches that are still
        current, taken from the front of the leftovers (the rest are looked at when
        their turn comes: a pool of thousands, claimed a few dozen at a time, is not
        gone through at every step). One that another process claimed meanwhile has
        been replaced by its newer state (a new generation) and is dropped."""
        leftover = self._leftover
        if not leftover:
            return []
        current = self._core.generation
        waiting = []
        taken = 0
        for fire in leftover:
            taken += 1
            if current(fire.job_id) == fire.generation:
                waiting.append(fire)
                if len(waiting) == limit:
                    break
        self._leftover = leftover[taken:]
        return waiting

    def _after_lost_claims(self, job_ids: list[str], now: datetime) -> None:
        """Another process claimed these fires first: take the jobs as they are now.

        With a shared store, that is left to one read of everything that changed, made
        once this process's share of the backlog is done (:meth:`upkeep`): other
        processes are claiming and running the rest, and reading each change as it is
        made would cost every process the whole backlog's worth of reading. The lost
        jobs have no fire queued here until then.
        """
        if self.shared:
            self._lost_claims = True
            return
        for job_id in job_ids:
            self._reload(job_id, now)

    def _backlogged(self, now: datetime) -> bool:
        """Whether due fires wait here (planned ones left over, or due in the core), the
        window's next page is wanted, or due jobs this process left to the others (a
        backlog the store splits between processes: ``waiting_on_others``, optional)
        are not known to be claimed yet: the others' claims are read once the backlog
        is all read and done, at the poll or when the store has nothing left waiting."""
        if self._leftover or self._core.due(now):
            return True
        window = self.window
        if window is not None and window.behind(self._core.next_due()):
            return True
        waiting = getattr(self._shared, "waiting_on_others", None)
        return waiting is not None and bool(waiting())

    def _race_done(self, now: datetime) -> bool:
        """Whether claims were lost in a race for a backlog that is now done here (nothing
        left over or due): the others' changes are to be read at once."""
        return self._lost_claims and not self._backlogged(now)

    def _reload(self, job_id: str, now: datetime) -> None:
        """Take one job as the store has it now (after a lost claim)."""
        try:
            fresh: Job | None = self.store.get_job(job_id)
        except JobLookupError:
            fresh = None
        except StoreError as error:
            logger.error("tickwork: could not reload job %r: %s", job_id, error)
            self.failed(now, error)
            return
        if fresh is not None:
            fresh = self.loadable(fresh)
        self._core.refresh(fresh, job_id)

    def failed(self, now: datetime, error: StoreError, *, write: bool = False) -> None:
        """Stop dispatching until the store answers again: a run must not start without
        a claim that other processes can see. The first failure after the store last
        answered (*write*: a write failed; only a write that succeeds ends that) is
        reported with a ``STORE_ERROR`` event."""
        if self._outage is None:
            self.events.append(
                Event(kind=EventKind.STORE_ERROR, at=now, exception=error, reason=str(error))
            )
            self._outage = write
        else:
            self._outage = self._outage or write
        self.ok = False
        self.upkeep_at = now + STORE_RETRY

    def answered(self, *, write: bool) -> None:
        """The store did what it was asked (*write*: a write): an outage it ends is
        over, and the next failure is reported again."""
        if self._outage is not None and (write or not self._outage):
            self._outage = None

    # -- sharing ----------------------------------------------------------------------

    def upkeep(self, now: datetime, batch: Decision, *, running: bool) -> None:
        """Take in others' changes, look after leases; running, read a window's next page.
        A store no process shares, failing, is tried again once its retry time came."""
        if self._shared is None and not self.ok:
            # (No upkeep of its own to answer: the next claim or write tells.)
            self.ok = self.upkeep_at is None or now >= self.upkeep_at
        self._look_after_shared(now, batch, running=running)
        window = self.window
        if window is not None and running and self.ok and window.started:
            try:
                window.advance()
            except StoreError as error:
                logger.error("tickwork: could not read the next jobs due: %s", error)
                self.failed(now, error)

    def tell_dispatching(self, running: bool) -> None:
        """Tell a shared store (``dispatching``, optional) whether this process dispatches,
        and to which executors ("asyncio" too, made on first use), for its split of a due
        backlog and the runs it takes over: at start, then at each upkeep once it changed
        (paused, resumed, an executor added). Raises StoreError."""
        tell = getattr(self._shared, "dispatching", None)
        executors = self._executors
        if tell is None or not isinstance(executors, Collection):
            return
        aliases = sorted({*executors, *(("asyncio",) if self.make_asyncio else ())})
        told = (running, tuple(aliases))
        if told != self._told:
            tell(aliases if running else None)
            self._told = told

    def _look_after_shared(self, now: datetime, batch: Decision, *, running: bool) -> None:
        store = self._shared
        if store is None:
            return
        if self._outages:
            self._take_outages(now)
        refresh = getattr(store, "refresh_split", None)  # (optional: see _share)
        wanted = getattr(store, "upkeep_wanted", None)  # (optional: runs handed off)
        try:
            if running and refresh is not None and refresh():
                self.changes_pending = True  # jobs left to others are this one's
        except StoreError as error:
            logger.error("tickwork: could not read the dispatching processes: %s", error)
            self.failed(now, error)
            return
        look = self.changes_pending  # (cleared before reading: see _notified)
        if look and running and self._backlogged(now):
            # Due fires wait here (a backlog, which other processes may be claiming
            # too): the others' changes are read once it is done, in one read, not at
            # each of their notifications (each would take in every job they claimed
            # since the last, again and again). Claims stay exact meanwhile (a fire
            # another process took is lost here, not run); the poll still reads.
            look = False  # (still pending)
        else:
            self.changes_pending = False
        try:
            self.tell_dispatching(running)
            if self._race_done(now):
                self._lost_claims = False
                look = True
            if store.poll_interval is not None and (self._sync_at is None or now >= self._sync_at):
                self._sync_at = now + timedelta(seconds=store.poll_interval)
                look = True
                self.changes_pending = False  # (this read covers what was told so far)
            if look:
                self.take_changes(now, batch)
                look = False
            due = self.upkeep_at is None or now >= self.upkeep_at
            if due or (running and wanted is not None and wanted()):
                # A paused scheduler renews its own leases but takes over no one's runs:
                # it would hold them without running them.
                upkeep = store.maintain(now, take_over=running)
                self.upkeep_at = upkeep.next_at
                self._peers = upkeep.peers or 0
                for job_id, scheduled_at in upkeep.lost:
                    dropped = self._core.forget_run(job_id, scheduled_at)
                    logger.error(
                        "tickwork: lost the claim on job %r scheduled %s to another process "
                        "(this one could not renew it in time); %d waiting run(s) dropped",
                        job_id,
                        scheduled_at.isoformat(),
                        dropped,
                        extra=log_fields(job_id, scheduled_at, None),
                    )
                for taken in upkeep.taken:
                    self._take_over(taken, now, batch)
                if upkeep.taken and self._leftover:
                    # Runs taken over come due by their own times: the fires planned
                    # ahead go back to the core, to be planned again with them.
                    self._core.requeue(self._leftover)
                    self._leftover = []
                self.ok = True
                self.answered(write=False)
        except StoreError as error:
            logger.error("tickwork: store upkeep failed: %s", error)
            if look:
                self.changes_pending = True  # read them when the store answers again
            self.failed(now, error)

    def take_changes(self, now: datetime, batch: Decision) -> None:
        """Apply the jobs other processes added, changed or removed since the last look.
        The runs not started yet of a job they paused or removed are taken back from
        the executors (:attr:`withdraw`), into *batch*. Raises StoreError."""
        changed = None if self._shared is None else changes(self.window, self._shared)
        if changed is None:
            return
        jobs, removed = changed
        core = self._core
        stopped = {}
        if batch.jobs_to_save or batch.jobs_to_delete:
            jobs = batch.unwritten(jobs)  # (what this step's write leaves of them)
        for job in jobs:
            if job.paused and core.busy(job.id):
                held = core.get(job.id)
                if held is not None and not held.paused:
                    stopped[job.id] = PAUSED_BEFORE_START
            loaded = self.loadable(job)
            if loaded is None:
                core.discard(job.id)
            else:
                self.keep(loaded)
        stopped.update((job_id, REMOVED_BEFORE_START) for job_id in removed if core.busy(job_id))
        if stopped and self.withdraw is not None:
            self.withdraw(stopped, now, batch)  # (before discard forgets the runs waiting)
        for job_id in removed:
            core.discard(job_id)

    def _take_over(self, taken: Takeover, now: datetime, batch: Decision) -> None:
        """A run cut off when its process died, or a retry a process handed off: the
        core decides (as for a failed run) whether it runs again."""
        # (find: a window may have left the job in the store.)
        job = self.find(taken.job_id)
        scheduled_at = taken.scheduled_at
        if job is not None:
            # The store keeps instants; the run gets its time in the trigger's zone.
            scheduled_at = scheduled_at.astimezone(fire_zone(job.trigger))
        handed_off = taken.handed_off
        if not handed_off and job is not None and self._resends(job.executor):
            # A run out on a task queue: its worker may be running it still, or have
            # run it. It is sent again (the same attempt, so the same task id), never
            # run here; the worker's guard runs one delivery of it and answers the other
            # with its outcome.
            handed_off = True
            logger.info(
                "tickwork: re-sending the run of job %r scheduled %s (attempt %d) that "
                "process %s handed to a task queue",
                taken.job_id,
                scheduled_at.isoformat(),
                taken.attempt,
                taken.owner,
                extra=log_fields(taken.job_id, scheduled_at, taken.attempt),
            )
        warning = self._core.taken_over(
            taken.job_id,
            scheduled_at,
            taken.attempt,
            owner=taken.owner,
            dead=taken.dead,
            handed_off=handed_off,
            now=now,
            into=batch,
        )
        if warning is not None:
            extra = log_fields(taken.job_id, scheduled_at, taken.attempt)
            logger.warning("tickwork: %s", warning, extra=extra)

    def _resends(self, alias: str) -> bool:
        """Whether runs of *alias* are re-sent on takeover (``resends_on_takeover``)."""
        executors = self._executors
        executor = executors.get(alias) if isinstance(executors, Mapping) else None
        return bool(getattr(executor, "resends_on_takeover", False))

    def hand_off_retries(self, now: datetime) -> frozenset[tuple[str, int, int]]:
        """At shutdown, leave pending retries (due when they were) and runs waiting for
        a free instance (due now: a catch-up's queue) to the processes that share the
        store; return those it took, (job id, scheduled µs, attempt). The others are
        reported skipped."""
        retries = [(job_id, at, attempt, _EPOCH + timedelta(microseconds=due_us))
                   for job_id, at, attempt, due_us in self._core.pending_retries()]  # fmt: skip
        kept = self.leave(retries, now, ("pending retry", "pending retries"))
        return self.hand_off_waiting(now) | _keys(retries, kept)

    def hand_off_waiting(self, now: datetime) -> frozenset[tuple[str, int, int]]:
        """Leave the runs waiting for a free instance in a shared store, due now."""
        waiting = [(job_id, at, attempt, now) for job_id, at, attempt in self._core.waiting_runs()]
        return _keys(waiting, self.leave(waiting, now, ("run waiting for an instance", "runs")))

    def leave(self, runs: list[HandOffLike], now: datetime, nouns: tuple[str, str]) -> list[bool]:
        """At shutdown, leave *runs* (job id, scheduled time, attempt, due) to the
        processes that share the store; for each, whether the store took it (none
        without a shared store, or when it fails: logged). *nouns* name one run and
        several in the log."""
        store = self._shared
        if store is None or not runs:
            return [False] * len(runs)
        try:
            kept = store.hand_off_retries(runs, now=now)
        except StoreError as error:
            logger.error("tickwork: could not leave %s in the store: %s", nouns[1], error)
            return [False] * len(runs)
        count = sum(kept)
        if count:
            logger.info(
                "tickwork: %d %s left in the store for the next process",
                count,
                nouns[0] if count == 1 else nouns[1],
            )
        return kept

    # -- persisting -------------------------------------------------------------------

    def persist(self, decision: Decision, now: datetime) -> None:
        """Write the decision's job changes and run history to the store.

        A store that fails here (disk full, read-only) is reported; the history rows are
        kept in memory and written with a later batch.
        """
        store = self.store
        history = decision.history
        if self._unsaved:
            history[:0] = self._unsaved
            self._unsaved = []
        if not (decision.jobs_to_save or decision.jobs_to_delete or history):
            return
        try:
            if self._grouped:
                with store.transaction():
                    self._write(decision, history, now)
            else:
                self._write(decision, history, now)  # (no block that does nothing)
        except StoreError as error:
            logger.error("tickwork: could not save run results: %s", error)
            if len(history) > UNSAVED_LIMIT:
                logger.error(
                    "tickwork: %d history row(s) dropped: the store has failed for too long",
                    len(history) - UNSAVED_LIMIT,
                )
            self._unsaved = history[-UNSAVED_LIMIT:]
            self.failed(now, error, write=True)
        else:
            self.answered(write=True)
        if self._core.wants & _REMOVED:
            decision.events.extend(
                Event(
                    kind=EventKind.JOB_REMOVED, at=now, job_id=job_id, reason="no fire times left"
                )
                for job_id in decision.jobs_to_delete
            )
        decision.jobs_to_save.clear()
        decision.paused.clear()
        decision.jobs_to_delete.clear()
        decision.history = []

    def _write(self, decision: Decision, history: list[Any], now: datetime) -> None:
        """The writes of :meth:`persist` (in its transaction, if the store has them)."""
        store = self.store
        for job in decision.jobs_to_save:
            with contextlib.suppress(JobLookupError):  # removed meanwhile
                counted = _counters_onto_stored(store, job, job.id in decision.paused)
                if counted is not None:
                    store.update_job(counted, schedule=False)
        if decision.jobs_to_delete:
            # (Not one that another process has runs of, or gave a fire time since: it
            # is back with the next sync. JOB_REMOVED only for those removed.)
            remove = getattr(store, "remove_done_jobs", None)
            if remove is None:
                store.remove_jobs(decision.jobs_to_delete)
            else:
                decision.jobs_to_delete[:] = remove(decision.jobs_to_delete)
        if history:
            store.record_runs(history, now=now)


def _keys(runs: list[HandOffLike], kept: list[bool]) -> frozenset[tuple[str, int, int]]:
    """(job id, scheduled µs, attempt) of the *runs* a store *kept*."""
    return frozenset((r[0], epoch_us(r[1]), r[2]) for r, ok in zip(runs, kept, strict=True) if ok)


def _counters_onto_stored(store: JobStore, job: Job, paused_here: bool) -> Job | None:
    """The stored record of *job* with this process's counters on it (``with_counters``).

    Only those are this process's to write. The fire state (next fire, remaining runs)
    belongs to the claims, and the rest of the record may have been changed by another
    process since this one read it: a pause or a resume from the command line or
    another host, new arguments. Writing this process's copy whole would undo that.
    Read and written in the caller's transaction. Raises JobLookupError when the job is
    no longer stored; a stored row this process cannot read falls back to its own copy.
    """
    try:
        stored = store.get_job(job.id)
    except JobLookupError:
        raise
    except Exception:  # (broken for this process: its copy is all it has)
        return job
    return with_counters(stored, job, paused_here)
