"""docs/workflows.md: its ETL example runs as written and prints what the page shows."""

from __future__ import annotations

import contextlib
import io
import logging
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "workflows.md"


def test_the_etl_example_prints_what_the_page_shows(caplog: pytest.LogCaptureFixture) -> None:
    if not DOC.exists():
        pytest.skip("docs/ is not part of this copy of the tests")
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Chaining") : text.index("### The slot")]
    code = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL)
    shown = re.search(r"```text\n(.*?)```", section, flags=re.DOTALL)
    assert code is not None
    assert shown is not None
    out = io.StringIO()
    with caplog.at_level(logging.ERROR, logger="tickwork"), contextlib.redirect_stdout(out):
        exec(compile(code.group(1), "docs/workflows.md", "exec"), {"__name__": "docs_example"})
    assert out.getvalue() == shown.group(1)
    assert "the warehouse is read-only" in caplog.text  # the failed load was logged
