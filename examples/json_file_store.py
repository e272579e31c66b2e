"""A job store of your own: every job a row of plain data in one JSON file.

Run it from the repository root, after ``pip install .``::

    python examples/json_file_store.py

``JsonFileStore`` keeps the ``tickwork.stores.JobStore`` contract using only public
names: ``tickwork.stores.codec`` turns each job into a row of plain values and back,
and ``tickwork.testing.JobStoreContract`` checks it (``tests/stores/test_example_store.py``
runs the suite on it). ``docs/writing-a-store.md`` walks through it. It is a sketch for
one process: the whole file is written again on every change (fine for tens of jobs),
and the run history is kept in memory only.

The demonstration runs a scheduler on the store with a fake clock, so its output is the
same on every run, then "restarts": a second scheduler finds the job in the file, with
its next fire time, and goes on from there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
import threading
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tickwork import (
    ConflictingIdError,
    Job,
    JobLookupError,
    Run,
    Scheduler,
    SerializationError,
    StoreError,
    current_run,
)
from tickwork.executors import InlineExecutor
from tickwork.stores import ClaimLike, JobStore, RunEnd, codec
from tickwork.testing import FakeClock, run_until

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def _us(moment: datetime | None) -> int | None:
    """An instant as integer microseconds since the epoch: compared exactly, whatever
    the zone (two datetimes in one zone compare by wall time, folds ignored)."""
    return None if moment is None else (moment - _EPOCH) // _MICROSECOND


def _order(job: Job) -> tuple[bool, int, str]:
    """By next fire instant, then id; jobs without a next fire time last."""
    return (job.next_fire is None, _us(job.next_fire) or 0, job.id)


class JsonFileStore(JobStore):
    """Keeps jobs in one JSON file: ``{"jobs": {id: row, ...}}``, a row per job as
    ``codec.encode_job(job)._asdict()`` gives it.

    Every call holds one lock, so it is safe to share between threads; a change is
    written to a temporary file that then replaces the job file, so the file is always
    whole. Keeps the newest *history* runs in memory.
    """

    def __init__(self, path: str | os.PathLike[str], *, history: int = 1000) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._rows: dict[str, dict[str, Any]] | None = None  # None until opened
        self._depth = 0  # nesting of transaction()
        self._history: deque[Run] = deque(maxlen=history)
        self._process = codec.process_name()
        self._marked: dict[str, str] = {}  # mark_broken: job id -> reason
        self._undecodable: dict[str, str] = {}  # rows the codec refused: id -> reason

    # -- the file -------------------------------------------------------------------

    def open(self) -> None:
        """Read the file (a missing one is an empty store)."""
        with self._lock:
            if self._rows is not None:
                return
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                rows = data["jobs"]
            except FileNotFoundError:
                rows = {}
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise StoreError(f"{str(self.path)!r} is not a job file: {error}") from None
            self._rows = rows

    def close(self) -> None:
        """Forget what was read: every change is in the file already."""
        with self._lock:
            self._rows = None
            self._undecodable.clear()

    def _loaded(self) -> dict[str, dict[str, Any]]:
        """The rows (lock held), the file read first if the store is not open."""
        self.open()
        assert self._rows is not None
        return self._rows

    def _save(self, rows: dict[str, dict[str, Any]]) -> None:
        text = json.dumps({"jobs": rows}, indent=1, sort_keys=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError as error:
            raise StoreError(f"cannot write {str(self.path)!r}: {error}") from error

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Changes inside are written once, at the end of the outermost block; if the
        block raises, none of them is kept."""
        with self._lock:
            rows = self._loaded()
            outermost = self._depth == 0
            before = dict(rows)  # rows are replaced, never changed in place
            self._depth += 1
            try:
                yield
                if outermost:
                    self._save(rows)
            except BaseException:
                if outermost:
                    rows.clear()
                    rows.update(before)
                raise
            finally:
                self._depth -= 1

    # -- jobs -----------------------------------------------------------------------

    def _put(self, rows: dict[str, dict[str, Any]], row: codec.JobRow) -> None:
        rows[row.id] = row._asdict()
        self._marked.pop(row.id, None)
        self._undecodable.pop(row.id, None)

    def add_job(self, job: Job, *, replace: bool = False) -> None:
        self.add_jobs([job], replace=replace)

    def add_jobs(self, jobs: Sequence[Job], *, replace: bool = False) -> None:
        encoded = [codec.encode_job(job) for job in jobs]  # may raise: nothing changed yet
        with self.transaction():
            rows = self._loaded()
            if not replace:
                counts = Counter(row.id for row in encoded)
                taken = sorted(i for i, n in counts.items() if n > 1 or i in rows)
                if taken:
                    names = ", ".join(map(repr, taken[:10]))
                    raise ConflictingIdError(f"jobs with these ids already exist: {names}")
            for row in encoded:
                self._put(rows, row)

    def update_job(self, job: Job, *, schedule: bool = True) -> None:
        row = codec.encode_job(job)
        with self.transaction():
            rows = self._loaded()
            stored = rows.get(job.id)
            if stored is None:
                raise JobLookupError(f"no job with id {job.id!r}")
            if not schedule:  # the fields claims move stay as stored
                kept = ("next_fire_us", "next_fire_zone", "remaining_runs")
                row = row._replace(**{name: stored.get(name) for name in kept})
            self._put(rows, row)

    def remove_job(self, job_id: str) -> None:
        with self.transaction():
            rows = self._loaded()
            if rows.pop(job_id, None) is None:
                raise JobLookupError(f"no job with id {job_id!r}")
            self._marked.pop(job_id, None)
            self._undecodable.pop(job_id, None)

    def _decode(self, job_id: str, row: dict[str, Any]) -> Job | None:
        """The row's job, or None for a row the codec refuses (kept, and reported)."""
        try:
            return codec.decode_job(row)
        except codec.SerializationError as error:
            self._undecodable[job_id] = str(error)
            return None

    def get_job(self, job_id: str) -> Job:
        with self._lock:
            row = self._loaded().get(job_id)
            if row is None:
                raise JobLookupError(f"no job with id {job_id!r}")
            job = self._decode(job_id, row)
            if job is None:
                reason = self._undecodable[job_id]
                raise JobLookupError(f"job {job_id!r} is stored but broken: {reason}")
            return job

    def get_jobs(self) -> list[Job]:
        with self._lock:
            rows = self._loaded()
            jobs = [self._decode(job_id, row) for job_id, row in rows.items()]
        # By instant (exact, as microseconds), then id; jobs without a next fire last.
        found = [job for job in jobs if job is not None]
        return sorted(
            found, key=lambda job: (job.next_fire is None, _us(job.next_fire) or 0, job.id)
        )

    # -- claims ---------------------------------------------------------------------

    def claim_fires(self, claims: Sequence[ClaimLike], *, now: datetime) -> list[int | None]:
        """One process, so no one else holds runs: a won claim answers 0."""
        results: list[int | None] = []
        with self.transaction():
            rows = self._loaded()
            for job_id, expected, new_next, remaining_runs, _runs in claims:
                row = rows.get(job_id)
                job = None if row is None else self._decode(job_id, row)
                if row is None or job is None or job.paused or row["next_fire_us"] != _us(expected):
                    results.append(None)
                    continue
                if remaining_runs is None:
                    remaining_runs = job.remaining_runs
                moved = dataclasses.replace(job, next_fire=new_next, remaining_runs=remaining_runs)
                rows[job_id] = codec.encode_job(moved)._asdict()
                results.append(0)
        return results

    # -- run history and broken jobs ------------------------------------------------

    def record_runs(self, runs: Sequence[RunEnd], *, now: datetime) -> None:
        with self._lock:
            self._history.extend(codec.run_from_end(end, self._process) for end in runs)

    def history(self, job_id: str | None = None, *, limit: int = 100) -> list[Run]:
        if not isinstance(limit, int) or limit < 0:
            raise ValueError(f"limit must be a whole number >= 0, got {limit!r}")
        with self._lock:
            runs = [run for run in reversed(self._history) if job_id in (None, run.job_id)]
        return runs[:limit]

    def mark_broken(self, job_id: str, reason: str) -> None:
        with self._lock:
            if job_id in self._loaded():
                self._marked[job_id] = reason

    def broken_jobs(self) -> dict[str, str]:
        with self._lock:
            found = {**self._marked, **self._undecodable}
        return {job_id: found[job_id] for job_id in sorted(found)}


