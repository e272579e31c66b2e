"""docs/observability.md agrees with the code: its examples print what it shows, and its
tables list the metric families the code writes, each once."""

from __future__ import annotations

import contextlib
import io
import logging
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tickwork import Scheduler
from tickwork.executors import InlineExecutor
from tickwork.metrics import instrument, store_families
from tickwork.stores import SQLiteStore
from tickwork.testing import FakeClock

DOCS = Path(__file__).resolve().parent.parent / "docs"
DOC = DOCS / "observability.md"
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def section(heading: str, doc: Path = DOC) -> str:
    if not doc.exists():
        pytest.skip("docs/ is not part of this copy of the tests")
    text = doc.read_text(encoding="utf-8")
    start = text.index(heading)
    ends = [text.find(mark, start + len(heading)) for mark in ("\n## ", "\n### ")]
    end = min((found for found in ends if found != -1), default=len(text))
    return text[start:end]


def example(heading: str, doc: Path = DOC) -> tuple[str, str]:
    part = section(heading, doc)
    code = re.search(r"```python\n(.*?)```", part, flags=re.DOTALL)
    shown = re.search(r"```text\n(.*?)```", part, flags=re.DOTALL)
    assert code is not None
    assert shown is not None
    return code.group(1), shown.group(1)


def run(code: str) -> str:
    out = io.StringIO()
    logger = logging.getLogger("tickwork")
    handlers, propagate = list(logger.handlers), logger.propagate
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(DOC), "exec"), {"__name__": "docs_example"})
    finally:
        logger.handlers[:] = handlers
        logger.propagate = propagate
    return out.getvalue()


@pytest.mark.parametrize("heading", ["## Metrics", "## Logs"])
def test_the_example_prints_what_the_docs_show(heading: str) -> None:
    code, shown = example(heading)
    assert run(code) == shown


def test_the_run_hook_example_of_the_executors_page_prints_what_it_shows() -> None:
    code, shown = example("## Run hooks", DOCS / "executors.md")
    assert run(code) == shown


def table_names(heading: str) -> list[str]:
    rows = re.findall(r"^\| (`tickwork_[^|]*`) \|", section(heading), flags=re.MULTILINE)
    return [name for row in rows for name in re.findall(r"`(tickwork_\w+)`", row)]


def written(families: list[object]) -> set[str]:
    return {
        family.name + ("_total" if family.kind == "counter" else "")  # type: ignore[attr-defined]
        for family in families
    }


def test_the_tables_list_every_family_written_once(tmp_path: Path) -> None:
    live = table_names("### What a running scheduler reports")
    alone = table_names("### What a store alone reports")
    assert len(live) == len(set(live))
    assert len(alone) == len(set(alone))
    runner = Scheduler(clock=FakeClock(T0), executors={"default": InlineExecutor()})
    metrics = instrument(runner)
    runner.add_job(print, "interval", seconds=10, id="a")
    runner.open()
    assert written(metrics.families()) == set(live)
    runner.shutdown()
    with SQLiteStore(tmp_path / "jobs.db") as store:
        store.maintain(T0)
        assert written(store_families(store, now=T0 + timedelta(seconds=1))) == set(alone)
