"""The public surface: ``__all__`` is sorted, complete and accurate, and the version agrees
with pyproject.toml."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

import tickwork
import tickwork.executors
import tickwork.metrics
import tickwork.stores
import tickwork.stores.codec
import tickwork.testing
import tickwork.tracing
import tickwork.triggers
import tickwork.web

PACKAGES = [
    tickwork,
    tickwork.executors,
    tickwork.metrics,
    tickwork.stores,
    tickwork.stores.codec,
    tickwork.testing,
    tickwork.tracing,
    tickwork.triggers,
    tickwork.web,
]
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _ids(module: types.ModuleType) -> str:
    return module.__name__


def _defined_within(value: object, package: types.ModuleType) -> bool:
    """Whether *value* comes from *package* or a module inside it: what it names as its
    own. (A module may import other things for its own use, such as ``datetime`` or
    another tickwork module's names; those are not its API.)"""
    module = getattr(value, "__module__", None)
    if not isinstance(module, str):
        return True  # a constant: defined where it is found
    name = package.__name__
    return module == name or module.startswith(f"{name}.")


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
        and name != "TYPE_CHECKING"  # imported from typing for annotations
        and _defined_within(value, package)
    }
    assert sorted(public - set(package.__all__)) == []


def test_a_public_name_from_elsewhere_counts_only_in_its_own_package() -> None:
    # tickwork.testing uses datetime; tickwork re-exports what its private modules define.
    assert not _defined_within(tickwork.testing.datetime, tickwork.testing)
    assert _defined_within(tickwork.Scheduler, tickwork)
    assert _defined_within(tickwork.stores.MemoryStore, tickwork.stores)
    assert not _defined_within(tickwork.Scheduler, tickwork.stores)


def test_version_matches_pyproject() -> None:
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")
    with PYPROJECT.open("rb") as handle:
        project = tomllib.load(handle)["project"]
    assert tickwork.__version__ == project["version"]
