"""A tour of tickwork's triggers and of its daylight-saving rules.

Run it from the repository root, after ``pip install .``::

    python examples/triggers_tour.py

Every start time below is written out with its zone, so the output is the same on
any machine, whatever the machine's own timezone. Fire times are printed in the
trigger's zone with their UTC offset, and in UTC, so you can see the real instants.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from tickwork import (
    AndTrigger,
    CalendarIntervalTrigger,
    CronTrigger,
    DateTrigger,
    IntervalTrigger,
    InvalidExpression,
    OrTrigger,
    Trigger,
    trigger_from_dict,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def heading(title: str) -> None:
    print(f"\n== {title}")


def show(label: str, trigger: Trigger, after: datetime, count: int) -> None:
    """Print the next *count* fire times of *trigger* after *after*."""
    print(f"{label}  (after {after.isoformat()})")
    for fire in trigger.next_times(after, count):
        print(f"    {fire.isoformat()}  = {fire.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC")


def cron_basics() -> None:
    heading("Cron expressions, explained")
    expressions: Sequence[str] = (
        "0 9 * * mon-fri",
        "*/15 9-17 * * mon-fri",
        "30 0 9 * * *",  # six fields: seconds first
        "0 18 L * *",
        "0 9 * * 5#3",
        "0 8 15W * *",
        "0 0 */2 * 1",  # the day field starts with '*': both day fields must match
        "0 0 1,15 * 1",  # neither does: either may match
    )
    for expression in expressions:
        print(f"  {expression:22} {CronTrigger(expression, timezone=BERLIN).explain()}")
    show(
        "'0 9 * * 5#3' (third Friday) in Berlin",
        CronTrigger("0 9 * * 5#3", timezone=BERLIN),
        datetime(2024, 1, 1, tzinfo=BERLIN),
        3,
    )


def never_fires() -> None:
    heading("Expressions that can never fire are refused")
    for expression in ("0 0 30 2 *", "0 0 31 4,6,9,11 *"):
        try:
            CronTrigger(expression, timezone="UTC")
        except InvalidExpression as error:
            print(f"  {error}")


def hashed() -> None:
    heading("Hashed values (H): each job its own time, stable for good")
    for key in ("backup-db", "backup-files", "send-report"):
        trigger = CronTrigger("H H(0-5) * * *", timezone="UTC", hash_key=key)
        print(f"  {key:13} {trigger.explain()}")
    print("  day-of-week ranges may end on Sunday:")
    print(f"    0 9 * * fri-sun  {CronTrigger('0 9 * * fri-sun', timezone='UTC').explain()}")


def spring_forward() -> None:
    heading("Spring forward: New York skips 02:00-02:59 on 2024-03-10")
    night = datetime(2024, 3, 9, 12, 0, tzinfo=NEW_YORK)
    show(
        "anchored '30 2 * * *': fires once, at the end of the gap",
        CronTrigger("30 2 * * *", timezone=NEW_YORK),
        night,
        2,
    )
    show(
        "anchored '0 2,3 * * *': the lost 02:00 merges with the real 03:00",
        CronTrigger("0 2,3 * * *", timezone=NEW_YORK),
        night,
        3,
    )
    show(
        "cadence '*/30 * * * *': no slots in the gap",
        CronTrigger("*/30 * * * *", timezone=NEW_YORK),
        datetime(2024, 3, 10, 1, 0, tzinfo=NEW_YORK),
        3,
    )
    show(
        "'30 2 * * *' with dst_gap='skip': no fire that night",
        CronTrigger("30 2 * * *", timezone=NEW_YORK, dst_gap="skip"),
        night,
        1,
    )


def fall_back() -> None:
    heading("Fall back: New York lives 01:00-01:59 twice on 2024-11-03")
    night = datetime(2024, 11, 2, 12, 0, tzinfo=NEW_YORK)
    show(
        "anchored '30 1 * * *': once, in the first pass",
        CronTrigger("30 1 * * *", timezone=NEW_YORK),
        night,
        2,
    )
    show(
        "cadence '*/20 * * * *': in both passes",
        CronTrigger("*/20 * * * *", timezone=NEW_YORK),
        datetime(2024, 11, 3, 0, 50, tzinfo=NEW_YORK),
        7,
    )
    second_pass = datetime(2024, 11, 3, 1, 10, fold=1, tzinfo=NEW_YORK)
    show(
        "'30 1 * * *' asked in the second pass: it already fired",
        CronTrigger("30 1 * * *", timezone=NEW_YORK),
        second_pass,
        1,
    )
    show(
        "'30 1 * * *' with dst_overlap='both'",
        CronTrigger("30 1 * * *", timezone=NEW_YORK, dst_overlap="both"),
        night,
        3,
    )


def other_zones() -> None:
    heading("Other zones")
    show(
        "Lord Howe, a 30-minute DST: '15 2 * * *' on 2019-10-06",
        CronTrigger("15 2 * * *", timezone="Australia/Lord_Howe"),
        datetime.fromisoformat("2019-10-05T12:00:00+10:30"),
        2,
    )
    show(
        "Santiago has no midnight on 2024-09-08: '0 0 * * *'",
        CronTrigger("0 0 * * *", timezone="America/Santiago"),
        datetime.fromisoformat("2024-09-07T12:00:00-04:00"),
        2,
    )
    show(
        "Apia skipped all of 2011-12-30: '0 12 * * *'",
        CronTrigger("0 12 * * *", timezone="Pacific/Apia"),
        datetime.fromisoformat("2011-12-29T00:00:00-10:00"),
        3,
    )


def intervals() -> None:
    heading("Elapsed time versus wall time (Berlin springs forward on 2024-03-31)")
    start = datetime(2024, 3, 30, 12, 0, tzinfo=BERLIN)
    before = datetime(2024, 3, 30, 11, 59, tzinfo=BERLIN)
    show(
        "IntervalTrigger(days=1): every 24 hours, so 13:00 after the change",
        IntervalTrigger(days=1, start=start, timezone=BERLIN),
        before,
        3,
    )
    show(
        "CalendarIntervalTrigger(days=1, hour=12): stays at 12:00",
        CalendarIntervalTrigger(days=1, hour=12, start=start, timezone=BERLIN),
        before,
        3,
    )
    january_31 = datetime(2024, 1, 31, 0, 0, tzinfo=BERLIN)
    for policy in ("skip", "clamp"):
        monthly = CalendarIntervalTrigger(
            months=1, hour=9, start=january_31, timezone=BERLIN, on_missing_day=policy
        )
        dates = " ".join(f"{fire:%m-%d}" for fire in monthly.next_times(january_31, 6))
        print(f"monthly on the 31st, on_missing_day={policy!r:8} {dates}")


def one_off_and_combined() -> None:
    heading("One-off and combined triggers")
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    show(
        "DateTrigger: fires once",
        DateTrigger(datetime(2024, 1, 2, 9, 30, tzinfo=BERLIN)),
        start,
        3,
    )
    show(
        "OrTrigger: 09:00 on weekdays, 11:00 at weekends",
        OrTrigger(
            [
                CronTrigger("0 9 * * mon-fri", timezone=BERLIN),
                CronTrigger("0 11 * * sat,sun", timezone=BERLIN),
            ]
        ),
        datetime(2024, 1, 4, tzinfo=BERLIN),
        4,
    )
    show(
        "AndTrigger: Mondays that are also among the first seven days",
        AndTrigger(
            [CronTrigger("0 9 * * mon", timezone="UTC"), CronTrigger("0 9 1-7 * *", timezone="UTC")]
        ),
        start,
        3,
    )


def backwards() -> None:
    heading("Walking backwards: the last fire times before a moment, newest first")
    monday = datetime(2024, 3, 11, 12, tzinfo=NEW_YORK)
    daily = CronTrigger("30 2 * * *", timezone=NEW_YORK)
    print(f"30 2 * * *  (before {monday.isoformat()}; 03-10 has no 02:30)")
    for fire in daily.previous_times(monday, 3):
        print(f"    {fire.isoformat()}  = {fire.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC")
    # The same set of fire times as next_after: forward from the oldest, back to the start.
    oldest = daily.previous_times(monday, 3)[-1]
    again = [fire.isoformat() for fire in daily.next_times(oldest, 2)]
    print(f"    forward from the oldest: {', '.join(again)}")


def serialization() -> None:
    heading("Stored as JSON, loaded back")
    trigger = CronTrigger("30 2 * * *", timezone=NEW_YORK, dst_gap="skip")
    text = json.dumps(trigger.to_dict())
    print(f"  {text}")
    loaded = trigger_from_dict(json.loads(text))
    print(f"  {loaded!r}, equal to the original: {loaded == trigger}")


def main() -> None:
    cron_basics()
    never_fires()
    hashed()
    spring_forward()
    fall_back()
    other_zones()
    intervals()
    one_off_and_combined()
    backwards()
    serialization()


if __name__ == "__main__":
    main()
