"""Jobs started by events: what ``scheduler.emit(name, payload)`` sets going.

Theory of operation. An event is matched against the jobs the core holds whose trigger
is (or, in an ``OrTrigger``, contains) an :class:`~tickwork.triggers.EventTrigger` of
its name. For each job that passes the trigger's filter, the trigger's policy decides:

* plain: run now;
* ``throttle``: run now unless the job ran from an event less than *throttle* ago (then
  the event is dropped for that job);
* ``debounce``: (re)start the job's quiet period; when it ends, run once with the last
  event (earlier events of the burst are dropped).

A run is an extra run of the job (``SchedulerCore.run_now``) whose ``scheduled_at`` is
the event's ``emitted_at`` (unique per event in this process: see :meth:`EventRouter.
stamp`; in a store of events, among all its processes: ``stores/_eventlog.py``, rule
*Apart*), moved on a microsecond at a time while it is a fire time of the job's own or
an instant this process gave another run of the job (:class:`_Given`): ``(job id,
scheduled_at)`` names one run. The event itself rides on the run request
(``RunRequest.event``), added when the request is handed to its executor
(:meth:`EventRouter.attach`), so runs that waited for ``max_instances`` and retries
carry it too.

With a store that is an :class:`~tickwork.stores._eventlog.EventLog` (SQLite,
PostgreSQL) every event is written before ``emit`` returns, with the (job, event)
slots this process takes in the same transaction: a slot is the "once" of "exactly
once" among processes. Slots are marked done when their runs end; other processes poll
(every ``poll_interval``, at once on a PostgreSQL notification) for events nobody
handled (written by ``tickwork emit``, or while no scheduler ran) and for slots of dead
processes, which they take over and run. With a memory store, events live in memory.

Debounce and throttle state is kept by the process that handles the events, in memory.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import secrets
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from ._core import SchedulerCore
from ._decision import Decision
from ._errors import SerializationError, StoreError
from ._instants import EPOCH as _EPOCH
from ._model import EmittedEvent, Job, RunEnd, RunRequest
from ._planning import ended, epoch_us, next_job_fire, within_window
from ._serialize import fire_zone
from ._tz import in_zone
from .stores import EventLog, JobStore
from .stores._eventlog import EventSlot
from .triggers.event import EventTrigger, _check_name, event_names, event_triggers

__all__ = ["EventRouter", "encode_payload"]

logger = logging.getLogger("tickwork")

#: Events read from the store per poll.
POLL_LIMIT = 1000


def encode_payload(name: str, payload: object) -> tuple[str, Any]:
    """*payload* as JSON text and as JSON gives it back (the form every process sees).

    Raises:
        TypeError, ValueError: *name* is not a valid event name.
        SerializationError: *payload* is not JSON data; the message names the event and
            what could not be encoded.
    """
    _check_name(name)
    try:
        text = json.dumps(payload, separators=(",", ":"), allow_nan=False)
        # (json.dumps turns keys 1, None, True into "1", "null", "true": a payload that
        # came back changed, or with two keys made one, would be a silent loss.)
        if isinstance(payload, (dict, list, tuple)):
            _check_keys(payload)
    except (TypeError, ValueError) as error:
        raise SerializationError(
            f"event {name!r}: payload {payload!r} is not JSON data (dicts with str keys, "
            f"lists, str, numbers, bool, None): {error}"
        ) from None
    except RecursionError:  # (not shown: its repr would recurse as deep)
        raise SerializationError(
            f"event {name!r}: payload is nested too deep to store (a {type(payload).__name__} "
            "holding containers hundreds of levels deep)"
        ) from None
    return text, json.loads(text)


def _check_keys(payload: dict[Any, Any] | list[Any] | tuple[Any, ...]) -> None:
    """Raise ``TypeError`` naming the first dict key in *payload* that is not a str
    (*payload* encodes as JSON: it holds no cycle)."""
    stack: list[object] = [payload]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if not isinstance(key, str):
                    raise TypeError(f"key {key!r} is {type(key).__name__}, not str")
                stack.append(value)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


class _Ids:
    """Event ids: 64 random bits drawn once per process (again in a forked child, which
    would otherwise repeat its parent's ids), then a counter. A random id per event
    would cost a system call each."""

    def __init__(self) -> None:
        self.renew()

    def renew(self) -> None:
        self.prefix = secrets.token_hex(8)
        self.count = itertools.count(1)


_ids = _Ids()
if hasattr(os, "register_at_fork"):  # (not on Windows)
    os.register_at_fork(after_in_child=_ids.renew)


class _Given:
    """The instants this process gave runs of each job that are not fires of its trigger
    (event runs, ``run_job_now``), so that no two of them, and none of them and a fire,
    share one: an event run moved a microsecond off a fire may land on the instant
    another event of the job had, and that run may have ended already (it is no longer
    among the runs pending).

    The newest :data:`KEEP` instants of each job are kept: a clash is with an instant a
    few microseconds away, given at about the same time (events are handled in the
    order they were emitted; only those taken over from a dead process come late).
    """

    KEEP = 256

    def __init__(self) -> None:
        self._by_job: dict[str, set[int]] = {}

    def __contains__(self, key: tuple[str, int]) -> bool:
        given = self._by_job.get(key[0])
        return given is not None and key[1] in given

    def add(self, job_id: str, at_us: int, jobs: SchedulerCore) -> None:
        """Note *at_us* as given to a run of *job_id* (*jobs*: to forget jobs gone)."""
        given = self._by_job.get(job_id)
        if given is None:
            if len(self._by_job) > 2 * len(jobs) + 64:
                self._by_job = {
                    key: kept for key, kept in self._by_job.items() if jobs.get(key) is not None
                }
            given = self._by_job[job_id] = set()
        given.add(at_us)
        if len(given) > 2 * self.KEEP:
            newest = sorted(given)[-self.KEEP :]
            given.clear()
            given.update(newest)


class EventRouter:
    """Matches emitted events to jobs and starts their runs (see the module docstring).

    Not thread-safe by itself: the engine calls it under its lock.
    """

    def __init__(self, core: SchedulerCore, store: JobStore) -> None:
        self._core = core
        self._log: EventLog | None = store if isinstance(store, EventLog) else None
        interval = getattr(store, "poll_interval", None)
        self._poll_every = timedelta(seconds=interval if isinstance(interval, float) else 1.0)
        self._poll_at: datetime | None = None
        self._last_us = 0
        self._given = _Given()
        self._index: dict[str, list[str]] | None = None
        self._indexed = -1
        #: (job id, scheduled instant) -> the event and its slot, for runs to carry it.
        self.pending: dict[tuple[str, int], tuple[EmittedEvent, EventSlot]] = {}
        # job id -> (due instant, event, slot) of a debounced run not started yet.
        self._debounced: dict[str, tuple[int, EmittedEvent, EventSlot]] = {}
        # job id -> until when (instant) its throttle drops events.
        self._throttled: dict[str, int] = {}
        # Slots whose runs ended, to mark done when the history is next written (or at
        # the next upkeep).
        self._finished: list[EventSlot] = []
        # Slots of events a debounce dropped (a later event of the burst took over):
        # marked done at once (see _drop_superseded).
        self._superseded: list[EventSlot] = []
        # Events emitted while not running, with no store to keep them.
        self._waiting: deque[EmittedEvent] = deque()
        #: Set (from any thread) when the store told of new events.
        self.notified = False

    def quiet(self) -> bool:
        """Whether a step has nothing to do here: no store of events to poll, no
        debounced run or kept event, no event run going or ended (:meth:`upkeep`,
        :meth:`ended`, :meth:`flush` and :meth:`next_at` would do nothing)."""
        return self._log is None and not (
            self.pending or self._debounced or self._waiting or self._finished or self._superseded
        )

    def invalidate(self) -> None:
        """Jobs changed: look their triggers up again at the next event."""
        self._index = None

    def stamp(self, now: datetime) -> datetime:
        """When an event emitted at *now* was emitted: *now* in UTC, moved on by a
        microsecond if an earlier event of this process had that instant (its runs'
        ``scheduled_at`` then differ, as runs of distinct fires must)."""
        now_us = max(epoch_us(now), self._last_us + 1)
        self._last_us = now_us
        return _EPOCH + timedelta(microseconds=now_us)

    def run_instant(self, job: Job, now: datetime) -> datetime:
        """The ``scheduled_at`` of a run asked for at *now* (``run_job_now``): *now*,
        moved on by a microsecond while an earlier such run or event of this process
        had that instant (two calls within one microsecond, as under a fake clock), or
        while it is a fire time of the job's own: (job id, scheduled_at) names one run,
        and its ``run_id`` is made from them."""
        now_us = epoch_us(now)
        at_us = self._free(job.id, job, max(now_us, self._last_us + 1))
        self._last_us = max(self._last_us, at_us)
        at = now if at_us == now_us else _EPOCH + timedelta(microseconds=at_us)
        return in_zone(at, fire_zone(job.trigger))  # (as the job's own fires are written)

    def _free(self, job_id: str, job: Job | None, at_us: int) -> int:
        """The first instant from *at_us* on that is neither a fire time of *job* (of id
        *job_id*; None: gone) nor one this process gave another run of it, now given."""
        pending, given = self.pending, self._given
        while (
            (job_id, at_us) in given
            or (job_id, at_us) in pending
            or (job is not None and _fires_at(job, at_us))
        ):
            at_us += 1
        given.add(job_id, at_us, self._core)
        return at_us

    def new_event(self, name: str, payload: Any, now: datetime) -> EmittedEvent:
        """The record of an event emitted at *now*."""
        return EmittedEvent(
            id=f"{_ids.prefix}{next(_ids.count):016x}",
            name=name,
            payload=payload,
            emitted_at=self.stamp(now),
        )

    # -- matching -------------------------------------------------------------------

    def _listeners(self, name: str) -> list[str]:
        core = self._core
        if self._index is None or self._indexed != len(core):
            index: dict[str, list[str]] = {}
            for job in core.jobs():
                for trigger in event_triggers(job.trigger):
                    ids = index.setdefault(trigger.name, [])
                    if job.id not in ids:
                        ids.append(job.id)
            self._index = index
            self._indexed = len(core)
        return self._index.get(name, [])

    def _matching(self, event: EmittedEvent, decision: Decision) -> list[tuple[Job, EventTrigger]]:
        """The jobs *event* runs, each with the trigger of that name whose filter took it.
        A job ignores an event emitted outside its [start, end]; one whose end has
        passed is done (removed, once idle)."""
        found: list[tuple[Job, EventTrigger]] = []
        for job_id in self._listeners(event.name):
            job = self._core.get(job_id)
            if job is None or job.paused:
                continue
            bounded = job.start is not None or job.end is not None
            if bounded and not within_window(job, event.emitted_at):
                if ended(job, event.emitted_at) and job.next_fire is None:
                    self._core.retire(job_id, decision)
                continue
            for trigger in event_triggers(job.trigger):
                if trigger.name != event.name:
                    continue
                try:
                    passed = trigger.matches(event.payload)
                except Exception:  # a user's filter can raise anything
                    logger.exception(
                        "tickwork: the filter of job %r raised on event %r (%s); the job "
                        "does not run for it",
                        job.id,
                        event.name,
                        event.id,
                    )
                    continue
                if passed:
                    found.append((job, trigger))
                    break
        return found

    def _wanted(
        self, event: EmittedEvent, now: datetime, decision: Decision
    ) -> list[tuple[Job, EventTrigger]]:
        """The matching jobs whose throttle lets *event* through."""
        wanted = []
        now_us = epoch_us(now)
        for job, trigger in self._matching(event, decision):
            if trigger.throttle is not None:
                until = self._throttled.get(job.id)
                if until is not None and now_us < until:
                    logger.debug("tickwork: job %r throttled: event %s dropped", job.id, event.id)
                    continue
                self._throttled[job.id] = now_us + _us(trigger.throttle)
            wanted.append((job, trigger))
        return wanted

    # -- handling ---------------------------------------------------------------------

    def emit(
        self, event: EmittedEvent, now: datetime, decision: Decision, *, running: bool
    ) -> EmittedEvent:
        """Handle (or, when not *running*, keep) a new event: written to the store
        first when the store keeps events. Returns it as it was written (the store
        may have moved its ``emitted_at`` on: ``stores/_eventlog.py``, rule *Apart*)."""
        if not running:
            if self._log is not None:
                return self._stored(self._log.record_event(event, (), handled=False, now=now))[0]
            self._waiting.append(event)
            return event
        # Events kept while not running (emitted before start) go first: throttle and
        # debounce take events in the order they were emitted.
        while self._waiting:
            kept = self._waiting.popleft()
            wanted = self._wanted(kept, now, decision)
            self._start(kept, wanted, [True] * len(wanted), now, decision)
        if self._log is not None and self._poll_at is None:
            self._poll_at = now + self._poll_every
            self._poll(self._log, now, decision)  # (the first look since start)
        wanted = self._wanted(event, now, decision)
        slots = [(job.id, event.id) for job, _ in wanted]
        if self._log is not None:
            event, taken = self._stored(self._log.record_event(event, slots, handled=True, now=now))
        else:
            taken = [True] * len(slots)
        self._start(event, wanted, taken, now, decision)
        self._drop_superseded(now)
        return event

    def _stored(self, recorded: tuple[EmittedEvent, list[bool]]) -> tuple[EmittedEvent, list[bool]]:
        """*recorded* (the event as the store wrote it, and the slots taken), noting
        that this process's next events are stamped after it."""
        self._last_us = max(self._last_us, epoch_us(recorded[0].emitted_at))
        return recorded

    def _start(
        self,
        event: EmittedEvent,
        wanted: Sequence[tuple[Job, EventTrigger]],
        taken: Sequence[bool],
        now: datetime,
        decision: Decision,
    ) -> None:
        for (job, trigger), won in zip(wanted, taken, strict=True):
            if not won:
                continue
            slot = (job.id, event.id)
            if trigger.debounce is not None:
                self._debounce(job.id, trigger.debounce, event, slot, now)
                continue
            self.run(job.id, event, slot, now, decision)

    def _debounce(
        self, job_id: str, quiet: timedelta, event: EmittedEvent, slot: EventSlot, now: datetime
    ) -> None:
        """(Re)start the job's quiet period: it runs once it ends, with the newest event
        of the burst; the other's slot is dropped (superseded: never runs)."""
        due = epoch_us(now) + _us(quiet)
        before = self._debounced.get(job_id)
        if before is not None and before[1].emitted_at > event.emitted_at:
            # (Events taken over from a dead process come in any order.)
            event, slot, self._superseded = before[1], before[2], [*self._superseded, slot]
        elif before is not None:
            self._superseded.append(before[2])
        self._debounced[job_id] = (due, event, slot)

    def _drop_superseded(self, now: datetime) -> None:
        """Mark the slots of events a debounce dropped done now, not at the next upkeep:
        a process killed meanwhile left them open, and the process that took them over
        ran the job once for every event of the burst. Raises StoreError, keeping them
        for the next upkeep."""
        self._mark_done(self._superseded, now)

    def _mark_done(self, slots: list[EventSlot], now: datetime) -> None:
        """Mark *slots* done in the store, then empty the list (kept as it is when the
        store raises, for the next try)."""
        if slots and self._log is not None:
            self._log.finish_event_runs(list(slots), now=now)
        slots.clear()

    def run(
        self, job_id: str, event: EmittedEvent, slot: EventSlot, now: datetime, decision: Decision
    ) -> None:
        """Start a run of *job_id* for *event* (it waits if the job is at max_instances)."""
        # The run's scheduled_at is the event's emitted_at, moved on by a microsecond
        # while it is a fire time of the job's own (an OrTrigger's time side, a
        # run_immediately) or an instant this process gave another run of the job (an
        # event's moved off a fire, a run_job_now; events of a store that predates its
        # rule Apart may share one too): it is the key the run finds its event by,
        # and (job id, scheduled_at) names one run.
        at_us = self._free(job_id, self._core.get(job_id), epoch_us(event.emitted_at))
        scheduled_at = (
            event.emitted_at
            if at_us == epoch_us(event.emitted_at)
            else _EPOCH + timedelta(microseconds=at_us)
        )
        part = self._core.run_now(job_id, scheduled_at, now)
        if not part.runs_to_start and not self._core.busy(job_id):
            # The job is gone: its slot is done, nothing will run.
            self._finished.append(slot)
            return
        self.pending[(job_id, at_us)] = (event, slot)
        decision.runs_to_start += part.runs_to_start
        decision.events += part.events

    def attach(self, runs: list[tuple[str, RunRequest]]) -> None:
        """Give the runs that belong to events their event (before they are submitted)."""
        pending = self.pending
        for index, (alias, request) in enumerate(runs):
            found = pending.get((request.job_id, epoch_us(request.scheduled_at)))
            if found is not None and request.event is None:
                runs[index] = (alias, request._replace(event=found[0], misfire_grace=None))

    def ended(self, history: Sequence[RunEnd]) -> None:
        """Note the event runs among *history* that are over (no attempt follows)."""
        pending = self.pending
        for end in history:
            if end.final:
                found = pending.pop((end.job_id, epoch_us(end.scheduled_at)), None)
                if found is not None:
                    self._finished.append(found[1])

    # -- upkeep -----------------------------------------------------------------------

    def flush(self, now: datetime) -> None:
        """Mark the slots of runs that ended done in the store (right after their
        history is written: a process that dies between the two would have its
        finished run taken over and run again). Raises StoreError, keeping them."""
        self._mark_done(self._finished, now)

    def upkeep(self, now: datetime, decision: Decision, *, running: bool) -> None:
        """Start due debounced runs, take in events from the store (or kept while not
        running), and mark finished slots done. Store errors propagate (the caller
        reports them; nothing is lost: the rows stay for the next try)."""
        log = self._log
        self.flush(now)
        self._drop_superseded(now)
        if not running:
            return
        if self._debounced:
            now_us = epoch_us(now)
            for job_id, (due, event, slot) in list(self._debounced.items()):
                if due <= now_us:
                    del self._debounced[job_id]
                    if self._still_wanted(job_id, event):
                        self.run(job_id, event, slot, now, decision)
                    else:
                        self._finished.append(slot)  # (dropped: done, never run)
        while self._waiting:
            event = self._waiting.popleft()
            wanted = self._wanted(event, now, decision)
            self._start(event, wanted, [True] * len(wanted), now, decision)
        if log is not None and (self.notified or self._poll_at is None or now >= self._poll_at):
            self.notified = False
            self._poll_at = now + self._poll_every
            self.invalidate()  # other processes' job changes came in by polling too
            self._poll(log, now, decision)

    def _poll(self, log: EventLog, now: datetime, decision: Decision) -> None:
        for job_id, event in log.orphaned_event_runs(now=now):
            logger.info(
                "tickwork: took over the run of job %r for event %r (%s) of a dead process",
                job_id,
                event.name,
                event.id,
            )
            quiet = self._debounce_of(job_id, event.name)
            if quiet is not None:  # (a burst it left: run once, with its newest event)
                self._debounce(job_id, quiet, event, (job_id, event.id), now)
            else:
                self.run(job_id, event, (job_id, event.id), now, decision)
        self._drop_superseded(now)
        events = log.unhandled_events(limit=POLL_LIMIT)
        if not events:
            return
        plans = [(event, self._wanted(event, now, decision)) for event in events]
        slots = [(job.id, event.id) for event, wanted in plans for job, _ in wanted]
        taken = iter(log.claim_event_runs(slots, [event.id for event in events], now=now))
        for event, wanted in plans:
            self._start(event, wanted, [next(taken) for _ in wanted], now, decision)
        if len(events) == POLL_LIMIT:
            self._poll_at = now  # more to read: at the next step

    def _still_wanted(self, job_id: str, event: EmittedEvent) -> bool:
        """Whether a debounced run of *job_id* for *event* still runs when its wait ends:
        not if the job was paused meanwhile (a paused job ignores events) or no longer
        listens for events of that name (``reschedule_job``). A job gone is left to
        :meth:`run`."""
        job = self._core.get(job_id)
        if job is None:
            return True
        if job.paused or event.name not in event_names(job.trigger):
            logger.debug("tickwork: job %r no longer runs for event %s", job_id, event.id)
            return False
        return True

    def _debounce_of(self, job_id: str, name: str) -> timedelta | None:
        """The debounce of the job's trigger for events *name*, or None."""
        job = self._core.get(job_id)
        if job is None:
            return None
        for trigger in event_triggers(job.trigger):
            if trigger.name == name:
                return trigger.debounce
        return None

    def leave_runs(
        self, runs: Sequence[tuple[str, datetime, int, object]], now: datetime
    ) -> frozenset[tuple[str, int, int]]:
        """At shutdown (or pause): give back the slots of the event runs among *runs*
        (job id, scheduled time, attempt, and a due time not read: pending retries, runs
        waiting for a free instance, runs their executor never started), so that another
        process (or the next start) runs their events, from their first attempt; returns
        their keys (job id, scheduled µs, attempt), which are not reported. A store that
        fails is logged, and those runs are reported as if not given back."""
        if self._log is None:
            return frozenset()
        left, slots = [], []
        for job_id, scheduled_at, attempt, _ in runs:
            found = self.pending.get((job_id, epoch_us(scheduled_at)))
            if found is not None:
                left.append((job_id, epoch_us(scheduled_at), attempt))
                slots.append(found[1])
        if not slots:
            return frozenset()
        try:
            self._log.release_event_runs(slots, now=now)
        except StoreError as error:
            logger.error("tickwork: could not leave event runs to others: %s", error)
            return frozenset()
        for job_id, at_us, _ in left:
            del self.pending[(job_id, at_us)]
        return frozenset(left)

    def next_at(self, *, polls: bool = True) -> datetime | None:
        """When :meth:`upkeep` must run next (a debounce ending, events kept while not
        running and, with *polls*, a poll of the store), or None."""
        due = min((entry[0] for entry in self._debounced.values()), default=None)
        moment = None if due is None else _EPOCH + timedelta(microseconds=due)
        if polls and self._log is not None and self._poll_at is not None:
            moment = self._poll_at if moment is None else min(moment, self._poll_at)
        if self._waiting:
            return _EPOCH
        return moment

    def shutdown(self, now: datetime) -> None:
        """Give debounced runs not started back to the store (another process, or the
        next start, handles their events); mark finished slots done."""
        log = self._log
        if log is None:
            return
        slots = [entry[2] for entry in self._debounced.values()]
        self._debounced.clear()
        log.release_event_runs(slots, now=now)
        finished, self._finished = [*self._finished, *self._superseded], []
        self._superseded = []
        log.finish_event_runs(finished, now=now)


def _fires_at(job: Job, at_us: int) -> bool:
    """Whether *at_us* is a fire time of *job*: its next one, or one of its trigger's
    (inside its [start, end])."""
    if job.next_fire is not None and epoch_us(job.next_fire) == at_us:
        return True
    if type(job.trigger) is EventTrigger:
        return False  # (most event jobs: no time of their own)
    before = _EPOCH + timedelta(microseconds=at_us - 1)
    try:
        found = next_job_fire(job.trigger, before, job.start, job.end)
    except Exception:  # a custom trigger may raise anything: the job's fires fail anyway
        return False
    return found is not None and epoch_us(found) == at_us


def _us(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
