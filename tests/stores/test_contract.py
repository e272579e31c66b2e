"""Every store of tickwork passes the store contract suites, run as a user would run
them on a store of their own (``tickwork.testing.JobStoreContract`` and
``SharedJobStoreContract``; the promises are the docstrings of ``tickwork.stores``).

To check another store, subclass the suite that fits it here, as these classes do.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest

from tickwork.stores import JobStore, MemoryStore, SharedJobStore, SQLiteStore
from tickwork.stores import sqlite as sqlite_module
from tickwork.testing import JobStoreContract, SharedJobStoreContract

from .. import dbfile

#: A trigger no tickwork knows: the row cannot be loaded.
UNKNOWN_TRIGGER = '{"type": "sundial"}'
#: Store a row's change as a write by another process would: with a newer change counter.
BREAK = f"UPDATE jobs SET trigger = ?, seq = ({sqlite_module._LATEST}) + 1 WHERE id = ?"


class TestMemoryStore(JobStoreContract):
    history_retention = 50

    @pytest.fixture
    def store(self) -> MemoryStore:
        return MemoryStore(history=50)


class TestSQLiteStore(SharedJobStoreContract):
    history_retention = 50
    lease_time = 9.0

    @pytest.fixture
    def store(self, tmp_path: Path) -> SQLiteStore:
        return SQLiteStore(tmp_path / "jobs.db", history_per_job=50, lease_time=9)

    @pytest.fixture
    def peer_store(self, tmp_path: Path) -> SQLiteStore:
        return SQLiteStore(tmp_path / "jobs.db", history_per_job=50, lease_time=9)

    def break_job(self, store: JobStore, job_id: str) -> None:
        with dbfile.connect(cast(SQLiteStore, store).path) as conn:
            conn.execute(BREAK, (UNKNOWN_TRIGGER, job_id))


class TestSQLiteStoreInMemory(SharedJobStoreContract):
    """A database in memory belongs to its one connection: there is no peer."""

    history_retention = 100

    @pytest.fixture
    def store(self) -> SQLiteStore:
        return SQLiteStore(":memory:")

    def break_job(self, store: JobStore, job_id: str) -> None:
        cast(SQLiteStore, store)._connection().execute(BREAK, (UNKNOWN_TRIGGER, job_id))


# -- beyond the suites: tickwork's own stores ---------------------------------------------


@pytest.mark.parametrize(
    "make", [MemoryStore, lambda: SQLiteStore(":memory:")], ids=["memory", "sqlite"]
)
def test_stored_records_have_no_scheduler_link(make: Any) -> None:
    from tests.jobs_for_tests import noop  # noqa: F401  (an importable function)
    from tickwork.stores._contract import make_job

    engine = cast(Any, object())
    with make() as store:
        store.add_job(make_job(_control=engine))
        assert store.get_job("a")._control is None
        store.update_job(make_job(name="renamed", _control=engine))
        assert store.get_job("a")._control is None
        assert all(job._control is None for job in store.get_jobs())


def test_the_protocols_tell_a_shared_store_from_one_of_one_process() -> None:
    memory, sqlite = MemoryStore(), SQLiteStore(":memory:")
    assert isinstance(memory, JobStore)
    assert not isinstance(memory, SharedJobStore)
    assert isinstance(sqlite, SharedJobStore)
    assert isinstance(sqlite, JobStore)
    assert (memory.persistent, sqlite.persistent) == (False, True)
    # As when JobStore was an abstract base class: by inheritance.
    assert issubclass(MemoryStore, JobStore)
    assert not issubclass(MemoryStore, SharedJobStore)
    assert issubclass(SQLiteStore, SharedJobStore)


def test_a_store_that_is_not_a_subclass_is_one_by_its_members() -> None:
    class Structural:
        """Every member of JobStore, and no base class."""

    for name in dir(JobStore):
        if not name.startswith("_") or name in ("__enter__", "__exit__"):
            setattr(Structural, name, getattr(JobStore, name))
    assert isinstance(Structural(), JobStore)
    assert not isinstance(Structural(), SharedJobStore)
    assert not isinstance(object(), JobStore)


def test_importing_the_testing_helpers_imports_neither_pytest_nor_hypothesis() -> None:
    code = (
        "import sys, tickwork.testing, tickwork.stores.codec; "
        "loaded = sorted({'pytest', 'hypothesis', '_pytest'} & set(sys.modules)); "
        "assert not loaded, loaded; "
        "from tickwork.testing import JobStoreContract; "
        "assert 'pytest' in sys.modules and 'hypothesis' not in sys.modules"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    import tickwork.testing

    with pytest.raises(AttributeError, match="NoSuchContract"):
        tickwork.testing.NoSuchContract  # noqa: B018
