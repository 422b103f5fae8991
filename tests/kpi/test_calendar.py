"""Planned busy time from shift calendars in the plant's own time zone (hand-computed cases)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.kpi.calendar import Interval, parse_instant, parse_period, planned_busy_time

H = 3600 * 1_000_000_000
NOW = int(datetime(2026, 11, 27, 12, 0, tzinfo=UTC).timestamp()) * 1_000_000_000


def utc_ns(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp()) * 1_000_000_000  # type: ignore[misc]


def test_a_date_without_offset_is_the_plants_local_midnight() -> None:
    assert parse_instant("2026-11-26", "Asia/Shanghai", now_ns=NOW) == utc_ns(2026, 11, 25, 16)
    assert parse_instant("2026-11-26", "America/Chicago", now_ns=NOW) == utc_ns(2026, 11, 26, 6)
    assert parse_instant("2026-11-26T08:00:00+00:00", "Asia/Shanghai", now_ns=NOW) == utc_ns(2026, 11, 26, 8)


def test_relative_instants_count_back_from_now() -> None:
    assert parse_instant("now", "UTC", now_ns=NOW) == NOW
    assert parse_instant("now-7d", "UTC", now_ns=NOW) == NOW - 7 * 24 * H


@pytest.mark.parametrize(("start", "end"), [("2026-11-27", "2026-11-26"), ("yesterday", "now"), ("now", "now")])
def test_empty_or_unreadable_periods_are_refused(start: str, end: str) -> None:
    with pytest.raises(ValueError, match=r"empty|not a date"):
        parse_period(start, end, "UTC", now_ns=NOW)


def test_two_ten_hour_shifts_plan_twenty_hours_of_a_local_day() -> None:
    period = parse_period("2026-11-26", "2026-11-27", "Asia/Shanghai", now_ns=NOW)
    shifts = [{"name": "day", "start": "08:00:00", "hours": 10}, {"name": "night", "start": "20:00:00", "hours": 10}]
    planned = planned_busy_time(period, "Asia/Shanghai", shifts)
    # night shift of the 25th runs into the day until 06:00, day shift 08-18, night shift from 20:00
    assert planned.intervals == (
        Interval(utc_ns(2026, 11, 25, 16), utc_ns(2026, 11, 25, 22)),
        Interval(utc_ns(2026, 11, 26, 0), utc_ns(2026, 11, 26, 10)),
        Interval(utc_ns(2026, 11, 26, 12), utc_ns(2026, 11, 26, 16)),
    )
    assert planned.duration_ns == 20 * H


def test_the_same_calendar_lands_on_different_utc_hours_in_another_time_zone() -> None:
    shifts = [{"name": "day", "start": "06:00:00", "hours": 8}]
    shanghai = planned_busy_time(parse_period("2026-11-26", "2026-11-27", "Asia/Shanghai", now_ns=NOW),
                                 "Asia/Shanghai", shifts)
    chicago = planned_busy_time(parse_period("2026-11-26", "2026-11-27", "America/Chicago", now_ns=NOW),
                                "America/Chicago", shifts)
    assert shanghai.intervals == (Interval(utc_ns(2026, 11, 25, 22), utc_ns(2026, 11, 26, 6)),)
    assert chicago.intervals == (Interval(utc_ns(2026, 11, 26, 12), utc_ns(2026, 11, 26, 20)),)


def test_a_daylight_saving_day_has_23_hours_and_shifts_keep_their_length() -> None:
    period = parse_period("2026-03-29", "2026-03-30", "Europe/Berlin", now_ns=NOW)
    assert period.duration_ns == 23 * H
    assert planned_busy_time(period, "Europe/Berlin", []).duration_ns == 23 * H
    # 22:00 CET on the 28th + 8 h ends 07:00 CEST: 6 h fall on the 29th, plus 22:00-24:00 CEST
    night = planned_busy_time(period, "Europe/Berlin", [{"name": "n", "start": "22:00:00", "hours": 8}])
    assert night.duration_ns == 8 * H
    assert night.intervals[0] == Interval(utc_ns(2026, 3, 28, 23), utc_ns(2026, 3, 29, 5))


def test_planned_breaks_are_not_busy_time() -> None:
    period = parse_period("2026-11-26", "2026-11-27", "UTC", now_ns=NOW)
    planned = planned_busy_time(period, "UTC", [{"name": "a", "start": "08:00:00", "hours": 8}], [(2.0, 30), (6.0, 15)])
    assert planned.duration_ns == 8 * H - 45 * 60 * 1_000_000_000
    assert planned.intervals[0] == Interval(utc_ns(2026, 11, 26, 8), utc_ns(2026, 11, 26, 10))
    assert not planned.contains(utc_ns(2026, 11, 26, 10, 15))
    assert planned.contains(utc_ns(2026, 11, 26, 10, 30))
