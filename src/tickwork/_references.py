"""Function references, both directions: ``"package.module:qualname"`` and the object it names.

A job that outlives its process (a stored job) or runs in another one (a process
executor) holds its function as a reference. This module is the one place that knows
how one is made (:func:`reference_of`: only when importing it gives the same function
back), why one cannot be made (:func:`why_no_reference`), how one is imported
(:func:`resolve_reference`, and :class:`FunctionCache` to import each only once), and
how a reader that must run no code from its data turns one into text instead
(:func:`references_as_text`).

It imports nothing from tickwork but the errors, so every layer may use it (the
executors resolve references in worker threads and processes).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from ._errors import JobLookupError

__all__ = [
    "FUNCTIONS",
    "FunctionCache",
    "being_defined",
    "function_of",
    "imports_allowed",
    "reference_of",
    "references_as_text",
    "resolve_reference",
    "stand_in",
    "why_no_reference",
]


def resolve_reference(reference: str) -> Callable[..., Any]:
    """Import ``"package.module:qualified.name"`` and return the callable it names.

    Raises:
        ValueError: *reference* does not look like ``"package.module:name"``.
        JobLookupError: the module or attribute cannot be found (a ``LookupError``).
        TypeError: it names something that is not callable.
        Whatever importing the module raises, when it is not imported yet.
    """
    module_name, sep, qualname = reference.partition(":")
    if not sep or not module_name or not qualname:
        raise ValueError(
            f"function reference {reference!r} must look like 'package.module:function'"
        )
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise JobLookupError(
            f"cannot import module {module_name!r} of {reference!r}: {error}"
        ) from None
    for part in qualname.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise JobLookupError(f"{reference!r}: {module_name!r} has no {qualname!r}") from None
    if not callable(target):
        raise TypeError(f"{reference!r} names a {type(target).__name__}, not a callable")
    return target  # type: ignore[no-any-return]


def being_defined(func: Callable[..., Any]) -> bool:
    """Whether *func* is a top-level function of a module that is still being imported,
    its name not bound yet: a decorator such as ``@scheduler.interval(...)`` sees its
    function at that moment. Its ``"module:name"`` reference will resolve once the
    module has finished importing."""
    module_name = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not isinstance(module_name, str) or not isinstance(qualname, str):
        return False
    if "." in qualname or "<" in qualname or not inspect.isfunction(func):
        return False
    module = sys.modules.get(module_name)
    return module is not None and not hasattr(module, qualname)


def reference_of(func: Callable[..., Any]) -> str | None:
    """``"module:qualname"`` when importing that gives *func* back, else None.

    A function decorated while its module is still being imported (see
    :func:`being_defined`) gets its reference: the name is bound just after. Answers
    are cached for hashable callables (a function's reference does not change).

    Raises:
        Whatever importing *func*'s module raises (other than the lookup, type and value
        errors that mean "no reference"), when that module is not imported yet.
    """
    try:
        return _cached_reference(func)
    except TypeError:  # an unhashable callable
        return _find_reference(func)


@functools.lru_cache(maxsize=1024)
def _cached_reference(func: Callable[..., Any]) -> str | None:
    return _find_reference(func)


def _find_reference(func: Callable[..., Any]) -> str | None:
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        return None
    reference = f"{module}:{qualname}"
    if being_defined(func):
        return reference  # decorated at import time: the name is bound just after
    found = _imported(reference)
    if found is not None and found == func:
        return reference
    # An object proxy (Celery's ``@app.task`` gives one) forwards ``__qualname__`` and
    # ``__class__`` to what it stands for, but ``__module__`` is its own class's: the
    # class it stands for tells the module the name is bound in.
    kind = getattr(func, "__class__", None)
    if kind is not type(func) and isinstance(kind, type) and kind.__module__ != module:
        reference = f"{kind.__module__}:{qualname}"
        found = _imported(reference)
        if found is not None and found == func:
            return reference
    return None


def _imported(reference: str) -> Any:
    """What *reference* names, or None when it names nothing callable."""
    try:
        return resolve_reference(reference)
    except (LookupError, TypeError, ValueError):
        return None


def _type_name(value: object) -> str:
    kind = type(value)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def why_no_reference(func: Any) -> str:
    """Why *func* has no ``"module:qualname"`` that imports back to it, as a clause
    (``"it is a lambda, ..."``) for an error message."""
    qualname = getattr(func, "__qualname__", None)
    if inspect.ismethod(func) and not isinstance(func.__self__, type):
        return "it is a method bound to an instance, which importing cannot give back"
    if isinstance(qualname, str) and "<lambda>" in qualname:
        return "it is a lambda, which has no name it can be imported by"
    if isinstance(qualname, str) and "<locals>" in qualname:
        return (
            "it is defined inside another function (a nested function or closure), "
            "so it cannot be imported"
        )
    module = getattr(func, "__module__", None)
    if not isinstance(qualname, str) or not isinstance(module, str):
        return f'it is a {_type_name(func)} object, which has no "module:qualname"'
    return f"importing {module}:{qualname} does not give this function back"


class FunctionCache:
    """The functions references name, each imported once (a scheduler loading
    thousands of stored jobs of a few functions imports a few)."""

    __slots__ = ("_found",)

    def __init__(self) -> None:
        self._found: dict[str, Callable[..., Any]] = {}

    def __call__(self, reference: str) -> Callable[..., Any]:
        """The function *reference* names, imported on first use.

        Raises:
            What :func:`resolve_reference` raises; a failure is not remembered, so a
            module that can be imported later is.
        """
        found = self._found.get(reference)
        if found is None:
            found = self._found[reference] = resolve_reference(reference)
        return found

    def resolve(self, func: Callable[..., Any] | str) -> tuple[Callable[..., Any], str | None]:
        """A job's function and its reference, from either (``add_job``'s *func*).

        Returns ``(function, reference)``; the reference is None for a callable that no
        import gives back (a lambda, a closure, a bound method).

        Raises:
            TypeError: *func* is neither callable nor a string.
            What :func:`resolve_reference` raises, for a string.
        """
        if isinstance(func, str):
            return self(func), func
        if not callable(func):
            raise TypeError(
                f"func must be a callable or a 'module:function' reference, got "
                f"{type(func).__name__} {func!r}"
            )
        return func, reference_of(func)


# -- references as text -----------------------------------------------------------------

#: Set while decoding for a reader that must run no code from the data (see
#: :func:`references_as_text`).
_as_text: ContextVar[bool] = ContextVar("tickwork_references_as_text", default=False)


@contextlib.contextmanager
def references_as_text() -> Iterator[None]:
    """Decode without importing anything, in this thread or task, for the block.

    Importing a module runs its code, so a tool that only looks at a job file (the
    command line's ``jobs`` and ``history``) must not import the modules its rows
    name: a ``retry_on`` type decodes to a stand-in exception class that keeps the
    reference as text (``RetryPolicy.to_dict()`` gives it back unchanged). Function
    references (``func_ref``) are never imported by decoding in any case.
    """
    token = _as_text.set(True)
    try:
        yield
    finally:
        _as_text.reset(token)


def imports_allowed() -> bool:
    """False inside :func:`references_as_text`: references must not be imported."""
    return not _as_text.get()


def stand_in(reference: str) -> type[BaseException]:
    """An exception class named by *reference* (``"module:qualname"``), not imported.

    The same class for the same reference (cached), so that a job decoded twice is
    equal to itself: a tool that writes back a job it read this way (pausing it from
    the command line) has its options checked against a second decoding.

    Raises:
        ValueError: *reference* does not look like ``"package.module:Name"``.
    """
    return _stand_in(reference)


@functools.lru_cache(maxsize=4096)
def _stand_in(reference: str) -> type[BaseException]:
    module, sep, qualname = reference.partition(":")
    if not sep or not module or not qualname:
        raise ValueError(f"retry_on {reference!r} must look like 'package.module:Name'")
    return type(qualname.rpartition(".")[2], (Exception,),
                {"__module__": module, "__qualname__": qualname})  # fmt: skip


#: The process's functions by reference: the engines' and the runs' lookups share it.
FUNCTIONS = FunctionCache()


def function_of(reference: str) -> Callable[..., Any]:
    """The function *reference* names, imported once per process: how a run whose
    request carries only the reference (a job loaded from a store) finds its function.

    Raises:
        What :func:`resolve_reference` raises.
    """
    return FUNCTIONS(reference)
