"""Prometheus metrics: from a running scheduler, or from a store alone.

* :func:`instrument` adds a listener to a ``Scheduler`` or ``AsyncScheduler`` and
  returns its :class:`Metrics`: runs by job and outcome, run durations and fire
  lateness (histograms), last success and next fire time per job, missed and skipped
  fires, runs taken over from dead processes, store errors, whether the scheduler is up.
* :func:`render_store` tells what a store alone can tell (``tickwork metrics STORE``
  from another process): each job's next fire time and paused flag, the runs its
  history keeps by job and outcome, the last success per job, broken jobs, and the
  processes that use it.
* :meth:`Metrics.render` and :func:`render_store` write the Prometheus text exposition
  format (0.0.4) themselves: no dependency. With ``prometheus_client`` installed (the
  extra ``tickwork[metrics]``), :meth:`Metrics.register` adds the same families to one
  of its registries, so they are served with the application's other metrics.
* :func:`wsgi_app` serves either at ``/metrics``.

Every family and its labels are listed in ``docs/observability.md``. The job's id is
the label ``job_id`` (Prometheus itself sets ``job`` on every scraped series).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple, Union

from ._errors import JobLookupError, LeaseExpired, StoreError
from ._events import Event, EventKind
from ._machine import SchedulerState
from ._model import Outcome
from .stores import JobSchedule, JobStore, ProcessListing, StatsListing
from .stores._base import StatsRows

if TYPE_CHECKING:
    from .aio import AsyncScheduler
    from .scheduler import Scheduler

__all__ = [
    "CONTENT_TYPE",
    "DURATION_BUCKETS",
    "HISTORY_LIMIT",
    "LATENESS_BUCKETS",
    "MetricFamily",
    "Metrics",
    "instrument",
    "render_store",
    "store_families",
    "wsgi_app",
]

logger = logging.getLogger("tickwork")

#: The media type of the text format these functions write.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Upper bounds of the run duration histogram's buckets, in seconds: from a few
#: milliseconds (a quick job) to an hour (a nightly batch).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                    60.0, 300.0, 900.0, 3600.0)  # fmt: skip
#: Upper bounds of the fire lateness histogram's buckets, in seconds: a scheduler keeps
#: time to the millisecond; seconds and minutes late mean a busy or stalled one.
LATENESS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
                    30.0, 60.0, 300.0)  # fmt: skip
#: Runs of the history read by :func:`render_store` from a store that cannot count them
#: itself (no :class:`~tickwork.stores.StatsListing`): the newest this many.
HISTORY_LIMIT = 100_000

_UTC = timezone.utc
_RUN_ENDS = (
    EventKind.JOB_EXECUTED
    | EventKind.JOB_FAILED
    | EventKind.JOB_RETRIED
    | EventKind.JOB_INTERRUPTED
    | EventKind.JOB_MISSED
    | EventKind.JOB_SKIPPED
    | EventKind.STORE_ERROR
)
_SUCCESS = Outcome.SUCCESS.value
_FAILURE = Outcome.FAILURE.value
_INTERRUPTED = Outcome.INTERRUPTED.value

_AnyScheduler = Union["Scheduler", "AsyncScheduler"]
#: A row of a family: its label values, then its value (a histogram's: the sample's
#: suffix, the bucket's ``le`` or None, the value).
_Row = tuple[Any, ...]


class MetricFamily(NamedTuple):
    """One metric family, as both writers take it: *name* without the ``_total`` of a
    counter; its type (``counter``, ``gauge``, ``histogram``); its help text; the names
    of its labels; and its rows, each the label values then the value (a histogram's
    rows: ``(suffix, le or None, value)``)."""

    name: str
    kind: str
    help: str
    labels: tuple[str, ...]
    rows: Sequence[_Row]


# -- the text format ---------------------------------------------------------------------

#: Label values as written (escaped), kept from one scrape to the next: job ids rarely
#: change, and looking one up is cheaper than checking it again.
_quoted: dict[str, str] = {}
_QUOTED_MAX = 200_000


def _quote(value: str) -> str:
    """A label value as the text format writes it between its quotes: backslash, double
    quote and line feed escaped (remembered)."""
    quoted = value
    if "\\" in value or '"' in value or "\n" in value:
        quoted = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    if len(_quoted) >= _QUOTED_MAX:
        _quoted.clear()
    _quoted[value] = quoted
    return quoted


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _bound(value: float) -> str:
    """A bucket's ``le``, as prometheus_client writes it (``1.0``, ``+Inf``)."""
    return "+Inf" if math.isinf(value) else repr(float(value))


