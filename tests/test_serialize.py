"""The job row codec: jobs come back equal, bad arguments are named by path, and a broken
row raises SerializationError, never anything else."""

from __future__ import annotations

import dataclasses
import json
import pickle
import threading
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwork import (
    AndTrigger,
    CalendarIntervalTrigger,
    CronTrigger,
    DateTrigger,
    IntervalTrigger,
    OrTrigger,
    SerializationError,
    Trigger,
)
from tickwork import _serialize as codec
from tickwork._model import Catchup, Job, Overlap, RetryPolicy, evolve
from tickwork._serialize import check_json
from tickwork._tz import epoch_us, timezone_name
from tickwork.stores.codec import JobRow, decode_job, encode_job
from tickwork.triggers import trigger_from_dict

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOOP = "tests.jobs_for_tests:noop"
PICKLE_HINT = "store JSON types, or open the store with pickle=True"


class FlakyError(Exception):
    """A retry_on type importable as ``tests.test_serialize:FlakyError``."""


def job(**changes: Any) -> Job:
    """A job with a Berlin cron trigger and default options, plus *changes*."""
    fields: dict[str, Any] = {
        "id": "job-1",
        "name": NOOP,
        "func": None,
        "func_ref": NOOP,
        "trigger": CronTrigger("0 9 * * mon-fri", timezone=BERLIN),
        "next_fire": datetime(2024, 1, 1, 9, tzinfo=BERLIN),
    }
    fields.update(changes)
    return Job(**fields)


def round_trip(value: Job, *, pickle_args: bool = False) -> Job:
    # A tuple, as sqlite3 returns a row, not the JobRow itself.
    return decode_job(tuple(encode_job(value, pickle_args=pickle_args)))


TRIGGERS = {
    "cron-berlin": CronTrigger(
        "30 2 * * *", timezone=BERLIN, start=T0, end=datetime(2030, 1, 1, tzinfo=NEW_YORK)
    ),
    "interval": IntervalTrigger(
        hours=2, minutes=30, start=datetime(2024, 3, 1, 8, 0, 0, 250, tzinfo=NEW_YORK)
    ),
    "date": DateTrigger(datetime(2030, 1, 1, 9, tzinfo=TOKYO)),
    "calendar": CalendarIntervalTrigger(
        months=1, hour=9, start=T0, timezone=BERLIN, on_missing_day="clamp"
    ),
    "and": AndTrigger(
        [CronTrigger("0 12 * * mon", timezone=TOKYO), IntervalTrigger(days=3, start=T0)],
        max_iterations=500,
    ),
    "or": OrTrigger(
        [CronTrigger("0 9 * * *", timezone=NEW_YORK), DateTrigger(T0 + timedelta(days=9))]
    ),
}


def every_option(trigger: Trigger) -> Job:
    return job(
        id="report:daily",
        name="daily report",
        func_ref="tests.jobs_for_tests:add",
        args=(1, "two", [3.5, None], {"deep": {"er": [True, False]}}),
        kwargs={"b": 2, "cfg": {"when": "2024-01-01", "n": -7}},
        trigger=trigger,
        executor="pool",
        tags=frozenset({"nightly", "billing", "ünïcode"}),
        start=datetime(2024, 1, 1, 8, 0, 0, 1, tzinfo=TOKYO),
        end=datetime(2031, 6, 30, 23, 59, tzinfo=NEW_YORK),
        misfire_grace_time=timedelta(minutes=5, microseconds=3),
        catchup=Catchup.ALL,
        max_catchup=7,
        overlap=Overlap.BUFFER_ONE,
        max_instances=3,
        jitter=timedelta(seconds=1.5),
        retry=RetryPolicy(
            attempts=4, delay=0.5, factor=3, max_delay=60, jitter=0.2, retry_on=(FlakyError,)
        ),
        timeout=12.5,
        max_consecutive_failures=5,
        remaining_runs=9,
        paused=True,
        pause_note="waiting for the quarter to close",
        next_fire=datetime(2024, 5, 6, 12, tzinfo=UTC),
        consecutive_failures=2,
    )


