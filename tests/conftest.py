"""Shared test configuration.

Hypothesis runs with a bounded, derandomized profile on CI (HYPOTHESIS_PROFILE=ci,
set by .ci/run) so the suite is quick and never flaky; locally the "dev" profile
explores a little more. Neither has a deadline: timing belongs in benchmarks/.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Drop the PostgreSQL schemas kept for reuse (tests/pg.py)."""
    from . import pg

    if pg._spares:
        pg.drop_spares()