def _write(families: Iterable[MetricFamily]) -> str:
    """The text exposition format (0.0.4) of *families*.

    Values of labelled rows are finite numbers (counts, Unix times: ``{value}`` is
    their text); a histogram's, which may be anything, go through :func:`_number`.
    """
    lines: list[str] = []
    add = lines.append
    quoted = _quoted
    for family in families:
        name = family.name + "_total" if family.kind == "counter" else family.name
        text = family.help.replace("\\", "\\\\").replace("\n", "\\n")
        add(f"# HELP {name} {text}\n# TYPE {name} {family.kind}")
        labels, rows = family.labels, family.rows
        if family.kind == "histogram":
            for suffix, le, value in rows:
                bucket = "" if le is None else f'{{le="{le}"}}'
                add(f"{family.name}{suffix}{bucket} {_number(value)}")
        elif not labels:
            for (value,) in rows:
                add(f"{name} {_number(value)}")
        elif len(labels) == 1:
            head = f'{name}{{{labels[0]}="'
            lines += [f'{head}{quoted.get(a) or _quote(a)}"}} {value}' for a, value in rows]
        elif len(labels) == 2:
            head = f'{name}{{{labels[0]}="'
            middle = f'",{labels[1]}="'
            lines += [
                f'{head}{quoted.get(a) or _quote(a)}{middle}{quoted.get(b) or _quote(b)}"}} {value}'
                for a, b, value in rows
            ]
        else:
            for row in rows:
                pairs = ",".join(
                    f'{key}="{_quote(str(raw))}"' for key, raw in zip(labels, row, strict=False)
                )
                add(f"{name}{{{pairs}}} {_number(row[-1])}")
    add("")
    return "\n".join(lines)


def _client_families(families: Iterable[MetricFamily]) -> Iterator[Any]:
    """The same families as prometheus_client's metric families (for a Collector)."""
    from prometheus_client.core import Metric

    for family in families:
        metric = Metric(family.name, family.help, family.kind)
        labels = family.labels
        if family.kind == "histogram":
            for suffix, le, value in family.rows:
                metric.add_sample(family.name + suffix, {} if le is None else {"le": le}, value)
        else:
            sample = family.name + ("_total" if family.kind == "counter" else "")
            for row in family.rows:
                metric.add_sample(sample, dict(zip(labels, row, strict=False)), row[-1])
        yield metric


def _import_client() -> None:
    try:
        import prometheus_client  # noqa: F401
    except ImportError as error:
        raise ImportError(
            f"Metrics.register needs prometheus_client ({error}): "
            'pip install "tickwork[metrics]" (render() and wsgi_app() work without it)'
        ) from error


# -- families shared by a scheduler and a store ------------------------------------------

_JOB = ("job_id",)

#: For each store of rows a scrape read: the ids of the jobs it has seen load (or seen
#: marked broken), so that only new rows are loaded (:func:`_broken`).
_LOADED: weakref.WeakKeyDictionary[JobStore, set[str]] = weakref.WeakKeyDictionary()
#: More new rows than this are loaded all at once (one read) rather than one by one.
_LOAD_ONE_BY_ONE = 200


def _schedule_families(schedules: list[JobSchedule]) -> list[MetricFamily]:
    fires = [(job_id, fire.timestamp()) for job_id, fire, _ in schedules if fire is not None]
    paused = [(job_id, 1 if is_paused else 0) for job_id, _, is_paused in schedules]
    return _job_families(len(schedules), fires, paused)