# -- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(TRIGGERS))
def test_every_option_round_trips(kind: str) -> None:
    original = every_option(TRIGGERS[kind])
    back = round_trip(original)
    assert back == original
    assert back.func is None
    assert back._control is None
    assert type(back.args) is tuple
    # Job equality compares datetimes by instant; the zones must survive as well.
    assert back.start is not None
    assert back.end is not None
    assert timezone_name(back.start.tzinfo) == "Asia/Tokyo"  # type: ignore[arg-type]
    assert timezone_name(back.end.tzinfo) == "America/New_York"  # type: ignore[arg-type]
    assert back.start.isoformat() == original.start.isoformat()  # type: ignore[union-attr]
    assert back.retry is not None
    assert back.retry.retry_on == (FlakyError,)


def test_a_decoded_job_is_a_frozen_job_and_rows_due_together_keep_their_zones() -> None:
    # Decoding builds the record without Job.__init__, and shares one next fire among
    # rows due at one instant in one zone: the result must still be a plain frozen Job,
    # and a row due at the same instant in another zone must get its own zone.
    at = datetime(2024, 1, 1, 8, tzinfo=timezone.utc)
    berlin = round_trip(job(id="a", next_fire=at.astimezone(BERLIN)))
    again = round_trip(job(id="b", next_fire=at.astimezone(BERLIN)))
    tokyo = round_trip(job(id="c", trigger=TRIGGERS["date"], next_fire=at.astimezone(TOKYO)))
    assert type(berlin) is Job
    with pytest.raises(dataclasses.FrozenInstanceError):
        berlin.name = "changed"  # type: ignore[misc]
    assert evolve(berlin, paused=True).paused
    assert berlin.next_fire == again.next_fire == tokyo.next_fire == at
    assert timezone_name(again.next_fire.tzinfo) == "Europe/Berlin"  # type: ignore[union-attr]
    assert timezone_name(tokyo.next_fire.tzinfo) == "Asia/Tokyo"  # type: ignore[union-attr]
    # A date job due at its run_at: the trigger has no fire after it.
    run_at = TRIGGERS["date"].next_after(T0)
    due = round_trip(job(id="d", trigger=TRIGGERS["date"], next_fire=run_at))
    assert due.next_fire == run_at
    assert due.next_fire.isoformat() == run_at.isoformat()  # type: ignore[union-attr]
    assert due.trigger.next_after(due.next_fire) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("pickle_args", [False, True], ids=["json", "pickle"])
def test_default_job_round_trips_compactly(pickle_args: bool) -> None:
    original = job(next_fire=None)
    row = encode_job(original, pickle_args=pickle_args)
    assert row.options == "{}"
    assert row.next_fire_us is None
    assert (row.paused, row.remaining_runs, row.consecutive_failures) == (0, None, 0)
    if not pickle_args:
        assert (row.args, row.kwargs) == ("[]", "{}")
    back = decode_job(tuple(row))
    assert back == original
    assert back.next_fire is None
    assert dict(back.kwargs) == {}
    assert back.args == ()


def test_each_option_alone_round_trips() -> None:
    # One at a time, so a default left out of the text cannot hide another option's bug.
    full = every_option(TRIGGERS["cron-berlin"])
    for name in codec._OPTION_FIELDS:
        single = evolve(job(), **{name: getattr(full, name)})
        assert round_trip(single) == single, name


def test_every_job_field_is_stored() -> None:
    # A field added to Job must be given a column or an option here, or it is lost.
    stored = {*codec._ROW_FIELDS, *codec._OPTION_FIELDS, "func", "_control"}
    assert {item.name for item in dataclasses.fields(Job)} == stored


def test_text_columns_are_canonical_json() -> None:
    row = encode_job(every_option(TRIGGERS["and"]))
    for text in (row.trigger, row.options):
        assert json.dumps(json.loads(text), sort_keys=True, separators=(",", ":")) == text


def test_equal_options_give_equal_text() -> None:
    # The decode cache shares options by text, so equal options must give equal text:
    # tags in sorted order (a set's order varies), an equal policy written the same way.
    tags = frozenset(f"tag-{n}" for n in range(30))
    first = job(tags=tags, retry=RetryPolicy(attempts=2, retry_on=(FlakyError,)))
    second = job(tags=frozenset(tags), retry=RetryPolicy(attempts=2, retry_on=(FlakyError,)))
    text = encode_job(first).options
    assert encode_job(second).options == text
    assert json.loads(text)["tags"] == sorted(tags)


