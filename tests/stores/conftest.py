"""The ``store`` fixture: every job store, so one contract suite checks them all.

To check a new store, append one entry to :data:`STORE_FACTORIES`: a factory that
takes a fresh temporary directory (for stores that keep a file) and returns an
unopened store, with the test id to show for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tickwork.stores import JobStore, MemoryStore, SQLiteStore

StoreFactory = Callable[[Path], JobStore]

STORE_FACTORIES: list[Any] = [
    pytest.param(lambda directory: MemoryStore(), id="memory"),
    pytest.param(lambda directory: SQLiteStore(directory / "jobs.db"), id="sqlite"),
    pytest.param(lambda directory: SQLiteStore(":memory:"), id="sqlite-memory"),
]


@pytest.fixture(params=STORE_FACTORIES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    factory: StoreFactory = request.param
    opened = factory(tmp_path)
    opened.open()
    yield opened
    opened.close()