def _job_families(
    jobs: int, fires: list[tuple[str, float]], paused: list[tuple[str, int]]
) -> list[MetricFamily]:
    return [
        MetricFamily("tickwork_jobs", "gauge", "Jobs in the store.", (), [(jobs,)]),
        MetricFamily(
            "tickwork_next_fire_timestamp_seconds",
            "gauge",
            "When each job fires next (Unix time); jobs with no fire time left have none.",
            _JOB,
            fires,
        ),
        MetricFamily("tickwork_job_paused", "gauge", "1 for a paused job, else 0.", _JOB, paused),
    ]


def _schedule_families_us(rows: list[tuple[str, int | None, Any]]) -> list[MetricFamily]:
    """:func:`_schedule_families` of a :class:`~tickwork.stores._base.StatsRows`'s rows."""
    fires = [(job_id, fire / 1_000_000) for job_id, fire, _ in rows if fire is not None]
    paused = [(job_id, 1 if is_paused else 0) for job_id, _, is_paused in rows]
    return _job_families(len(rows), fires, paused)


def _store_schedule_families(
    store: JobStore, *, load: bool = True
) -> tuple[list[MetricFamily], dict[str, str]]:
    """The job families of *store*: from rows of µs where it has them (written as Unix
    times with no datetime made, a tenth as many objects for ten thousand jobs); and
    its broken jobs, which they leave out (*load*: rows no one loaded yet are loaded
    first, see :func:`_broken`)."""
    if isinstance(store, StatsRows):
        rows = store.schedule_rows()
        if not load:
            return _schedule_families_us(rows), {}
        broken = _broken(store, [row[0] for row in rows])
        if broken is None:
            return _schedule_families_us(rows), store.broken_jobs()
        return _schedule_families_us([row for row in rows if row[0] not in broken]), broken
    schedules = _schedules(store)
    if not load:
        return _schedule_families(schedules), {}
    broken = _broken(store, [schedule.job_id for schedule in schedules])
    if broken is None:
        return _schedule_families(schedules), store.broken_jobs()
    return _schedule_families([s for s in schedules if s.job_id not in broken]), broken


def _schedules(store: JobStore) -> list[JobSchedule]:
    if isinstance(store, StatsListing):
        return store.schedules()
    jobs = sorted(store.get_jobs(), key=lambda job: job.id)
    return [JobSchedule(job.id, job.next_fire, job.paused) for job in jobs]


def _histogram(name: str, help_text: str, bounds: tuple[float, ...], counts: list[int],
               total: float) -> MetricFamily:  # fmt: skip
    rows: list[_Row] = []
    running = 0
    for bound, count in zip((*bounds, math.inf), counts, strict=True):
        running += count
        rows.append(("_bucket", _bound(bound), running))
    rows.append(("_count", None, running))
    rows.append(("_sum", None, total))
    return MetricFamily(name, "histogram", help_text, ("le",), rows)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused: a scrape makes a few objects per job, none
    in a cycle, all dropped at its end; the collector would walk every object of the
    process (ten thousand jobs and more) again and again meanwhile, for nothing."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _bucket(bounds: tuple[float, ...], value: float) -> int:
    for index, bound in enumerate(bounds):
        if value <= bound:
            return index
    return len(bounds)


# -- a running scheduler -----------------------------------------------------------------


