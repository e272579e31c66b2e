"""The public surface: ``__all__`` is sorted, complete and accurate, and the version agrees
with pyproject.toml."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

import tickwork
import tickwork.triggers

PACKAGES = [tickwork, tickwork.triggers]
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _ids(module: types.ModuleType) -> str:
    return module.__name__


@pytest.mark.parametrize("package", PACKAGES, ids=_ids)
def test_all_is_sorted_without_duplicates(package: types.ModuleType) -> None:
    assert package.__all__ == sorted(set(package.__all__))


@pytest.mark.parametrize("package", PACKAGES, ids=_ids)
def test_every_name_in_all_exists(package: types.ModuleType) -> None:
    missing = [name for name in package.__all__ if not hasattr(package, name)]
    assert not missing


@pytest.mark.parametrize("package", PACKAGES, ids=_ids)
def test_every_public_attribute_is_in_all(package: types.ModuleType) -> None:
    public = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        # `from __future__ import annotations` leaves an `annotations` attribute behind.
        and type(value).__module__ != "__future__"
    }
    assert sorted(public - set(package.__all__)) == []


def test_version_matches_pyproject() -> None:
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")
    with PYPROJECT.open("rb") as handle:
        project = tomllib.load(handle)["project"]
    assert tickwork.__version__ == project["version"]