def test_decoded_jobs_do_not_share_mutable_arguments() -> None:
    row = tuple(encode_job(job(args=([1],), kwargs={"items": [2]})))
    first, second = decode_job(row), decode_job(row)
    first.args[0].append(99)
    first.kwargs["items"].append(99)
    assert second.args == ([1],)
    assert second.kwargs == {"items": [2]}


def test_full_caches_drop_old_entries_and_stay_correct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codec, "CACHE_SIZE", 3)
    codec.clear_caches()
    originals = [
        job(id=f"j{n}", trigger=IntervalTrigger(minutes=n + 1, start=T0), max_instances=n + 1)
        for n in range(8)
    ]
    rows = [tuple(encode_job(original)) for original in originals]
    for _ in range(2):
        assert [decode_job(row) for row in rows] == originals
    assert len(codec._triggers) <= 3
    assert len(codec._options) <= 3
    codec.clear_caches()


def test_a_long_run_of_new_trigger_texts_churns_the_cache_only_one_time_in_16(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every interval job with a start of its own has a trigger text no other row has:
    # past a full cache of misses, only a sample is remembered, and texts that come
    # again are soon all remembered again.
    monkeypatch.setattr(codec, "CACHE_SIZE", 16)
    codec.clear_caches()
    originals = [
        job(id=f"j{n}", trigger=IntervalTrigger(minutes=1, start=T0 + timedelta(seconds=n)))
        for n in range(16 + 160)
    ]
    rows = [tuple(encode_job(original)) for original in originals]
    early, late = {row[5] for row in rows[:16]}, {row[5] for row in rows[16:]}
    assert [decode_job(row) for row in rows[:16]] == originals[:16]
    assert set(codec._triggers) == early
    assert [decode_job(row) for row in rows[16:]] == originals[16:]
    # Misses 17 to 176: the 32nd, 48th ... 176th are remembered, each evicting one.
    assert len(late & set(codec._triggers)) == 160 // 16
    assert len(early & set(codec._triggers)) == 16 - 160 // 16
    # Five texts that now come again and again: all five are remembered within a few
    # rounds (one admitted by the sample, its hit admits every later miss).
    again = rows[20:25]
    for _ in range(40):
        assert [decode_job(row) for row in again] == originals[20:25]
    assert {row[5] for row in again} <= set(codec._triggers)
    # After a hit, a new text is remembered at once again.
    fresh = job(id="fresh", trigger=IntervalTrigger(minutes=2, start=T0))
    assert decode_job(tuple(encode_job(fresh))) == fresh
    assert encode_job(fresh).trigger in codec._triggers
    codec.clear_caches()


# -- next_fire and zones ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "zone"),
    [
        pytest.param(CronTrigger("0 9 * * *", timezone=BERLIN), "Europe/Berlin", id="cron"),
        pytest.param(
            IntervalTrigger(hours=1, start=T0, timezone=NEW_YORK), "America/New_York", id="interval"
        ),
        pytest.param(
            CalendarIntervalTrigger(days=1, start=T0, timezone=TOKYO), "Asia/Tokyo", id="calendar"
        ),
        pytest.param(DateTrigger(datetime(2030, 1, 1, tzinfo=TOKYO)), "Asia/Tokyo", id="date"),
        pytest.param(DateTrigger(T0, timezone="+05:30"), "+05:30", id="date-offset"),
        pytest.param(TRIGGERS["and"], "Asia/Tokyo", id="and-first-child"),
        pytest.param(TRIGGERS["or"], "America/New_York", id="or-first-child"),
        pytest.param(OrTrigger([TRIGGERS["and"]]), "Asia/Tokyo", id="nested"),
    ],
)
def test_next_fire_comes_back_in_the_trigger_zone(trigger: Trigger, zone: str) -> None:
    # Without next_fire_zone (a row of 11 columns), or when it is None.
    fire = datetime(2024, 7, 1, 6, 15, 30, 123456, tzinfo=UTC)
    original = job(trigger=trigger, next_fire=fire)
    row = encode_job(original)
    assert row.next_fire_zone == "UTC"  # not the trigger's zone: kept
    for _ in range(2):  # the second decode comes from the trigger cache
        for back in (decode_job(tuple(row)[:-1]), decode_job(row._replace(next_fire_zone=None))):
            assert back.next_fire is not None
            assert epoch_us(back.next_fire) == epoch_us(fire)
            assert timezone_name(back.next_fire.tzinfo) == zone  # type: ignore[arg-type]
        kept = round_trip(original).next_fire
        assert kept is not None
        assert kept == fire
        assert timezone_name(kept.tzinfo) == "UTC"  # type: ignore[arg-type]


