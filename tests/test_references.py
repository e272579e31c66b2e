"""Function references, both directions (``tickwork._references``)."""

from __future__ import annotations

import functools
import sys
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tickwork import JobLookupError, _context, _references
from tickwork._references import (
    FunctionCache,
    imports_allowed,
    reference_of,
    references_as_text,
    resolve_reference,
    stand_in,
    why_no_reference,
)

HERE = __name__


def work() -> str:
    return "work"


class Holder:
    def method(self) -> None:
        pass

    @classmethod
    def make(cls) -> Holder:
        return cls()


def _closure() -> Callable[[], None]:
    def inner() -> None:
        pass

    return inner


@functools.wraps(work)
def impostor() -> str:  # claims to be ``work``; importing that name gives ``work``
    return "impostor"


class Unhashable:
    """A callable instance that cannot be a cache key."""

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, name: str) -> None:
        self.__qualname__ = name  # found by name, like a function
        self.__module__ = HERE

    def __call__(self) -> None:
        pass


SHARED = Unhashable("SHARED")
NOT_CALLABLE = 42


# -- reference_of -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("func", "expected"),
    [
        pytest.param(work, f"{HERE}:work", id="function"),
        pytest.param(Holder.method, f"{HERE}:Holder.method", id="method-of-a-class"),
        pytest.param(Holder.make, f"{HERE}:Holder.make", id="classmethod"),
        pytest.param(Holder, f"{HERE}:Holder", id="class"),
        pytest.param(SHARED, f"{HERE}:SHARED", id="unhashable"),
        pytest.param(lambda: None, None, id="lambda"),
        pytest.param(_closure(), None, id="closure"),
        pytest.param(Holder().method, None, id="bound-to-an-instance"),
        pytest.param(functools.partial(work), None, id="partial"),
        pytest.param(impostor, None, id="name-imports-something-else"),
    ],
)
def test_reference_of(func: Callable[..., Any], expected: str | None) -> None:
    assert reference_of(func) == expected
    if expected is not None:
        assert resolve_reference(expected) == func


@pytest.fixture
def module_being_imported() -> Iterator[types.ModuleType]:
    module = types.ModuleType("tickwork_test_half_imported")
    sys.modules[module.__name__] = module
    yield module
    del sys.modules[module.__name__]


def test_a_function_of_a_module_still_being_imported_has_its_reference(
    module_being_imported: types.ModuleType,
) -> None:
    # What a decorator sees at import time: the name is bound only after it returns.
    def job() -> None:
        pass

    job.__module__ = module_being_imported.__name__
    job.__qualname__ = "job"
    assert reference_of(job) == "tickwork_test_half_imported:job"
    module_being_imported.job = job  # type: ignore[attr-defined]
    assert resolve_reference("tickwork_test_half_imported:job") is job


# -- resolve_reference ------------------------------------------------------------------


def test_resolve_reference_imports_what_it_names() -> None:
    assert resolve_reference(f"{HERE}:work") is work
    assert resolve_reference(f"{HERE}:Holder.make")() .__class__ is Holder  # fmt: skip
    assert resolve_reference("tests.jobs_for_tests:noop").__name__ == "noop"


@pytest.mark.parametrize(
    ("reference", "error", "words"),
    [
        ("work", ValueError, "must look like 'package.module:function'"),
        (":work", ValueError, "must look like"),
        (f"{HERE}:", ValueError, "must look like"),
        ("tests.no_such_module:work", JobLookupError, "cannot import module"),
        (f"{HERE}:nothing", JobLookupError, "has no 'nothing'"),
        (f"{HERE}:Holder.nothing", JobLookupError, "has no 'Holder.nothing'"),
        (f"{HERE}:NOT_CALLABLE", TypeError, "names a int, not a callable"),
    ],
)
def test_resolve_reference_says_what_is_wrong(
    reference: str, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        resolve_reference(reference)


def test_context_still_offers_the_reference_helpers() -> None:
    assert _context.resolve_reference is _references.resolve_reference
    assert _context.being_defined is _references.being_defined


# -- why_no_reference -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("func", "words"),
    [
        (lambda: None, "it is a lambda"),
        (_closure(), "defined inside another function"),
        (Holder().method, "method bound to an instance"),
        (functools.partial(work), 'functools.partial object, which has no "module:qualname"'),
        (impostor, f"importing {HERE}:work does not give this function back"),
    ],
)
def test_why_no_reference_explains_each_case(func: Callable[..., Any], words: str) -> None:
    assert reference_of(func) is None
    assert words in why_no_reference(func)


# -- FunctionCache ----------------------------------------------------------------------


@pytest.fixture
def resolved(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The references the cache asks the importer for."""
    asked: list[str] = []
    real = _references.resolve_reference

    def counting(reference: str) -> Callable[..., Any]:
        asked.append(reference)
        return real(reference)

    monkeypatch.setattr(_references, "resolve_reference", counting)
    return asked


def test_the_cache_imports_each_reference_once(resolved: list[str]) -> None:
    cache = FunctionCache()
    assert cache(f"{HERE}:work") is work
    assert cache(f"{HERE}:work") is work
    assert cache(f"{HERE}:Holder") is Holder
    assert resolved == [f"{HERE}:work", f"{HERE}:Holder"]


def test_the_cache_forgets_failures(
    resolved: list[str], module_being_imported: types.ModuleType
) -> None:
    cache = FunctionCache()
    reference = "tickwork_test_half_imported:late"
    with pytest.raises(JobLookupError):
        cache(reference)
    module_being_imported.late = work  # type: ignore[attr-defined]
    assert cache(reference) is work
    assert resolved == [reference, reference]


def test_resolve_takes_a_function_or_a_reference() -> None:
    cache = FunctionCache()
    assert cache.resolve(work) == (work, f"{HERE}:work")
    assert cache.resolve(f"{HERE}:work") == (work, f"{HERE}:work")
    closure = _closure()
    assert cache.resolve(closure) == (closure, None)


def test_resolve_refuses_what_is_neither() -> None:
    with pytest.raises(TypeError, match="func must be a callable or a 'module:function'"):
        FunctionCache().resolve(42)  # type: ignore[arg-type]


# -- references as text -----------------------------------------------------------------


def test_references_as_text_holds_for_the_block_in_this_thread_only() -> None:
    seen: list[bool] = []
    assert imports_allowed()
    with references_as_text():
        assert not imports_allowed()
        other = threading.Thread(target=lambda: seen.append(imports_allowed()))
        other.start()
        other.join()
    assert imports_allowed()
    assert seen == [True]


def test_references_as_text_ends_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), references_as_text():
        raise RuntimeError("boom")
    assert imports_allowed()


def test_a_stand_in_keeps_the_reference_and_imports_nothing() -> None:
    kind = stand_in("tickwork_test_never_imported.errors:Outer.Flaky")
    assert issubclass(kind, Exception)
    assert kind.__name__ == "Flaky"
    assert f"{kind.__module__}:{kind.__qualname__}" == (
        "tickwork_test_never_imported.errors:Outer.Flaky"
    )
    assert "tickwork_test_never_imported.errors" not in sys.modules


def test_a_stand_in_needs_a_reference() -> None:
    with pytest.raises(ValueError, match=r"must look like 'package\.module:Name'"):
        stand_in("Flaky")
