"""The command line, driven through main(argv) and once as `python -m tickwork`."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest

from tickwork.cli import main


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), out=out)
    return status, out.getvalue()


def test_next_prints_fire_times_in_the_zone() -> None:
    status, text = run(
        "next", "30 2 * * *", "--tz", "America/New_York", "-n", "2",
        "--after", "2024-03-09T12:00:00-05:00",
    )  # fmt: skip
    assert status == 0
    lines = text.splitlines()
    assert lines[0].endswith("(America/New_York)")
    assert lines[1].split()[0] == "2024-03-10T03:00:00-04:00"
    assert lines[2].split()[0] == "2024-03-11T02:30:00-04:00"


def test_explain() -> None:
    status, text = run("explain", "0 9 * * mon-fri")
    assert status == 0
    assert "09:00" in text
    assert "Monday" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["next", "61 * * * *"], "minute field '61'"),
        (["next", "* * * * *", "--tz", "Nowhere/Land"], "Nowhere/Land"),
        (["next", "* * * * *", "--after", "2024-01-01T00:00"], "offset"),
        (["next", "* * * * *", "-n", "0"], "--count"),
        (["demo", "--duration", "0"], "--duration"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, out=io.StringIO()) == 2
    assert message in capsys.readouterr().err


def test_demo_fires_live_and_summarizes() -> None:
    status, text = run("demo", "--duration", "1.6")
    assert status == 0
    assert "2024-03-10" not in text  # month-day form is used for the DST samples
    assert "03-10 03:00-0400" in text  # 02:30 in a New York gap fires at 03:00 EDT
    fired = [line for line in text.splitlines() if " fired " in line]
    total = int(re.search(r"Summary: (\d+) fires", text).group(1))  # type: ignore[union-attr]
    assert total == len(fired) >= 1
    assert "lateness: max" in text


def test_python_dash_m_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tickwork", "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("tickwork ")