def test_next_fire_in_the_trigger_zone_keeps_no_zone() -> None:
    trigger = CronTrigger("0 9 * * *", timezone=BERLIN)
    fire = datetime(2024, 7, 1, 9, tzinfo=BERLIN)
    assert encode_job(job(trigger=trigger, next_fire=fire)).next_fire_zone is None
    assert encode_job(job(trigger=trigger, next_fire=None)).next_fire_zone is None


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        pytest.param("Mars/Olympus_Mons", "Europe/Berlin", id="unknown-zone-keeps-trigger-zone"),
        pytest.param("+05:30", "+05:30", id="offset"),
    ],
)
def test_next_fire_zone_is_applied_when_known(zone: str, expected: str) -> None:
    fire = datetime(2024, 7, 1, 9, tzinfo=BERLIN)
    row = encode_job(job(next_fire=fire))._replace(next_fire_zone=zone)
    back = decode_job(row).next_fire
    assert back == fire
    assert back is not None
    assert timezone_name(back.tzinfo) == expected  # type: ignore[arg-type]


def test_next_fire_zone_of_the_wrong_type_is_a_broken_row() -> None:
    row = encode_job(job())._replace(next_fire_zone=5)
    with pytest.raises(SerializationError, match="job 'job-1': next_fire_zone column holds int"):
        decode_job(row)


def test_a_row_as_a_mapping_decodes_the_same() -> None:
    original = job(next_fire=datetime(2024, 11, 3, 1, 10, fold=1, tzinfo=NEW_YORK))
    data = encode_job(original)._asdict()
    assert json.loads(json.dumps(data)) == data  # plain JSON data
    back = decode_job(data)
    assert back == original
    del data["next_fire_zone"]  # optional: the trigger's zone then
    assert epoch_us(decode_job(data).next_fire) == epoch_us(original.next_fire)  # type: ignore[arg-type]
    del data["options"]
    with pytest.raises(SerializationError, match="job 'job-1': the row has no 'options' field"):
        decode_job(data)


@pytest.mark.parametrize("fold", [0, 1])
def test_next_fire_keeps_the_side_of_a_fall_back_overlap(fold: int) -> None:
    # 02:30 happens twice in Berlin on 2024-10-27. Two datetimes of one zone compare by
    # wall time, so only the instant and the fold show that the right one came back.
    fire = datetime(2024, 10, 27, 2, 30, fold=fold, tzinfo=BERLIN)
    back = round_trip(job(next_fire=fire)).next_fire
    assert back is not None
    assert epoch_us(back) == epoch_us(fire)
    assert back.fold == fold


@pytest.mark.parametrize(
    "fire",
    [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2024, 2, 29, 12, 0, 0, 1, tzinfo=UTC),
        datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC),
    ],
    ids=str,
)
def test_next_fire_is_exact_to_the_microsecond(fire: datetime) -> None:
    # Far from 1970 a float timestamp cannot hold every microsecond.
    back = round_trip(job(trigger=IntervalTrigger(days=1, start=T0), next_fire=fire)).next_fire
    assert back is not None
    assert epoch_us(back) == epoch_us(fire)


# -- arguments as JSON ------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def assert_same(left: Any, right: Any) -> None:
    """Equal, and of the same types all the way down: 1 == 1.0 == True would hide a bug."""
    assert type(left) is type(right), (left, right)
    if isinstance(left, (list, tuple)):
        assert len(left) == len(right)
        for a, b in zip(left, right, strict=True):
            assert_same(a, b)
    elif isinstance(left, dict):
        assert list(left) == list(right)
        for key in left:
            assert_same(left[key], right[key])
    else:
        assert left == right or (left != left and right != right)


