"""The SQLite store behaves as the memory store does, for any sequence of calls.

A Hypothesis state machine drives both stores with the same adds, replacements,
updates (with and without the schedule), removals, batch adds and claims, and checks
after every step that they hold the same jobs and gave the same answers. The memory
store is the model: it is a dict behind a lock, simple enough to be obviously right.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tickwork._errors import ConflictingIdError, JobLookupError
from tickwork._model import Job
from tickwork.stores import JobStore, MemoryStore, SQLiteStore
from tickwork.triggers import IntervalTrigger

UTC = timezone.utc
T0 = datetime(2024, 1, 1, tzinfo=UTC)
IDS = st.sampled_from(["a", "b", "c", "d"])
FIRES = st.none() | st.integers(min_value=0, max_value=5).map(lambda n: T0 + timedelta(minutes=n))
TRIGGER = IntervalTrigger(minutes=1, start=T0, timezone="UTC")


def job(job_id: str, name: str, next_fire: datetime | None, paused: bool, runs: int | None) -> Job:
    return Job(
        id=job_id,
        name=name,
        func=None,
        func_ref="builtins:print",
        trigger=TRIGGER,
        next_fire=next_fire,
        paused=paused,
        remaining_runs=runs,
    )


JOBS = st.builds(
    job,
    IDS,
    st.sampled_from(["x", "y"]),
    FIRES,
    st.booleans(),
    st.none() | st.integers(min_value=1, max_value=3),
)


def outcome(call: Any) -> Any:
    """What a call answered: its value, or the kind of error it raised."""
    try:
        return ("ok", call())
    except (ConflictingIdError, JobLookupError) as error:
        return ("error", type(error).__name__)


class SameAnswers(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.model: JobStore = MemoryStore()
        self.real: JobStore = SQLiteStore(":memory:")
        self.real.open()

    def both(self, call: Any) -> None:
        expected = outcome(lambda: call(self.model))
        actual = outcome(lambda: call(self.real))
        assert actual == expected

    @rule(new=JOBS, replace=st.booleans())
    def add(self, new: Job, replace: bool) -> None:
        self.both(lambda store: store.add_job(new, replace=replace))

    @rule(new=st.lists(JOBS, max_size=4), replace=st.booleans())
    def add_many(self, new: list[Job], replace: bool) -> None:
        self.both(lambda store: store.add_jobs(new, replace=replace))

    @rule(changed=JOBS, schedule=st.booleans())
    def update(self, changed: Job, schedule: bool) -> None:
        self.both(lambda store: store.update_job(changed, schedule=schedule))

    @rule(job_id=IDS)
    def remove(self, job_id: str) -> None:
        self.both(lambda store: store.remove_job(job_id))

    @rule(job_ids=st.lists(IDS, max_size=3))
    def remove_many(self, job_ids: list[str]) -> None:
        self.both(lambda store: store.remove_jobs(job_ids))

    @rule(
        job_id=IDS,
        expected=FIRES,
        new_next=FIRES,
        runs=st.none() | st.integers(min_value=0, max_value=3),
    )
    def claim(
        self, job_id: str, expected: datetime | None, new_next: datetime | None, runs: int | None
    ) -> None:
        scheduled = () if expected is None else (expected,)
        self.both(
            lambda store: store.claim_fires([(job_id, expected, new_next, runs, scheduled)], now=T0)
        )

    @rule(job_id=IDS)
    def get(self, job_id: str) -> None:
        self.both(lambda store: store.get_job(job_id))

    @invariant()
    def same_jobs(self) -> None:
        assert self.real.get_jobs() == self.model.get_jobs()

    def teardown(self) -> None:
        self.real.close()


TestSameAnswers = SameAnswers.TestCase
