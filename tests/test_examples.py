"""Every script in examples/ runs to completion and prints something.

Each script runs in a fresh interpreter (the one running the tests) from the
repository root, with ``src`` first on the path so the working tree is what is
tested, and with warnings turned into errors as in the rest of the suite.

Most of a script's time is spent sleeping while its scheduler runs, so the scripts
the session selected all start together, a few at a time (``PARALLEL``), when the
first of these tests runs; each test then waits for its own script and checks it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
#: Scripts running at once: they mostly sleep, and each is a real-time demo, so not
#: so many that start-ups on two busy cores delay what they show.
PARALLEL = 9
#: The longest a script may take, counted from its own start.
TIMEOUT = 60


def run_script(script: Path) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.fixture(scope="module")
def runs(
    request: pytest.FixtureRequest,
) -> Iterator[dict[Path, Future[subprocess.CompletedProcess[str]]]]:
    """The selected scripts, each started in the background: script -> its result."""
    selected = [
        item.callspec.params["script"]
        for item in request.session.items
        if isinstance(item, pytest.Function)
        and item.originalname == "test_example_runs_and_prints"
        and item.path == Path(__file__)
    ]
    with ThreadPoolExecutor(PARALLEL) as pool:
        futures = {script: pool.submit(run_script, script) for script in selected}
        yield futures
        for future in futures.values():
            future.cancel()


def test_there_are_examples() -> None:
    if not (ROOT / "examples").is_dir():
        pytest.skip("examples/ is not part of this copy of the tests (an sdist?)")
    assert EXAMPLES, f"no scripts found in {ROOT / 'examples'}"


@pytest.mark.parametrize("script", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_runs_and_prints(
    script: Path, runs: dict[Path, Future[subprocess.CompletedProcess[str]]]
) -> None:
    started = runs.get(script)
    done = started.result() if started is not None else run_script(script)
    assert done.returncode == 0, f"{script.name} exited with {done.returncode}:\n{done.stderr}"
    assert done.stdout.strip(), f"{script.name} printed nothing"