@given(
    args=st.lists(json_values, max_size=4).map(tuple),
    kwargs=st.dictionaries(st.text(), json_values, max_size=4),
)
def test_json_arguments_round_trip_exactly(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    back = round_trip(job(args=args, kwargs=kwargs))
    assert_same(back.args, args)
    assert_same(dict(back.kwargs), kwargs)


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque " + "x" * 500 + ">"


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


@pytest.mark.parametrize(
    ("args", "kwargs", "path", "detail"),
    [
        pytest.param((T0,), {}, "args[0]", "datetime.datetime", id="datetime"),
        pytest.param((1, {3, 4}), {}, "args[1]", "is a set", id="set"),
        pytest.param((b"raw",), {}, "args[0]", "is a bytes", id="bytes"),
        pytest.param(
            (), {"price": Decimal("1.10")}, "kwargs['price']", "decimal.Decimal", id="decimal"
        ),
        pytest.param(
            (),
            {"cfg": {"when": T0}},
            "kwargs['cfg']['when']",
            "datetime.datetime",
            id="nested-datetime",
        ),
        pytest.param(([1, [2, Opaque()]],), {}, "args[0][1][1]", "Opaque", id="custom-object"),
        pytest.param((BrokenRepr(),), {}, "args[0]", "BrokenRepr", id="broken-repr"),
        pytest.param(({1: "one"},), {}, "args[0]", "key 1 (int)", id="int-key"),
        pytest.param((float("nan"),), {}, "args[0]", "NaN and infinities", id="nan"),
        pytest.param(
            (), {"limit": float("-inf")}, "kwargs['limit']", "NaN and infinities", id="infinity"
        ),
        pytest.param((Catchup.ALL,), {}, "args[0]", "plain str", id="str-enum"),
        pytest.param((OrderedDict(a=1),), {}, "args[0]", "plain dict", id="dict-subclass"),
        pytest.param((10**5000,), {}, "args[0]", "too long", id="huge-int"),
    ],
)
def test_non_json_argument_is_named_by_path(
    args: tuple[Any, ...], kwargs: dict[str, Any], path: str, detail: str
) -> None:
    with pytest.raises(SerializationError) as caught:
        encode_job(job(id="nightly", args=args, kwargs=kwargs))
    message = str(caught.value)
    assert "'nightly'" in message
    assert f"{path} " in message
    assert detail in message
    assert PICKLE_HINT in message
    assert len(message) < 400  # long reprs are cut short


def test_nested_tuple_has_its_own_hint() -> None:
    with pytest.raises(SerializationError, match=r"kwargs\['points'\]\[1\] is a tuple") as caught:
        encode_job(job(kwargs={"points": [[0, 0], (1, 2)]}))
    assert "JSON keeps it as a list; pass a list" in str(caught.value)


def test_top_level_args_tuple_is_fine() -> None:
    row = encode_job(job(args=(1, 2)))
    assert row.args == "[1,2]"
    assert round_trip(job(args=(1, 2))).args == (1, 2)


def test_non_string_kwargs_key_is_refused() -> None:
    proxy = MappingProxyType({1: "one"})
    with pytest.raises(SerializationError, match=r"kwargs key 1 \(int\) is not a str"):
        encode_job(job(kwargs=proxy))


def test_self_containing_list_is_an_error_not_a_recursion_error() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(SerializationError, match=r"args\[0\]\[1\] is a list that contains itself"):
        encode_job(job(args=(loop,)))
    table: dict[str, Any] = {}
    table["self"] = [table]
    with pytest.raises(SerializationError, match=r"kwargs\['t'\]\['self'\]\[0\] is a dict"):
        encode_job(job(kwargs={"t": table}))


def test_deep_nesting_is_refused() -> None:
    deep: list[Any] = []
    for _ in range(codec.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(SerializationError, match="nested more than"):
        encode_job(job(args=(deep,)))
    shallow: list[Any] = []
    for _ in range(codec.MAX_DEPTH - 1):
        shallow = [shallow]
    assert round_trip(job(args=(shallow,))).args == (shallow,)


def test_shared_value_that_is_no_cycle_is_fine() -> None:
    shared = [1, 2]
    assert round_trip(job(args=([shared, shared],))).args == ([[1, 2], [1, 2]],)


@pytest.mark.parametrize(
    ("value", "where", "message"),
    [
        pytest.param(
            {"a": [1, {"b": {2}}]},
            "kwargs['x']",
            r"kwargs\['x'\]\['a'\]\[1\]\['b'\] is a set",
            id="nested",
        ),
        pytest.param((1,), "args[3]", r"args\[3\] is a tuple", id="tuple-itself"),
        pytest.param(True.__class__, "value", r"value is a type", id="a-class"),
    ],
)
def test_check_json_names_where(value: Any, where: str, message: str) -> None:
    with pytest.raises(SerializationError, match=message):
        check_json(value, where)


@given(json_values)
def test_check_json_accepts_json_data(value: Any) -> None:
    check_json(value, "value")


# -- functions --------------------------------------------------------------------------


def _closure() -> Any:
    local = 1

    def inner() -> int:
        return local

    return inner


class Holder:
    def method(self) -> None:
        """Bound to an instance: no import gives that instance back."""


@pytest.mark.parametrize(
    ("func", "name", "reason"),
    [
        pytest.param(lambda: None, "<lambda>", "it is a lambda", id="lambda"),
        pytest.param(
            _closure(), "_closure.<locals>.inner", "nested function or closure", id="closure"
        ),
        pytest.param(Holder().method, "Holder.method", "bound to an instance", id="bound-method"),
    ],
)
def test_function_without_reference_is_explained(func: Any, name: str, reason: str) -> None:
    with pytest.raises(SerializationError) as caught:
        encode_job(job(id="cleanup", func=func, func_ref=None))
    message = str(caught.value)
    assert "'cleanup'" in message
    assert name in message
    assert reason in message
    assert "define it at module level" in message
    assert '"module:function" string' in message


def test_retry_on_type_that_cannot_be_imported_is_refused() -> None:
    class LocalError(Exception):
        pass

    with pytest.raises(SerializationError, match=r"'flaky'.*retry_on.*LocalError"):
        encode_job(job(id="flaky", retry=RetryPolicy(retry_on=(LocalError,))))


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"tags": frozenset({1})}, id="tag-not-str"),
        pytest.param({"max_catchup": "5"}, id="count-as-str"),
        pytest.param({"start": datetime(2024, 1, 1)}, id="naive-start"),
        pytest.param({"timeout": float("nan")}, id="nan-timeout"),
    ],
)
def test_option_that_would_not_come_back_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(SerializationError, match="'opts'"):
        encode_job(job(id="opts", **changes))


