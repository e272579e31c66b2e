"""A SQLite store's file is closed by whoever opened it, never left to the garbage
collector: by the store's ``with`` block, by ``close()`` (twice is harmless), and by a
scheduler whose start failed. SQLite removes the write-ahead log when the last
connection to a file closes, so a missing ``-wal`` file shows that it was closed.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from tickwork import Scheduler, StoreError
from tickwork.executors import InlineExecutor
from tickwork.stores import SQLiteStore
from tickwork.testing import FakeClock

T0 = datetime(2024, 1, 1, 12, tzinfo=timezone.utc)
RECORD = "tests.stores.sqlite_jobs:record"


def wal(db: Path) -> Path:
    return db.with_name(db.name + "-wal")


def test_a_store_is_a_context_manager_and_closing_twice_is_harmless(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    with SQLiteStore(db) as store:
        assert wal(db).exists()  # opened on entering the block
        Scheduler(store=store, timezone="UTC").add_job(RECORD, "interval", seconds=5, id="j")
    assert not wal(db).exists()
    store.close()
    with SQLiteStore(db) as again:  # a closed store opens again when used
        assert [job.id for job in again.get_jobs()] == ["j"]
        again.close()
        assert [job.id for job in again.get_jobs()] == ["j"]
    assert not wal(db).exists()


def test_a_store_left_open_for_the_garbage_collector_warns_naming_its_file(
    tmp_path: Path,
) -> None:
    db = tmp_path / "jobs.db"
    store = SQLiteStore(db)
    store.open()
    with pytest.warns(ResourceWarning, match=r"unclosed SQLiteStore\('.*jobs\.db'\)"):
        del store  # its last reference: CPython finalizes it here
    assert not wal(db).exists()  # and it closed the file


def test_a_scheduler_whose_start_fails_leaves_no_file_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "jobs.db"

    def unreadable(self: SQLiteStore, **_: object) -> list[object]:
        raise StoreError(f"cannot read {self.path!r}")

    # (A scheduler reads the jobs due first, or all of them from a store without pages.)
    monkeypatch.setattr(SQLiteStore, "due_jobs", unreadable)
    monkeypatch.setattr(SQLiteStore, "load_jobs", unreadable)
    scheduler = Scheduler(
        store=SQLiteStore(db),
        clock=FakeClock(T0),
        executors={"default": InlineExecutor()},
        timezone="UTC",
    )
    with pytest.raises(StoreError, match="cannot read"):
        scheduler.start()
    assert not wal(db).exists()
    monkeypatch.undo()
    with scheduler:  # the cause fixed, it starts
        assert scheduler.get_jobs() == []
    assert not wal(db).exists()