class Metrics:
    """A scheduler's metrics, kept up to date by a listener (see :func:`instrument`).

    Counters count from the moment :func:`instrument` was called, in this process;
    the next fire time and paused flag of each job are read from the scheduler's store
    at each scrape (while the scheduler runs or is paused). Thread-safe.
    """

    def __init__(self, scheduler: _AnyScheduler) -> None:
        self._scheduler = scheduler
        self._lock = threading.Lock()
        self._runs: dict[tuple[str, str], int] = {}
        self._missed: dict[str, int] = {}
        self._skipped: dict[str, int] = {}
        self._last_success: dict[str, float] = {}
        self._durations = [0] * (len(DURATION_BUCKETS) + 1)
        self._duration_sum = 0.0
        self._lateness = [0] * (len(LATENESS_BUCKETS) + 1)
        self._lateness_sum = 0.0
        self._takeovers = 0
        self._store_errors = 0

    # -- the listener --------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        """Take in one event (the listener :func:`instrument` adds)."""
        kind = event.kind
        job_id = event.job_id or ""
        with self._lock:
            if kind is EventKind.JOB_MISSED:
                self._missed[job_id] = self._missed.get(job_id, 0) + event.missed
                return
            if kind is EventKind.JOB_SKIPPED:
                self._skipped[job_id] = self._skipped.get(job_id, 0) + 1
                return
            if kind is EventKind.STORE_ERROR:
                self._store_errors += 1
                return
            if kind is EventKind.JOB_EXECUTED:
                outcome = _SUCCESS
                self._last_success[job_id] = event.at.timestamp()
            elif kind is EventKind.JOB_FAILED:
                outcome = _FAILURE
            elif isinstance(event.exception, LeaseExpired):
                # A run of a dead process, taken over here (JOB_RETRIED or
                # JOB_INTERRUPTED): recorded as interrupted, as the history has it.
                outcome = _INTERRUPTED
                self._takeovers += 1
            elif kind is EventKind.JOB_RETRIED:
                outcome = _FAILURE
            else:
                outcome = _INTERRUPTED
            key = (job_id, outcome)
            self._runs[key] = self._runs.get(key, 0) + 1
            started = event.started_at
            if started is not None:
                took = max(0.0, (event.at - started).total_seconds())
                self._durations[_bucket(DURATION_BUCKETS, took)] += 1
                self._duration_sum += took
                # Lateness: to the start of the first attempt (a retry is late by
                # design), as the run reports it when it ends: a run queued behind busy
                # workers (threads, a task queue's) was handed over on time.
                if event.attempt == 1 and event.scheduled_at is not None:
                    late = max(0.0, (started - event.scheduled_at).total_seconds())
                    self._lateness[_bucket(LATENESS_BUCKETS, late)] += 1
                    self._lateness_sum += late

    # -- reading -------------------------------------------------------------------------

    def families(self) -> list[MetricFamily]:
        """The metric families now (what :meth:`render` writes)."""
        return self._families(read=True)

    def _families(self, *, read: bool) -> list[MetricFamily]:
        """:meth:`families`; with *read* false, the jobs' families are empty, and the
        store is not read (their names, for a registry: see ``_Collector.describe``)."""
        scheduler = self._scheduler
        state = scheduler.state
        up = state in (SchedulerState.RUNNING, SchedulerState.PAUSED)
        schedules: list[MetricFamily] | None = None if read else _job_families(0, [], [])
        if up and read:
            try:
                # (The scheduler loads and syncs its store's rows itself, marking
                # those that do not decode.)
                schedules = _store_schedule_families(scheduler.store, load=False)[0]
            except StoreError as error:
                logger.warning("tickwork: metrics could not read the jobs: %s", error)
        with self._lock:
            runs = [(job, outcome, count) for (job, outcome), count in self._runs.items()]
            missed = list(self._missed.items())
            skipped = list(self._skipped.items())
            last = list(self._last_success.items())
            durations, duration_sum = list(self._durations), self._duration_sum
            lateness, lateness_sum = list(self._lateness), self._lateness_sum
            takeovers, store_errors = self._takeovers, self._store_errors
        families = [
            MetricFamily("tickwork_scheduler_up", "gauge",
                         "1 while the scheduler is started (running or paused), else 0.",
                         (), [(1 if up else 0,)]),
            MetricFamily("tickwork_scheduler_paused", "gauge", "1 while the scheduler is paused.",
                         (), [(1 if state is SchedulerState.PAUSED else 0,)]),
            MetricFamily("tickwork_runs", "counter",
                         "Attempts that ended, by job and outcome (success, failure, "
                         "interrupted).", ("job_id", "outcome"), runs),
            MetricFamily("tickwork_missed", "counter", "Fire times that passed without a run.",
                         _JOB, missed),
            MetricFamily("tickwork_skipped", "counter",
                         "Runs not started: the job was at max_instances, or was paused "
                         "or removed before they started.", _JOB, skipped),
            _histogram("tickwork_run_duration_seconds",
                       "How long runs took, from start to end.",
                       DURATION_BUCKETS, durations, duration_sum),
            _histogram("tickwork_fire_lateness_seconds",
                       "How late first attempts started after their nominal fire time.",
                       LATENESS_BUCKETS, lateness, lateness_sum),
            MetricFamily("tickwork_last_success_timestamp_seconds", "gauge",
                         "When each job last ran successfully here (Unix time).", _JOB, last),
            MetricFamily("tickwork_takeovers", "counter",
                         "Runs taken over from processes that died or stopped renewing leases.",
                         (), [(takeovers,)]),
            MetricFamily("tickwork_store_errors", "counter",
                         "Times the job store started failing (once per outage).",
                         (), [(store_errors,)]),
        ]  # fmt: skip
        if schedules is not None:
            families += schedules
        return families

    def render(self) -> str:
        """The metrics in the Prometheus text exposition format (0.0.4), written
        directly (no dependency): what a scrape of :func:`wsgi_app` returns."""
        with _collector_paused():
            return _write(self.families())

    def register(self, registry: Any = None) -> Any:
        """Add these metrics to a ``prometheus_client`` registry (its default one if
        None), as a collector; return the collector.

        A registry holds one scheduler's metrics: the metrics of a scheduler that was
        shut down are replaced (an app whose lifespan makes a scheduler each time it
        starts registers each in turn); those of one still started are not.

        Raises:
            ImportError: prometheus_client is not installed (the extra
                ``tickwork[metrics]``).
            ValueError: these metrics, or another started scheduler's, are registered
                in that registry already (:meth:`unregister` takes them out).
        """
        _import_client()
        from prometheus_client import REGISTRY

        target = REGISTRY if registry is None else registry
        with _registered_lock:
            held = _registered.setdefault(target, [])
            for old in list(held):
                if not _holds(target, old):
                    held.remove(old)  # (taken out with registry.unregister)
                elif old.metrics is self:
                    raise ValueError(
                        "these metrics are registered in that registry already; "
                        "unregister() takes them out"
                    )
                elif old.metrics._scheduler.state is not SchedulerState.SHUTDOWN:
                    raise ValueError(
                        "another started scheduler's metrics are registered in that "
                        "registry: their families would be written twice; give each "
                        "scheduler a registry of its own, or call unregister() on the "
                        "other's Metrics first"
                    )
            for old in held:  # (each of a scheduler that was shut down)
                target.unregister(old)
            collector = _Collector(self)
            target.register(collector)
            held[:] = [collector]
        return collector

    def unregister(self, registry: Any = None) -> None:
        """Take these metrics out of a ``prometheus_client`` registry (its default one
        if None) they were registered in; nothing if they are not there."""
        _import_client()
        from prometheus_client import REGISTRY

        target = REGISTRY if registry is None else registry
        with _registered_lock:
            held = _registered.get(target, [])
            for old in [collector for collector in held if collector.metrics is self]:
                held.remove(old)
                if _holds(target, old):
                    target.unregister(old)