# -- the demonstration ----------------------------------------------------------------

START = datetime(2024, 6, 3, 8, 0, tzinfo=timezone.utc)


def report() -> None:
    """The job: says when it was due."""
    print(f"  report for {current_run().scheduled_at:%H:%M %Z}")


def run_for(path: Path, clock: FakeClock, hours: float, *, add: bool) -> None:
    """A scheduler on the store, stepped through *hours* of fake time, then shut down."""
    scheduler = Scheduler(
        store=JsonFileStore(path),
        clock=clock,
        executors={"default": InlineExecutor()},
        timezone="UTC",
    )
    if add:
        scheduler.add_job(report, "interval", minutes=30, id="report")
    scheduler.open()
    run_until(scheduler, clock.now() + timedelta(hours=hours))
    job = scheduler.get_job("report")
    assert job is not None
    print(f"  next fire time: {job.next_fire:%H:%M %Z}")
    scheduler.shutdown()


def main() -> None:
    clock = FakeClock(START)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "jobs.json"
        print(f"a scheduler on a JsonFileStore, from {START:%Y-%m-%d %H:%M %Z}:")
        run_for(path, clock, 1, add=True)
        row = json.loads(path.read_text(encoding="utf-8"))["jobs"]["report"]
        print(f"the row in the file: func_ref={row['func_ref']!r}, trigger={row['trigger']}")
        other = Scheduler(store=JsonFileStore(path), timezone="UTC")
        try:
            other.add_job(lambda: None, "interval", minutes=5, id="anon")
        except SerializationError as error:
            print(f"a job it cannot keep is refused: {str(error)[:64]}...")
        other.shutdown()
        print("restarted: a new scheduler finds the job in the file and goes on")
        run_for(path, clock, 1, add=False)


if __name__ == "__main__":
    main()