def test_naive_next_fire_is_refused() -> None:
    with pytest.raises(SerializationError, match="'naive': next_fire is a naive datetime"):
        encode_job(job(id="naive", next_fire=datetime(2024, 1, 1)))


# -- arguments as pickle ----------------------------------------------------------------


def test_pickled_arguments_round_trip() -> None:
    original = job(
        args=(T0, {1, 2}, (3, 4)),
        kwargs={"when": datetime(2024, 5, 1, tzinfo=BERLIN), "amount": Decimal("9.99")},
    )
    row = encode_job(original, pickle_args=True)
    assert isinstance(row.args, bytes)
    assert isinstance(row.kwargs, bytes)
    assert pickle.loads(row.args)[1] == {1, 2}
    back = decode_job(tuple(row))
    assert back == original
    assert back.args == (T0, {1, 2}, (3, 4))
    assert back.kwargs["when"].tzinfo is BERLIN


def test_unpicklable_argument_names_job_and_error() -> None:
    lock = threading.Lock()
    with pytest.raises(SerializationError) as caught:
        encode_job(job(id="locked", kwargs={"ok": 1, "lock": lock}), pickle_args=True)
    message = str(caught.value)
    assert "'locked'" in message
    assert "kwargs['lock']" in message
    assert "cannot pickle '_thread.lock' object" in message  # pickle's own words


# -- broken rows ------------------------------------------------------------------------


def good_row() -> list[Any]:
    return list(encode_job(every_option(TRIGGERS["cron-berlin"])))


