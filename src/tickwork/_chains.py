"""Chains: starting a job after others (``add_job(load, after="transform")``).

Theory of operation
-------------------
A chained job names its upstream jobs in ``Job.after`` and which of their ends start
it in ``Job.on``. The store keeps the edges (a :class:`~tickwork.stores._chains.ChainStore`)
and does the bookkeeping that must survive a crash: when a run ends for good, its
history row and a *pending hand-over* row for each matching downstream job are written
in one transaction. This module is the engine's side:

* :meth:`ChainLink.ended` (for each run result the machine takes in) adds what the
  history keeps of a run for chains: its return value as JSON, and its parents' run ids.
* :meth:`ChainLink.dispatch` (after the step has persisted) claims every complete
  (downstream, slot) set, right after this process wrote the last of it or, for a
  store shared by processes, when a poll finds one another process left (it died
  right after recording its upstream run), and starts the downstream run with the
  upstream runs' nominal fire time as its ``scheduled_at``, through the core as
  ``run_job_now`` starts one (a chained run is never skipped for ``max_instances``:
  it waits its turn).
* Runs started so carry their upstream runs (``current_run().upstream``); the machine
  puts them on the runs' requests (:meth:`ChainLink.annotate`), retries included.

The graph checks (a cycle, unknown upstreams, dependants of a removed job) are pure
functions over the edges, :func:`find_cycle` and :func:`dependants`.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from ._checks import flags
from ._core import Decision, SchedulerCore
from ._errors import ChainError, JobLookupError, StoreError
from ._events import Event, EventKind
from ._instants import epoch_us
from ._model import (
    ChainOn,
    Outcome,
    RunEnd,
    RunRequest,
    RunResult,
    Upstream,
    counters_of,
    evolve,
    run_id,
)
from ._planning import ended, within_window
from .stores import JobStore
from .stores._chains import ChainStore, upstream_of
from .triggers import CronTrigger, IntervalTrigger, Trigger, UpstreamTrigger

__all__ = [
    "ChainLink",
    "Edges",
    "check_after",
    "dependants",
    "failure_handler",
    "find_cycle",
    "never_together",
    "removal_plan",
]

logger = logging.getLogger("tickwork")

_new = tuple.__new__  # (see _model.request_for)
#: Each chained job: its id -> (upstream ids, on).
Edges = Mapping[str, tuple[tuple[str, ...], ChainOn]]

_UNSET = object()
#: How often a store shared by processes is asked for hand-overs others left, when it
#: has no ``poll_interval`` of its own.
_POLL = timedelta(seconds=1)
#: How many complete sets one step claims at most.
_CLAIMS = 256


def find_cycle(edges: Edges, job_id: str, after: tuple[str, ...]) -> list[str] | None:
    """The path of the cycle that giving *job_id* the upstreams *after* would close
    (``["a", "b", "c", "a"]``: a runs after b, b after c, c after a), or None."""
    graph = {key: ups for key, (ups, _) in edges.items()}
    graph[job_id] = after
    # Depth-first from job_id along "runs after" edges; a path back to it is a cycle.
    stack: list[tuple[str, list[str]]] = [(job_id, [job_id])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for upstream in graph.get(node, ()):
            if upstream == job_id:
                return [*path, job_id]
            if upstream not in seen:
                seen.add(upstream)
                stack.append((upstream, [*path, upstream]))
    return None


def never_together(upstreams: Sequence[tuple[str, Trigger]]) -> str | None:
    """Why a fan-in after *upstreams* (id, trigger) could never run, or None: two of
    them fire on grids that never meet (a slot is one instant: a fan-in runs once every
    upstream ran for the same one). An interval trigger's grid counts from its start,
    which defaults to the moment it was made, so two added a moment apart never meet,
    nor does one off the whole second meet a cron trigger (whole seconds only)."""
    grids = [(job_id, *grid) for job_id, trigger in upstreams if (grid := _grid(trigger))]
    for index, (one, start, every, shown) in enumerate(grids):
        for other, other_start, other_every, other_shown in grids[index + 1 :]:
            if (other_start - start) % math.gcd(every, other_every):
                return (
                    f"the fire times of {one!r} ({shown}) and {other!r} ({other_shown}) never meet"
                )
    return None


def _grid(trigger: Trigger) -> tuple[int, int, str] | None:
    """The instants (µs) *trigger* can fire at, as a start and a step of a grid that
    holds them all, and how to say it; None: not known."""
    if type(trigger) is IntervalTrigger:
        return (
            epoch_us(trigger.start),
            trigger.interval // timedelta(microseconds=1),
            f"every {trigger.interval} from {trigger.start.isoformat()}",
        )
    if type(trigger) is CronTrigger:
        return 0, 1_000_000, "on whole seconds"
    return None


def dependants(edges: Edges, job_id: str) -> list[str]:
    """The jobs that run after *job_id*, sorted."""
    return sorted(key for key, (ups, _) in edges.items() if job_id in ups)


def check_after(
    edges: Edges,
    job_id: str,
    after: tuple[str, ...],
    known: Callable[[str], bool],
    *,
    store: JobStore,
    supported: bool,
) -> None:
    """Refuse upstreams *after* for job *job_id*: the store keeps no chains, an
    upstream is no job (*known* says; an ``add_jobs`` batch counts its own ids), or a
    cycle would close (the path in the message)."""
    if not after:
        return
    if not supported:
        raise TypeError(
            f"job {job_id!r}: after= needs a store that keeps chains (MemoryStore, "
            f"SQLiteStore); {type(store).__name__} does not"
        )
    for upstream in after:
        if upstream != job_id and not known(upstream):
            raise JobLookupError(
                f"job {job_id!r} runs after {upstream!r}, which is no job: add {upstream!r} "
                "first, or both in one add_jobs call"
            )
    cycle = find_cycle(edges, job_id, after)
    if cycle is not None:
        # Written in the order runs go (each one runs after the one before it).
        path = " -> ".join(reversed(cycle))
        raise ChainError(f"job {job_id!r} after {list(after)!r} would close a cycle: {path}")


def removal_plan(
    edges: Edges,
    job_id: str,
    *,
    cascade: bool,
    detach: bool,
    has_trigger: Callable[[str], bool] = lambda _: True,
) -> tuple[list[str], list[tuple[str, tuple[str, ...]]]]:
    """What removing *job_id* takes, worked out to the end before anything changes:
    (the jobs to remove, each before the jobs it runs after, ending with *job_id*; the
    jobs that stay and lose upstreams, each with the upstreams it keeps).

    With *detach*, a dependant left with no upstream that has no trigger of its own
    (*has_trigger* says) could never run again: it goes too, and so on down the graph.
    A job after several of the jobs that go loses them all at once (a diamond: ``b``
    after ``a``, ``c`` after ``a`` and ``b``; removing ``a`` removes ``b``, and ``c``
    loses both).

    Raises ``ChainError`` naming the dependants when there are some and neither
    *cascade* nor *detach* is asked for."""
    flags(cascade=cascade, detach=detach)
    if cascade and detach:
        raise TypeError("give cascade=True or detach=True, not both")
    direct = dependants(edges, job_id)
    if not direct:
        return [job_id], []
    if not cascade and not detach:
        raise ChainError(
            f"job {job_id!r} cannot be removed: {', '.join(map(repr, direct))} run(s) after "
            "it; pass cascade=True to remove them too, or detach=True to keep them without it"
        )
    after: dict[str, list[str]] = {}  # each job -> the jobs that run after it
    for other, (ups, _) in sorted(edges.items()):
        for up in ups:
            after.setdefault(up, []).append(other)
    # To a fixed point: each job that goes can leave another with nothing to start it
    # (checked when the last of its upstreams goes).
    gone = {job_id}
    todo = [job_id]
    while todo:
        for other in after.get(todo.pop(), ()):
            if other in gone:
                continue
            if cascade or (gone.issuperset(edges[other][0]) and not has_trigger(other)):
                gone.add(other)
                todo.append(other)
    kept = [
        (other, tuple(up for up in ups if up not in gone))
        for other, (ups, _) in sorted(edges.items())
        if other not in gone and not gone.isdisjoint(ups)
    ]
    return _downstream_first(edges, after, gone), kept


def _downstream_first(edges: Edges, after: Mapping[str, list[str]], ids: set[str]) -> list[str]:
    """*ids* in an order where each job comes before the jobs it runs after (ties by
    id), from *edges* and the jobs that run *after* each: the one they all run after
    comes last."""
    # Kahn's sort, from the far end: a job is free once no job left runs after it.
    waiting = {job_id: sum(other in ids for other in after.get(job_id, ())) for job_id in ids}
    free = [job_id for job_id, count in waiting.items() if not count]
    heapq.heapify(free)
    order: list[str] = []
    while free:
        job_id = heapq.heappop(free)
        order.append(job_id)
        for up in edges[job_id][0] if job_id in edges else ():
            if up in waiting:
                waiting[up] -= 1
                if not waiting[up]:
                    heapq.heappush(free, up)
    if len(order) < len(ids):  # (only in a cycle, which add_job refuses)
        order += sorted(ids.difference(order))
    return order


def failure_handler(job_id: str, handler: object, exists: Callable[[str], bool]) -> str | None:
    """For ``add_job(..., on_failure=handler)``: the id of an existing job that becomes
    the handler (*handler* is a job id), or None when *handler* is a function (or a
    ``"module:function"`` reference) for a new job ``"<job_id>.on_failure"``."""
    if isinstance(handler, str):
        if ":" not in handler:
            if not exists(handler):
                raise JobLookupError(
                    f"job {job_id!r}: on_failure={handler!r} is no job id nor a "
                    "'module:function' reference"
                )
            return handler
        return None
    if not callable(handler):
        raise TypeError(
            f"job {job_id!r}: on_failure must be a function, a 'module:function' "
            f"reference or a job id, got {handler!r}"
        )
    return None


class ChainLink:
    """The engine's side of chains (see the module docstring). Not thread-safe: the
    machine calls it with its lock held."""

    def __init__(
        self,
        store: JobStore,
        core: SchedulerCore,
        find: Callable[[str], object],
        shared: bool,
        executors: Mapping[str, object],
    ) -> None:
        self.store = store
        self._executors = executors
        # A store shared by processes is asked for hand-overs that others left (a
        # process that died) at the pace it is polled for changes.
        poll = getattr(store, "poll_interval", None)
        self._poll = _POLL if not poll else timedelta(seconds=poll)
        self.chains: ChainStore | None = None
        if isinstance(store, ChainStore) and callable(getattr(store, "claim_chain", None)):
            self.chains = store
        self._core = core
        self._find = find
        self._shared = shared
        # Upstream job ids with downstream jobs, as last read: a run of one of them
        # makes this process look for complete sets at once.
        self._upstreams: frozenset[str] | None = None
        #: Whether no job is started after others, as last read (False until read): the
        #: end of a run then starts nothing. Any thread may read it (racily).
        self.unchained = self.chains is None
        # Upstream runs of chained runs started here, by (job id, slot us), until the
        # run (with its retries) is over.
        self.contexts: dict[tuple[str, int], Mapping[str, Upstream]] = {}
        self._look = False
        self._poll_at: datetime | None = None
        # Upstream jobs removed as done firing (by this process, or found missing at a
        # claim), whose dependants lose them at the next dispatch (with those the core
        # retired: SchedulerCore.retired); and dependants left with no upstream, to
        # retire once their runs end.
        self._gone: list[str] = []
        self._orphans: set[str] = set()
        # Whether the first dispatch has looked for upstreams missing from the store (a
        # program that stopped before it detached their dependants).
        self._swept = False

    # -- the graph --------------------------------------------------------------------

    def edges(self) -> dict[str, tuple[tuple[str, ...], ChainOn]]:
        """The chained jobs' edges as the store has them (empty without chain support)."""
        return {} if self.chains is None else self.chains.chain_edges()

    def changed(self) -> None:
        """A job was added, changed or removed: read the edges again when next needed."""
        self._upstreams = None
        self.unchained = self.chains is None

    def _upstream_ids(self) -> frozenset[str]:
        if self._upstreams is None:
            self._upstreams = frozenset(up for ups, _ in self.edges().values() for up in ups)
            self.unchained = not self._upstreams
        return self._upstreams

    def is_upstream(self, job_id: str) -> bool:
        """Whether *job_id* may have downstream jobs (True while the edges are not read
        yet). Any thread: it reads no store."""
        ids = self._upstreams
        return self.chains is not None and (ids is None or job_id in ids)

    def watching(self) -> bool:
        """Whether the end of a run may start others: some job is started after others
        (the edges read from the store when not read yet; lock held). When not, a run
        that returned None and was started by no upstream needs no :meth:`ended`."""
        return self.chains is not None and bool(self._upstream_ids())

    def removed(self, job_id: str) -> None:
        """The scheduler removed *job_id* on its own (resumed with no fire time left):
        the jobs after it lose it at the next dispatch."""
        if self.is_upstream(job_id):
            self._gone.append(job_id)
            self._look = True

    @property
    def pending(self) -> bool:
        """Whether a run that may start downstream runs ended since the last dispatch (or
        a job others run after was retired)."""
        return self._look or (bool(self._core.retired) and self.chains is not None)

    # -- runs that ended --------------------------------------------------------------

    def ended(self, result: RunResult, batch: Decision) -> None:
        """Add the return value and parent ids to the history row of *result* (the
        last one the core added to *batch*), and note a hand-over to look for."""
        request = result.request
        upstream = request.upstream
        value = result.return_value
        history = batch.history
        if not history:
            return
        end = history[-1]
        if end.job_id != request.job_id or end.attempt != request.attempt:
            return
        if value is not None or upstream is not None:
            # (Kept as it is: a store that writes it encodes it, so a store in memory
            # pays nothing per run.)
            returned = value if result.outcome is Outcome.SUCCESS else None
            parents = tuple(up.run_id for up in upstream.values()) if upstream else ()
            history[-1] = _new(RunEnd, (*end[:9], returned, parents))
        if end.final:
            if upstream is not None:
                self.contexts.pop((request.job_id, epoch_us(request.scheduled_at)), None)
                if request.job_id in self._orphans:
                    self._look = True  # (to retire it, if that was its last run)
            if self.chains is not None and request.job_id in self._upstream_ids():
                self._look = True
                if request.job_id not in self._core:  # (done firing: its record goes)
                    self._gone.append(request.job_id)

    def annotate(self, runs: list[tuple[str, RunRequest]]) -> list[tuple[str, RunRequest]]:
        """*runs* with the upstream runs put on the requests of chained runs."""
        contexts = self.contexts
        out = []
        for executor, request in runs:
            if request.upstream is None:
                found = contexts.get((request.job_id, epoch_us(request.scheduled_at)))
                if found is not None:
                    # (It waited for its upstream runs: no grace counts from its slot.)
                    request = request._replace(upstream=found, misfire_grace=None)
            out.append((executor, request))
        return out

    def leave(
        self, runs: Sequence[tuple[str, datetime, int, object]], now: datetime
    ) -> frozenset[tuple[str, int, int]]:
        """At shutdown (or pause), with a store shared by processes: give the
        hand-overs of the chained runs among *runs* (job id, scheduled time, attempt,
        and a due time not read: runs never started, waiting for a free instance or to
        retry) back to the store, so that the next process to claim them (or this
        program's next start) runs them with their upstream runs, from the first
        attempt; returns their keys (job id, scheduled µs, attempt). A store that fails
        is logged, and those runs are treated as not given back."""
        release = getattr(self.chains, "release_chain", None)
        if not self._shared or release is None or not self.contexts:
            return frozenset()
        left = set()
        for job_id, scheduled_at, attempt, _ in runs:
            key = (job_id, epoch_us(scheduled_at))
            upstream = self.contexts.get(key)
            if upstream is None:
                continue
            try:
                if not release(job_id, scheduled_at, upstream, now=now):
                    continue
            except StoreError as error:
                logger.error("tickwork: could not leave a chained run to others: %s", error)
                continue
            del self.contexts[key]
            left.add((job_id, key[1], attempt))
        if left:
            logger.info(
                "tickwork: %d chained run(s) left in the store for the next process", len(left)
            )
        return frozenset(left)

    # -- starting downstream runs -----------------------------------------------------

    def due(self, now: datetime) -> bool:
        """Whether :meth:`dispatch` has anything to look for at *now*."""
        if self.chains is None:
            return False
        if self._look or self._core.retired:
            return True
        return self._shared and (self._poll_at is None or now >= self._poll_at)

    def dispatch(self, now: datetime, batch: Decision) -> None:
        """Claim the complete hand-overs and start their downstream runs (into *batch*)."""
        chains = self.chains
        if chains is None:
            return
        if self._shared and not self._look:
            # A poll: other processes may have chained jobs since the edges were read.
            self._upstreams = None
        self._look = False
        if self._shared:
            self._poll_at = now + self._poll
        for downstream, slot in chains.ready_chains(limit=_CLAIMS):
            self._find(downstream)  # (loaded into the core if it was not there)
            job = self._core.get(downstream)
            if job is None or job.executor not in self._executors:
                # Not this process's to run: removed, broken, or for an executor only
                # other processes have (they claim it).
                continue
            rows = chains.claim_chain(downstream, slot, now=now)
            if rows is None:
                continue  # another process was first
            slot = rows[0].slot if rows else slot
            upstream = upstream_of(rows)
            # An upstream removed meanwhile (here or by another process that stopped
            # before it detached this job): detached once this run is started.
            self._gone += [up for up in job.after if up not in self._core and not self._stored(up)]
            if job.paused:
                reason = "the job is paused"
                self._core.skipped(batch, downstream, slot, 1, now, reason)
                continue
            if not within_window(job, slot):
                reason = "its slot is outside the job's start and end"
                self._core.skipped(batch, downstream, slot, 1, now, reason)
                if ended(job, slot):  # (no upstream run can start it again)
                    self._core.retire(downstream, batch)
                continue
            self.contexts[(downstream, epoch_us(slot))] = upstream
            part = self._core.run_now(downstream, slot, now)
            batch.runs_to_start.extend(part.runs_to_start)
            batch.events.extend(part.events)
            logger.debug(
                "tickwork: job %r starts after %s",
                downstream,
                ", ".join(run_id(up.job_id, slot, 1) for up in upstream.values()),
            )
        if not self._swept:
            self._swept = True
            ups = self._upstream_ids()
            self._gone += [up for up in ups if up not in self._core and not self._stored(up)]
        if self._gone or self._core.retired or self._orphans:
            self._detach_gone(now, batch)

    def _detach_gone(self, now: datetime, batch: Decision) -> None:
        """The jobs that ran after upstream jobs removed by a scheduler (done firing, or
        retired past their end) lose them, as ``remove_job(id, detach=True)`` has it:
        each keeps its other upstreams. One left with neither an upstream nor a trigger
        of its own could never run again: it is done, removed once its runs end (its
        ``after`` kept until then: a hand-over of it given back at shutdown still
        joins), and the jobs after it lose it in turn. (Its last hand-overs were claimed
        above, before its upstream went.)"""
        core = self._core
        for orphan in list(self._orphans):
            self._find(orphan)  # (a window lets an idle job go)
            if orphan not in core or core.retire(orphan, batch, paused_too=True):
                self._orphans.discard(orphan)
        # (Ids the core retired are gone with this step's write: not looked up.)
        gone = [(job_id, True) for job_id in self._gone]
        self._gone = []
        edges = None
        while gone or core.retired:
            gone += [(job_id, False) for job_id in core.retired]
            core.retired.clear()
            upstream, look = gone.pop()
            if look and (upstream in core or self._stored(upstream)):
                continue  # (added again, or another process still holds a run of it)
            edges = self.edges() if edges is None else edges
            for other in dependants(edges, upstream):
                self._find(other)
                job = core.get(other)
                if job is None or upstream not in job.after:
                    continue
                ups = tuple(up for up in job.after if up != upstream)
                if not ups and isinstance(job.trigger, UpstreamTrigger):
                    # (Paused too: no upstream is left to resume it for.)
                    if not core.retire(other, batch, paused_too=True):
                        self._orphans.add(other)  # (retired once its runs end)
                    continue
                try:
                    job = evolve(counters_of(job, self.store.get_job(other)), after=ups)
                except JobLookupError:
                    continue
                self.store.update_job(job, schedule=False)
                core.put(job)
                edges = {**edges, other: (ups, job.on)}
                batch.events.append(
                    Event(
                        kind=EventKind.JOB_MODIFIED,
                        at=now,
                        job_id=other,
                        scheduled_at=job.next_fire,
                        reason=f"its upstream {upstream!r} is gone",
                    )
                )
        self.changed()

    def _stored(self, job_id: str) -> bool:
        """Whether the store holds *job_id* (a broken record counts: it is no upstream
        gone, only one that cannot be read)."""
        try:
            self.store.get_job(job_id)
        except JobLookupError:
            return job_id in self.store.broken_jobs()
        return True
