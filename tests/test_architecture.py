"""The layers of ``.importlinter`` cover every module, and the contract holds.

``lint-imports`` checks only the modules a contract names: a new module left out of
the layers would be checked by nothing. These tests make leaving one out fail.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "tickwork"


def _layers() -> list[set[str]]:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    lines = config["importlinter:contract:layers"]["layers"].split("\n")
    return [{name.strip() for name in line.split("|")} for line in lines if line.strip()]


def _top_level_modules() -> set[str]:
    names = {path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__"}
    names |= {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    return names


def test_every_module_is_in_one_layer() -> None:
    placed = [name for layer in _layers() for name in layer]
    assert len(placed) == len(set(placed)), "a module is in two layers"
    assert set(placed) == _top_level_modules()


def test_the_engine_sits_below_the_drivers_and_above_the_stores() -> None:
    order = {name: depth for depth, layer in enumerate(_layers()) for name in layer}
    assert order["scheduler"] < order["_engine"] < order["stores"] < order["_core"]
    assert order["aio"] == order["scheduler"]
    assert order["_core"] < order["triggers"]


def _lint_imports() -> str | None:
    beside = Path(sys.executable).with_name("lint-imports")
    return str(beside) if beside.exists() else shutil.which("lint-imports")


@pytest.mark.skipif(_lint_imports() is None, reason="import-linter not installed")
def test_the_import_contract_holds() -> None:
    command = [str(_lint_imports()), "--no-cache"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_module_is_over_850_lines() -> None:
    # A module a newcomer can read: split by responsibility before it grows past this.
    sizes = {
        str(path.relative_to(PACKAGE)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert {name: size for name, size in sizes.items() if size > 850} == {}