COLUMN = {name: index for index, name in enumerate(JobRow._fields)}


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("trigger", '{"type": "cron", ', "corrupt trigger JSON"),
        ("trigger", '["cron"]', "trigger JSON is list, not an object"),
        ("trigger", '{"type": "foo"}', "unknown trigger type 'foo' (known: and, "),
        ("trigger", '{"type": "cron", "timezone": "UTC"}', "missing field 'expression'"),
        (
            "trigger",
            '{"type": "cron", "expression": "61 * * * *", "timezone": "UTC"}',
            "invalid 'cron' trigger",
        ),
        (
            "trigger",
            '{"type": "interval", "hours": 1, "start": "2024-01-01T00:00:00+00:00", '
            '"timezone": "Mars/Olympus"}',
            "Mars/Olympus",
        ),
        ("options", "{", "corrupt options JSON"),
        ("options", '{"catchup": "sometimes"}', "bad option catchup"),
        ("options", '{"colour": "red"}', "unknown option 'colour'"),
        ("options", '{"max_instances": true}', "bad option max_instances"),
        ("options", '{"start": ["2024-01-01T00:00:00", null]}', "has no UTC offset"),
        (
            "options",
            '{"retry": {"retry_on": ["tests.gone_module:GoneError"]}}',
            "retry_on 'tests.gone_module:GoneError' no longer imports",
        ),
        ("options", '{"retry": {"attempts": 0}}', "bad option retry"),
        ("trigger", "[" * 100_000 + "]" * 100_000, "corrupt trigger JSON"),
        ("args", "[1, 2", "corrupt args JSON"),
        ("args", "[" * 100_000 + "]" * 100_000, "corrupt args JSON"),
        ("args", '{"a": 1}', "args JSON is dict, not a list"),
        ("kwargs", "[1]", "kwargs JSON is list, not an object"),
        ("kwargs", b"\x80\x05garbage", "cannot unpickle kwargs"),
        ("args", 17, "args column holds int"),
        ("id", 17, "id column holds int"),
        ("next_fire_us", "soon", "next_fire_us column holds str"),
        ("next_fire_us", 10**30, "next_fire_us 1000000000000000000000000000000 is out of range"),
        ("paused", 2, "paused column holds 2"),
        ("remaining_runs", 1.5, "remaining_runs column holds float"),
        ("consecutive_failures", None, "consecutive_failures column holds NoneType"),
    ],
)
def test_broken_row_gives_a_short_reason(column: str, value: Any, reason: str) -> None:
    row = good_row()
    row[COLUMN[column]] = value
    with pytest.raises(SerializationError) as caught:
        decode_job(tuple(row))
    message = str(caught.value)
    assert reason in message
    assert message.startswith("job 'report:daily': " if column != "id" else "job with id 17")
    assert len(message) < 400


def test_hand_edited_json_is_read_like_json_loads() -> None:
    # Whitespace around a value is fine, as for json.loads; anything after it is not.
    row = good_row()
    row[COLUMN["args"]] = ' [1, "two"] \n'
    row[COLUMN["kwargs"]] = '\t{"a": null} '
    row[COLUMN["options"]] = ' {"max_instances": 4} '
    back = decode_job(tuple(row))
    assert back.args == (1, "two")
    assert back.kwargs == {"a": None}
    assert back.max_instances == 4
    row[COLUMN["args"]] = "[1] [2]"
    with pytest.raises(SerializationError, match="corrupt args JSON: Extra data"):
        decode_job(tuple(row))


def test_row_of_the_wrong_length() -> None:
    with pytest.raises(SerializationError, match=r"not 12 columns \(11 without next_fire_zone"):
        decode_job(tuple(good_row())[:-2])
    with pytest.raises(SerializationError, match="not 12 columns"):
        decode_job(None)  # type: ignore[arg-type]


TRIGGER_KEYS = [
    "type",
    "expression",
    "timezone",
    "start",
    "end",
    "hours",
    "days",
    "months",
    "run_at",
    "triggers",
    "max_iterations",
    "dst_gap",
    "on_missing_day",
    "week",
]
TYPE_NAMES = ["cron", "interval", "date", "calendar_interval", "and", "or", "nope"]
raw_json = st.one_of(
    json_values,
    st.sampled_from(["UTC", "Europe/Berlin", "2024-01-01T00:00:00+00:00", "* * * * *", 0, 1]),
)


@st.composite
def near_json(draw: st.DrawFn, keys: list[str]) -> str:
    """JSON objects with the keys a column really has: garbage that gets past json.loads."""
    data = draw(st.dictionaries(st.sampled_from(keys), raw_json, max_size=6))
    if "type" in keys and draw(st.booleans()):
        data["type"] = draw(st.sampled_from(TYPE_NAMES))
    text = json.dumps(data)
    cut = draw(st.integers(0, len(text)))
    return text if draw(st.booleans()) else text[:cut]


garbage = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=30),
    st.binary(max_size=30),
    st.lists(st.integers(), max_size=3),
    raw_json.map(json.dumps),
)