class _Collector:
    """A prometheus_client collector of a :class:`Metrics`' families."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Any]:
        return _client_families(self.metrics.families())

    def describe(self) -> list[Any]:
        # The names, with no samples: the registry refuses another collector of them
        # (and does not collect, reading the store, at registration).
        from prometheus_client.core import Metric

        return [Metric(f.name, "", f.kind) for f in self.metrics._families(read=False)]


#: The registries :meth:`Metrics.register` put collectors in, and those collectors.
_registered: weakref.WeakKeyDictionary[Any, list[_Collector]] = weakref.WeakKeyDictionary()
_registered_lock = threading.Lock()


def _holds(registry: Any, collector: _Collector) -> bool:
    """Whether *registry* still holds *collector* (``registry.unregister`` may have
    taken it out); true where the registry does not say."""
    names = getattr(registry, "_collector_to_names", None)
    return True if names is None else collector in names


def instrument(scheduler: _AnyScheduler) -> Metrics:
    """Count what *scheduler* (a ``Scheduler`` or an ``AsyncScheduler``) does, from now
    on: add a listener, and return the :class:`Metrics` it feeds.

    >>> metrics = instrument(scheduler)  # doctest: +SKIP
    >>> print(metrics.render())  # doctest: +SKIP

    Raises:
        TypeError: *scheduler* is not a scheduler.
    """
    from ._driver import DriverBase

    if not isinstance(scheduler, DriverBase):
        raise TypeError(
            f"instrument() takes a Scheduler or an AsyncScheduler, got {type(scheduler).__name__}"
        )
    metrics = Metrics(scheduler)
    scheduler.add_listener(metrics, _RUN_ENDS)
    return metrics


# -- a store alone -----------------------------------------------------------------------


def _run_tallies(store: JobStore) -> tuple[list[tuple[str, str, int]], list[tuple[str, float]]]:
    """The runs of *store*'s history by job and outcome, (job, outcome value, runs)
    each, and each job's last success as a Unix time."""
    if isinstance(store, StatsRows):  # (rows of µs: no datetime made)
        rows = store.run_count_rows()
        return [(job, outcome, int(n)) for job, outcome, n, _ in rows], [
            (job, at / 1_000_000)
            for job, outcome, _, at in rows
            if outcome == _SUCCESS and at is not None
        ]
    counts: list[tuple[str, str, int, datetime | None]]
    if isinstance(store, StatsListing):
        counts = [(c.job_id, c.outcome.value, c.runs, c.last) for c in store.run_counts()]
    else:
        tally: dict[tuple[str, str], list[Any]] = {}
        for run in store.history(limit=HISTORY_LIMIT):
            key = (run.job_id, run.outcome.value)
            entry = tally.setdefault(key, [0, None])
            entry[0] += 1
            if entry[1] is None:  # newest first
                entry[1] = run.finished_at
        counts = [(job, outcome, n, at) for (job, outcome), (n, at) in sorted(tally.items())]
    last = [
        (job, at.timestamp())
        for job, outcome, _, at in counts
        if outcome == _SUCCESS and at is not None
    ]
    return [(job, outcome, n) for job, outcome, n, _ in counts], last


