"""The model test of the store contract suite: any store behaves as the memory store does.

Imported only by ``JobStoreContract.test_behaves_as_the_memory_store_does``, which
needs Hypothesis (importing :mod:`tickwork.testing` does not).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from .._errors import ConflictingIdError, JobLookupError
from .._model import Job
from ..triggers import IntervalTrigger
from ._base import JobStore

__all__ = ["same_answers"]

UTC = timezone.utc
T0 = datetime(2024, 1, 1, tzinfo=UTC)
IDS = st.sampled_from(["a", "b", "c", "d"])
FIRES = st.none() | st.integers(min_value=0, max_value=5).map(lambda n: T0 + timedelta(minutes=n))
TRIGGER = IntervalTrigger(minutes=1, start=T0, timezone="UTC")


def _job(job_id: str, name: str, next_fire: datetime | None, paused: bool, runs: int | None) -> Job:
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
    _job,
    IDS,
    st.sampled_from(["x", "y"]),
    FIRES,
    st.booleans(),
    st.none() | st.integers(min_value=1, max_value=3),
)


def _outcome(call: Callable[[], Any]) -> Any:
    """What a call answered: its value, or the kind of error it raised."""
    try:
        return ("ok", call())
    except (ConflictingIdError, JobLookupError) as error:
        return ("error", type(error).__name__)


def same_answers(store: JobStore, model: Callable[[], JobStore]) -> type[RuleBasedStateMachine]:
    """A state machine factory driving *store* (open, emptied for each example) and a
    fresh *model* store with the same calls, comparing their answers and their jobs."""

    # Runs started, as (job id, fire time), in every example (they share the store): a
    # store may key runs by them (a "slot" that no later claim starts again, removed
    # job or not, as PostgresStore does), so a claim of one of these fires again starts
    # no run here, rather than a second run of one fire, which the stores need not
    # agree on.
    ran: set[tuple[str, datetime]] = set()

    class SameAnswers(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.model = model()
            self.real = store
            self.ran = ran
            # Each example starts from an empty store (examples share the store object).
            store.remove_jobs([job.id for job in store.get_jobs()])

        def both(self, call: Callable[[JobStore], Any]) -> Any:
            expected = _outcome(lambda: call(self.model))
            actual = _outcome(lambda: call(self.real))
            assert actual == expected
            return actual

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
            remaining=st.none() | st.integers(min_value=0, max_value=3),
        )
        def claim(
            self,
            job_id: str,
            expected: datetime | None,
            new_next: datetime | None,
            remaining: int | None,
        ) -> None:
            fresh = expected is not None and (job_id, expected) not in self.ran
            scheduled = (expected,) if fresh and expected is not None else ()
            claim = (job_id, expected, new_next, remaining, scheduled)
            answer = self.both(lambda store: store.claim_fires([claim], now=T0))
            if scheduled and answer[1] != [None]:
                self.ran.add((job_id, scheduled[0]))

        @rule(job_id=IDS)
        def get(self, job_id: str) -> None:
            self.both(lambda store: store.get_job(job_id))

        @invariant()
        def same_jobs(self) -> None:
            assert self.real.get_jobs() == self.model.get_jobs()

    return SameAnswers