@given(
    column=st.sampled_from(JobRow._fields),
    value=garbage,
    trigger=near_json(TRIGGER_KEYS),
    options=near_json(list(codec._OPTION_FIELDS)),
    which=st.sampled_from(["column", "trigger", "options"]),
)
def test_garbage_in_any_column_raises_only_serialization_error(
    column: str, value: Any, trigger: str, options: str, which: str
) -> None:
    row = good_row()
    if which == "column":
        row[COLUMN[column]] = value
    else:
        row[COLUMN[which]] = trigger if which == "trigger" else options
    try:
        decoded = decode_job(tuple(row))
    except SerializationError:
        return
    assert isinstance(decoded, Job)


@given(
    seconds=st.integers(min_value=1, max_value=10**7) | st.floats(min_value=0.001, max_value=1e6),
    offset=st.integers(min_value=0, max_value=10**12),
    zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "+05:30"]),
    with_end=st.booleans(),
)
def test_interval_trigger_text_is_the_plain_encoding(
    seconds: float, offset: int, zone: str, with_end: bool
) -> None:
    # Interval triggers take a fast path that reuses the text around their start.
    start = datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=offset)
    end = start + timedelta(days=3) if with_end else None
    trigger = IntervalTrigger(seconds=seconds, start=start, end=end, timezone=zone)
    text = codec._trigger_text(trigger)
    assert json.loads(text) == trigger.to_dict()
    assert text == codec._encode_sorted(trigger.to_dict())


@pytest.mark.parametrize(
    "trigger",
    [
        CronTrigger("0 9 * * mon-fri", timezone="Europe/Berlin"),
        CronTrigger("0 9 * * mon-fri", timezone="America/New_York"),
        CronTrigger("0 9 * * mon-fri", timezone="Europe/Berlin", dst_gap="skip"),
        CronTrigger("*/5 * * * *", timezone="UTC", start=datetime(2024, 1, 1, tzinfo=timezone.utc)),
        CronTrigger(
            "*/5 * * * *",
            timezone="UTC",
            start=datetime(2024, 1, 1, 1, tzinfo=ZoneInfo("Europe/Berlin")),
        ),
        CronTrigger.from_fields(week="1-10", hour=3, timezone="UTC"),
        CronTrigger.from_fields(day="1", day_of_week="mon", hour=3, timezone="UTC"),
    ],
    ids=repr,
)
def test_cron_trigger_text_is_the_plain_encoding(trigger: CronTrigger) -> None:
    # Cron triggers alike in every field share one cached text; each must get its own.
    text = codec._trigger_text(trigger)
    assert text == codec._encode_sorted(trigger.to_dict())
    twin = trigger_from_dict(json.loads(text))
    assert codec._trigger_text(twin) == text


# -- the public codec's trigger functions ------------------------------------------------


@pytest.mark.parametrize("name", sorted(TRIGGERS))
def test_encode_trigger_is_the_trigger_column_and_decodes_equal(name: str) -> None:
    from tickwork.stores import codec as public

    trigger = TRIGGERS[name]
    text = public.encode_trigger(trigger)
    assert text == encode_job(job(trigger=trigger)).trigger
    assert json.loads(text) == trigger.to_dict()
    codec.clear_caches()  # decoded afresh, then from the cache
    assert public.decode_trigger(text) == trigger
    assert public.decode_trigger(text) == trigger  # from the cache


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"type": "sundial"}', "unknown trigger type 'sundial'"),
        ('{"type": "cron"', "corrupt trigger JSON"),
        ("[]", "trigger JSON is list, not an object"),
        (b"{}", "trigger text is bytes, not a str"),
        ('{"type": "interval"}', "invalid 'interval' trigger"),
    ],
)
def test_decode_trigger_raises_only_serialization_error(text: Any, reason: str) -> None:
    from tickwork.stores import codec as public

    with pytest.raises(SerializationError, match=reason):
        public.decode_trigger(text)


def test_encode_trigger_of_a_trigger_json_cannot_hold_is_a_serialization_error() -> None:
    from tickwork.stores import codec as public

    class Odd(DateTrigger):
        def to_dict(self) -> dict[str, Any]:
            return {"type": "odd", "when": self.run_at}  # a datetime: not JSON

    with pytest.raises(SerializationError, match="cannot store trigger"):
        public.encode_trigger(Odd(T0))
