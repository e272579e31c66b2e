"""The answers of a job store that is not tickwork's own, checked where the engine
takes them: a store written from docs/writing-a-store.md that breaks the contract
gets an error that names it and what it got wrong, not an error deep in the engine
(a ``zip()`` of the wrong length, a naive datetime subtracted) or runs silently
skipped. tickwork's stores (``tickwork.stores``) pass the contract suites; their
answers are taken as they are, at no cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ._errors import StoreError
from ._model import Job
from .stores import JobStore

__all__ = ["claimed_by", "loaded_from"]


def _own(store: JobStore) -> bool:
    return type(store).__module__.startswith("tickwork.stores")


def claimed_by(store: JobStore, claims: Sequence[Any], now: datetime) -> list[int | None]:
    """``store.claim_fires(claims, now=now)``, its answer checked: one per claim, each
    None (lost) or a whole number >= 0 (won; runs other processes hold)."""
    answers = store.claim_fires(claims, now=now)
    if _own(store):
        return answers
    name = type(store).__name__
    if isinstance(answers, tuple):
        answers = list(answers)  # (a sequence the engine can index and zip)
    if not isinstance(answers, list) or len(answers) != len(claims):
        got = len(answers) if isinstance(answers, Sequence) else type(answers).__name__
        raise StoreError(
            f"{name}.claim_fires must return a list of one answer per claim: "
            f"{len(claims)} claims, got {got}"
        )
    for index, answer in enumerate(answers):
        if answer is not None and (type(answer) is not int or answer < 0):
            raise StoreError(
                f"{name}.claim_fires answered {answer!r} for claim {index} (job "
                f"{claims[index][0]!r}): each answer must be None (lost) or an int >= 0 "
                "(won; the job's runs other processes hold), see docs/writing-a-store.md"
            )
    return answers


def loaded_from(store: JobStore) -> list[Job]:
    """``store.load_jobs()``, each job's times checked to be aware (the engine compares
    them as instants)."""
    jobs = store.load_jobs()
    if _own(store):
        return jobs
    for job in jobs:
        for field in ("next_fire", "start", "end"):
            value = getattr(job, field)
            if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
                raise StoreError(
                    f"{type(store).__name__}.load_jobs returned job {job.id!r} with "
                    f"{field}={value!r}: a store must give back aware datetimes (the "
                    "instants it was given), see docs/writing-a-store.md"
                )
    return jobs
