"""The table of job options (``tickwork._options``): what add_job, modify_job and the
row codec read, checked against the code that declares each option."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tickwork import Catchup, Job, Overlap, RetryPolicy, Scheduler
from tickwork import _serialize as codec
from tickwork._options import (
    FIELD_DEFAULTS,
    OPTION_NAMES,
    OPTIONS,
    _Subject,
    check_options,
    options_of,
)
from tickwork.executors import AsyncioExecutor, Executor, InlineExecutor
from tickwork.triggers import IntervalTrigger

T0 = datetime(2024, 1, 1, 12, tzinfo=timezone.utc)
REF = "tests.test_options:work"


def work(a: int = 0, b: int = 0) -> int:
    return a + b


async def work_async(*args: object) -> None:
    pass


class Recording(Executor):
    """An executor that runs nothing and remembers what ``check`` was asked."""

    def __init__(self, *, coroutines: bool = False) -> None:
        self.runs_coroutines = coroutines  # type: ignore[misc]  # per instance here
        self.checked: list[tuple[Any, ...]] = []

    def submit(self, request: Any) -> None:
        raise AssertionError("nothing is submitted in these tests")

    def check(
        self,
        func: Callable[..., Any] | None,
        func_ref: str | None,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
    ) -> None:
        self.checked.append((func, func_ref, args, kwargs))

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        pass


def never() -> Executor:
    raise AssertionError("no asyncio executor should be made here")


def check(
    given: Mapping[str, Any] | None = None,
    *,
    func: Callable[..., Any] = work,
    func_ref: str | None = REF,
    executors: Mapping[str, Executor] | None = None,
    make_asyncio: Callable[[], Executor] = never,
) -> dict[str, Any]:
    return check_options(
        given or {},
        func=func,
        func_ref=func_ref,
        executors=executors if executors is not None else {"default": Recording()},
        make_asyncio=make_asyncio,
    )


def make_job(**options: Any) -> Job:
    trigger = IntervalTrigger(minutes=5, start=T0, timezone="UTC")
    return Job(id="j", func=work, func_ref=REF, trigger=trigger, **options)


# -- the table against what declares each option ----------------------------------------


def test_the_table_is_add_jobs_keyword_options_with_their_defaults() -> None:
    parameters = inspect.signature(Scheduler.add_job).parameters.values()
    declared = {p.name: p.default for p in parameters if p.kind is p.KEYWORD_ONLY}
    assert {option.name: option.default for option in OPTIONS} == declared
    assert len(OPTIONS) == len(declared)  # no option twice


def test_each_option_sets_the_job_field_of_its_name_and_every_setting_has_one() -> None:
    fields = {option.field for option in OPTIONS if option.field is not None}
    assert all(option.field in (None, option.name) for option in OPTIONS)
    # What is not an option: what the job runs, its schedule state, private links.
    state = {"func", "func_ref", "trigger", "next_fire", "consecutive_failures"}
    public = {item.name for item in dataclasses.fields(Job) if not item.name.startswith("_")}
    assert fields == public - state


def test_field_defaults_are_the_job_records_defaults() -> None:
    job = make_job(name="n")
    for name, default in FIELD_DEFAULTS.items():
        assert getattr(job, name) == default, name


def test_modify_job_accepts_the_checked_options_and_func() -> None:
    checked = {option.name for option in OPTIONS if option.check is not None}
    assert checked | {"func"} == OPTION_NAMES
    assert "id" not in OPTION_NAMES
    assert "paused" not in OPTION_NAMES  # pause_job and resume_job change it
    runner = Scheduler(executors={"default": InlineExecutor()}, timezone="UTC")
    runner.add_job(work, "interval", seconds=10, id="j")
    with pytest.raises(TypeError) as caught:
        runner.modify_job("j", paused=True)
    listed = str(caught.value).split("(changeable: ")[1].split(";")[0]
    assert listed == ", ".join(sorted(OPTION_NAMES))
    runner.shutdown()


def test_reset_by_names_a_checked_option_checked_before() -> None:
    order = [option.name for option in OPTIONS]
    for option in OPTIONS:
        if option.reset_by is not None:
            assert option.reset_by in OPTION_NAMES
            assert order.index(option.reset_by) < order.index(option.name)


# -- the row codec reads the table ------------------------------------------------------


def test_the_codec_stores_every_option_field_without_a_column_of_its_own() -> None:
    expected = [
        option.field
        for option in OPTIONS
        if option.field is not None and option.field not in codec._ROW_FIELDS
    ]
    assert list(codec._OPTION_FIELDS) == expected
    assert set(codec._OPTION_DECODERS) == set(expected)
    assert tuple(FIELD_DEFAULTS[name] for name in expected) == codec._DEFAULT_OPTIONS


def test_a_job_with_the_table_defaults_stores_empty_options() -> None:
    # The encoder leaves out each default: it must be the same default as the table's.
    job = make_job(**check({}))
    assert codec._encode_options(job) == "{}"


# -- check_options ----------------------------------------------------------------------


def test_nothing_given_gives_the_job_defaults() -> None:
    options = check({})
    assert options["name"] == REF
    assert options["executor"] == "default"
    job = make_job(**options)
    for name, default in FIELD_DEFAULTS.items():
        if name != "name":
            assert getattr(job, name) == default, name
    # Checked options without a field (coalesce) are not Job fields.
    assert set(options) == {name for name in OPTION_NAMES if name not in ("func", "coalesce")}


def test_options_left_at_their_default_are_what_their_check_makes_of_it() -> None:
    # check_options runs no check for an option at its default whose value it found
    # once: each value must be what the check, run in table order with the options
    # before it, gives (whatever else is given), as if every check were run.
    def every_check(given: Mapping[str, Any]) -> dict[str, Any]:
        done: dict[str, Any] = {}
        subject = _Subject(work, REF, {"default": Recording()}, never)
        subject.done = done
        for option in OPTIONS:
            if option.check is not None:
                value = given.get(option.name, option.default)
                plain = value is None and option.optional
                done[option.name] = value if plain else option.check(value, subject)
        del done["coalesce"]
        return done

    for given in (
        {},
        {"max_instances": 3, "coalesce": False, "name": "n"},
        {"args": [1], "tags": "t", "after": "up", "on": "any", "max_catchup": 5},
        options_of(every_option()),
    ):
        assert check(given) == every_check(given), given


def test_the_default_name_is_the_reference_else_the_qualname() -> None:
    assert check({}, func_ref=None)["name"] == "work"
    assert check({"name": "nightly"})["name"] == "nightly"


def test_tags_from_a_generator_are_all_kept() -> None:
    # The check read the generator; the set was then built from what was left: none.
    options = check({"tags": (tag for tag in ("a", "b"))})
    assert options["tags"] == frozenset({"a", "b"})


@pytest.mark.parametrize(
    ("option", "value", "error"),
    [
        ("name", 5, TypeError),
        ("args", "ab", TypeError),
        ("args", None, TypeError),
        ("kwargs", {1: 2}, TypeError),
        ("executor", "gpu", ValueError),
        ("executor", ["default"], TypeError),
        ("executor", 5, TypeError),  # (was "unknown executor 5")
        ("tags", [1], TypeError),
        ("tags", {"a": 1}, TypeError),  # (it passed as its keys)
        ("tags", ["", "x"], ValueError),
        ("tags", "", ValueError),  # (it quietly meant no tags)
        ("tags", 0, TypeError),
        ("start", "yesterday", ValueError),
        ("end", 5, TypeError),
        ("misfire_grace_time", -1, ValueError),
        ("misfire_grace_time", 0, ValueError),  # (every run was missed)
        ("misfire_grace_time", timedelta(0), ValueError),
        ("coalesce", "yes", TypeError),
        ("catchup", "most", ValueError),
        ("max_catchup", None, TypeError),
        ("max_catchup", 0, ValueError),
        ("max_instances", 1.5, TypeError),
        ("max_instances", 0, ValueError),
        ("overlap", "queue", ValueError),
        ("jitter", float("inf"), ValueError),
        ("retry", "3", TypeError),
        ("timeout", "10", TypeError),
        ("timeout", 0, ValueError),
        ("max_consecutive_failures", True, TypeError),
        ("remaining_runs", 0, ValueError),
    ],
)
def test_a_wrong_value_is_refused_naming_the_option(
    option: str, value: object, error: type[Exception]
) -> None:
    with pytest.raises(error) as caught:
        check({option: value})
    assert type(caught.value) is error
    assert option in str(caught.value)


def test_the_first_wrong_option_in_table_order_is_reported() -> None:
    with pytest.raises(TypeError, match=r"^name must be a str"):
        check({"max_instances": 0, "name": 5})
    with pytest.raises(ValueError, match="max_instances"):
        check({"overlap": "queue", "max_instances": 0})


def test_optional_options_keep_none() -> None:
    given = {option.name: None for option in OPTIONS if option.optional}
    options = check(given)
    assert all(options[name] is None for name in given if name != "coalesce")


def test_end_before_start_is_refused() -> None:
    with pytest.raises(ValueError, match="is before start"):
        check({"start": T0, "end": T0 - timedelta(seconds=1)})
    assert check({"start": T0, "end": T0})["end"] == T0


def test_values_are_coerced_to_field_types() -> None:
    options = check(
        {
            "args": [1, 2],
            "kwargs": {},
            "tags": "nightly",
            "start": "2024-01-01T12:00:00+00:00",
            "misfire_grace_time": 30,
            "catchup": "all",
            "overlap": "buffer_one",
            "jitter": 0,
            "retry": 4,
            "timeout": timedelta(seconds=90),
        }
    )
    assert options["args"] == (1, 2)
    assert dict(options["kwargs"]) == {}
    assert options["tags"] == frozenset({"nightly"})
    assert options["start"] == T0
    assert options["misfire_grace_time"] == timedelta(seconds=30)
    assert options["catchup"] is Catchup.ALL
    assert options["overlap"] is Overlap.BUFFER_ONE
    assert options["jitter"] is None  # no jitter is None, not zero
    assert options["retry"] == RetryPolicy(attempts=4)
    assert options["timeout"] == 90.0


@pytest.mark.parametrize(
    ("coalesce", "catchup", "expected"),
    [
        (True, None, Catchup.LATEST),
        (False, None, Catchup.ALL),
        (False, "all", Catchup.ALL),
        (None, "earliest", Catchup.EARLIEST),
    ],
)
def test_coalesce_is_the_apscheduler_spelling_of_catchup(
    coalesce: bool | None, catchup: str | None, expected: Catchup
) -> None:
    assert check({"coalesce": coalesce, "catchup": catchup})["catchup"] is expected


def test_coalesce_contradicting_catchup_is_refused() -> None:
    with pytest.raises(ValueError, match="coalesce=True contradicts catchup='all'"):
        check({"coalesce": True, "catchup": "all"})


def test_more_than_one_instance_allows_overlap_unless_told() -> None:
    assert check({"max_instances": 3})["overlap"] is Overlap.ALLOW
    assert check({"max_instances": 1})["overlap"] is Overlap.SKIP
    assert check({"max_instances": 3, "overlap": "skip"})["overlap"] is Overlap.SKIP
    assert check({})["max_instances"] == 1


# -- the executor -----------------------------------------------------------------------


def test_the_executor_checks_the_checked_arguments() -> None:
    pool = Recording()
    check({"executor": "pool", "args": [1], "kwargs": {"b": 2}},
          executors={"default": Recording(), "pool": pool})  # fmt: skip
    assert pool.checked == [(work, REF, (1,), {"b": 2})]


def test_an_unknown_executor_lists_the_configured_ones() -> None:
    executors = {"default": Recording(), "pool": Recording()}
    with pytest.raises(ValueError, match=r"unknown executor 'gpu' \(configured: default, pool\)"):
        check({"executor": "gpu"}, executors=executors)


def test_a_coroutine_function_gets_an_asyncio_executor_made_on_first_use() -> None:
    made: list[Executor] = []

    def make() -> Executor:
        made.append(Recording(coroutines=True))
        return made[-1]

    options = check({}, func=work_async, executors={"default": Recording()}, make_asyncio=make)
    assert options["executor"] == "asyncio"
    assert len(made) == 1
    assert made[0].checked == [(work_async, REF, (), {})]  # type: ignore[attr-defined]


class _AsyncCall:
    async def __call__(self) -> None:
        pass


class _AsyncCallToo(_AsyncCall):
    pass


def test_an_object_whose_call_is_a_coroutine_function_goes_to_asyncio_too() -> None:
    # It went to the thread pool, where each run got a new event loop of its own.
    executors = {"default": Recording(), "asyncio": Recording(coroutines=True)}
    for job in (_AsyncCall(), _AsyncCallToo()):
        assert check({}, func=job, executors=executors)["executor"] == "asyncio"
    # (Not the class itself: calling it makes an object.)
    assert check({}, func=_AsyncCall, executors=executors)["executor"] == "default"


def test_an_existing_asyncio_executor_is_used_and_none_is_made() -> None:
    existing = Recording(coroutines=True)
    executors = {"default": Recording(), "asyncio": existing}
    assert check({}, func=work_async, executors=executors)["executor"] == "asyncio"
    assert existing.checked


def test_a_default_executor_that_runs_coroutines_keeps_coroutine_functions() -> None:
    executors: dict[str, Executor] = {"default": AsyncioExecutor()}
    assert check({}, func=work_async, executors=executors)["executor"] == "default"
    assert check({"executor": "default"}, func=work_async)["executor"] == "default"


def test_check_options_changes_neither_given_nor_executors() -> None:
    given = {"args": [1], "tags": ["a"]}
    executors = {"default": Recording()}
    check(given, executors=executors, func=work_async, make_asyncio=lambda: Recording())
    assert given == {"args": [1], "tags": ["a"]}
    assert list(executors) == ["default"]


# -- options_of -------------------------------------------------------------------------


def every_option() -> Job:
    return make_job(
        name="nightly",
        args=(1,),
        kwargs={"b": 2},
        tags=frozenset({"t"}),
        start=T0,
        end=T0 + timedelta(days=1),
        misfire_grace_time=timedelta(seconds=5),
        catchup=Catchup.EARLIEST,
        max_catchup=7,
        overlap=Overlap.BUFFER_ALL,
        max_instances=3,
        jitter=timedelta(seconds=2),
        retry=RetryPolicy(attempts=2),
        timeout=4.0,
        max_consecutive_failures=5,
        remaining_runs=6,
    )


def test_options_of_a_job_check_back_to_its_fields() -> None:
    job = every_option()
    options = check(options_of(job))
    assert dataclasses.replace(job, **options) == job


def test_options_of_applies_changes() -> None:
    merged = options_of(every_option(), {"name": "renamed", "max_catchup": 9})
    assert merged["name"] == "renamed"
    assert merged["max_catchup"] == 9
    assert merged["tags"] == frozenset({"t"})


def test_a_changed_coalesce_replaces_catchup() -> None:
    job = every_option()
    assert check(options_of(job, {"coalesce": False}))["catchup"] is Catchup.ALL
    assert check(options_of(job, {}))["catchup"] is Catchup.EARLIEST


def test_a_changed_max_instances_picks_overlap_again_unless_it_is_changed_too() -> None:
    job = make_job(name="n", max_instances=3, overlap=Overlap.ALLOW)
    assert check(options_of(job, {"max_instances": 1}))["overlap"] is Overlap.SKIP
    changed = check(options_of(job, {"max_instances": 1, "overlap": "allow"}))
    assert changed["overlap"] is Overlap.ALLOW
    assert check(options_of(job, {"name": "m"}))["overlap"] is Overlap.ALLOW