def _broken(store: JobStore, ids: list[str]) -> dict[str, str] | None:
    """The broken jobs of *store*, when some of its rows *ids* (those the job families
    read) were loaded now, as a store of rows marks a row broken when it loads it; else
    None (nothing changed: the caller reads ``broken_jobs``). The job families read the
    rows' columns alone, so a row nothing has loaded (one that does not decode: a trigger
    type this version does not know, written by a newer one) would count as a healthy
    job. Each store object loads its rows once: all at its first scrape, as ``tickwork
    jobs`` and ``check`` do, then the new ids of each scrape. (A row replaced under an
    id already seen is loaded by the schedulers that sync it, which mark it.)"""
    if not hasattr(store, "mark_broken"):
        return None
    known = _LOADED.get(store)
    new = ids if known is None else [job_id for job_id in ids if job_id not in known]
    _LOADED[store] = set(ids)
    if not new:
        return None
    if known is None or len(new) > _LOAD_ONE_BY_ONE:
        store.get_jobs()
    else:
        for job_id in new:
            with contextlib.suppress(JobLookupError):
                store.get_job(job_id)
    return store.broken_jobs()


def store_families(store: JobStore, *, now: datetime) -> list[MetricFamily]:
    """The metric families a store alone can tell (what :func:`render_store` writes)."""
    if now.utcoffset() is None:
        raise TypeError(f"now must be an aware datetime, got {now!r}")
    families, broken = _store_schedule_families(store)
    counts, last = _run_tallies(store)
    families += [
        MetricFamily("tickwork_history_runs", "gauge",
                     "Runs in the history the store keeps, by job and outcome.",
                     ("job_id", "outcome"), counts),
        MetricFamily("tickwork_last_success_timestamp_seconds", "gauge",
                     "When each job last ran successfully (Unix time), from the history.",
                     _JOB, last),
        MetricFamily("tickwork_broken_jobs", "gauge", "Stored jobs that cannot be loaded.",
                     (), [(len(broken),)]),
        MetricFamily("tickwork_job_broken", "gauge",
                     "1 for each stored job that cannot be loaded.",
                     _JOB, [(job, 1) for job in broken]),
    ]  # fmt: skip
    if isinstance(store, ProcessListing):
        processes = store.processes(now=now)
        up = [(p.id, 1 if p.alive else 0) for p in processes if p.alive is not None]
        seen = [(p.id, p.last_seen.timestamp()) for p in processes if p.last_seen is not None]
        leases = [(p.id, len(p.leases)) for p in processes]
        process = ("process",)
        families += [
            MetricFamily("tickwork_processes", "gauge", "Scheduler processes using the store.",
                         (), [(len(processes),)]),
            MetricFamily("tickwork_process_up", "gauge",
                         "1 for a live scheduler process, 0 for one found dead.", process, up),
            MetricFamily("tickwork_process_last_seen_timestamp_seconds", "gauge",
                         "Each process's last heartbeat (Unix time).", process, seen),
            MetricFamily("tickwork_process_leases", "gauge",
                         "Runs each process holds the lease of.", process, leases),
        ]  # fmt: skip
    return families


