"""The store of ``examples/json_file_store.py`` (the one docs/writing-a-store.md walks
through) passes the store contract suite, run exactly as the guide shows."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tickwork.stores import JobStore
from tickwork.testing import JobStoreContract

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "json_file_store.py"


def _example() -> ModuleType:
    if not EXAMPLE.exists():
        pytest.skip("examples/ is not part of this copy of the tests (an sdist?)")
    name = "tickwork_example_json_file_store"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, EXAMPLE)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


class TestJsonFileStore(JobStoreContract):
    history_retention = 20

    @pytest.fixture
    def store(self, tmp_path: Path) -> JobStore:
        store: JobStore = _example().JsonFileStore(tmp_path / "jobs.json", history=20)
        return store

    def break_job(self, store: JobStore, job_id: str) -> None:
        # Edit the file as a newer program (or a bad disk) might, then read it again.
        path = store.path  # type: ignore[attr-defined]
        data = json.loads(path.read_text(encoding="utf-8"))
        data["jobs"][job_id]["trigger"] = '{"type": "sundial"}'
        path.write_text(json.dumps(data), encoding="utf-8")
        store.close()
        store.open()


def test_the_file_holds_plain_json_rows(tmp_path: Path) -> None:
    from tickwork.stores._contract import make_job

    store = _example().JsonFileStore(tmp_path / "jobs.json")
    store.add_job(make_job("a", args=(1, "two")))
    rows = json.loads((tmp_path / "jobs.json").read_text(encoding="utf-8"))["jobs"]
    assert rows["a"]["args"] == '[1,"two"]'
    assert rows["a"]["next_fire_us"] == 1_704_110_400_000_000
    # A second store object on the file reads the same job.
    assert _example().JsonFileStore(tmp_path / "jobs.json").get_job("a") == make_job(
        "a", args=(1, "two")
    )


def test_a_file_that_is_not_a_job_file_is_a_store_error(tmp_path: Path) -> None:
    from tickwork import StoreError

    (tmp_path / "jobs.json").write_text("my notes", encoding="utf-8")
    with pytest.raises(StoreError, match="not a job file"):
        _example().JsonFileStore(tmp_path / "jobs.json").open()