def render_store(store: JobStore, *, now: datetime) -> str:
    """What *store* alone can tell, in the Prometheus text exposition format (0.0.4):
    for ``tickwork metrics STORE`` in a process with no scheduler.

    Each job's next fire time and paused flag; the runs the store's history keeps, by
    job and outcome (a gauge: pruning lowers it), and each job's last success; broken
    jobs; and, for a store that lists them (a
    :class:`~tickwork.stores.ProcessListing`), the scheduler processes, whether each is
    alive at *now*, its last heartbeat and the leases it holds.

    Raises:
        TypeError: *now* is naive.
        StoreError: the store failed.
    """
    with _collector_paused():
        return _write(store_families(store, now=now))


# -- serving -----------------------------------------------------------------------------


def wsgi_app(metrics_or_store: Metrics | JobStore) -> Callable[..., Iterable[bytes]]:
    """A WSGI application serving the metrics at ``/metrics`` (and at the root of
    wherever it is mounted): of a scheduler (a :class:`Metrics` from :func:`instrument`)
    or of a store alone (:func:`render_store`, at the current time). ``GET`` and
    ``HEAD`` only.

    >>> from wsgiref.simple_server import make_server  # doctest: +SKIP
    >>> make_server("127.0.0.1", 9100, wsgi_app(instrument(scheduler))).serve_forever()

    Raises:
        TypeError: *metrics_or_store* is neither.
    """
    if isinstance(metrics_or_store, Metrics):
        render: Callable[[], str] = metrics_or_store.render
    elif isinstance(metrics_or_store, JobStore):
        store = metrics_or_store

        def render() -> str:
            return render_store(store, now=datetime.now(_UTC))

    else:
        raise TypeError(
            "wsgi_app() takes the Metrics of instrument(scheduler) or a job store, got "
            f"{type(metrics_or_store).__name__}"
        )

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path.rstrip("/") not in ("", "/metrics"):
            return _plain(start_response, "404 Not Found", b"not found: try /metrics\n")
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            body = b"method not allowed: GET or HEAD\n"
            return _plain(start_response, "405 Method Not Allowed", body, [("Allow", "GET, HEAD")])
        try:
            text = render().encode("utf-8")
        except StoreError as error:
            logger.error("tickwork: metrics: %s", error)
            return _plain(start_response, "503 Service Unavailable", f"{error}\n".encode())
        start_response(
            "200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(text)))]
        )
        return [b"" if method == "HEAD" else text]

    return app


def _plain(
    start_response: Callable[..., Any],
    status: str,
    body: bytes,
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    start_response(
        status,
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
         *(headers or [])],
    )  # fmt: skip
    return [body]
