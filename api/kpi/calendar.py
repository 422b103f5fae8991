"""Periods and planned busy time in a plant's local time.

A period given without a UTC offset ("2026-11-26", "2026-11-26T08:00") means the plant's wall clock.
Planned busy time (ISO 22400 PBT) is the part of the period covered by the plant's shifts; a plant
without a shift calendar is planned around the clock. Shift starts are wall-clock times, so a shift
keeps its local start across daylight-saving changes while lasting its stated hours.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["Interval", "PlannedTime", "merge_intervals", "parse_instant", "parse_period", "planned_busy_time"]

_NS = 1_000_000_000
_RELATIVE = re.compile(r"^now(?:-(\d+)([smhd]))?$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True)
class Interval:
    """[start_ns, end_ns) in UTC epoch nanoseconds."""

    start_ns: int
    end_ns: int

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)

    def clip(self, other: Interval) -> Interval | None:
        start, end = max(self.start_ns, other.start_ns), min(self.end_ns, other.end_ns)
        return Interval(start, end) if start < end else None


@dataclass(frozen=True, slots=True)
class PlannedTime:
    """The planned busy intervals of one period, merged and ordered."""

    period: Interval
    intervals: tuple[Interval, ...]

    @property
    def duration_ns(self) -> int:
        return sum(i.duration_ns for i in self.intervals)

    def overlap_ns(self, span: Interval) -> int:
        """How much of ``span`` lies in planned busy time."""
        return sum(c.duration_ns for i in self.intervals if (c := i.clip(span)) is not None)

    def contains(self, time_ns: int) -> bool:
        return any(i.start_ns <= time_ns < i.end_ns for i in self.intervals)


def merge_intervals(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    merged: list[Interval] = []
    for interval in sorted(intervals, key=lambda i: i.start_ns):
        if interval.duration_ns == 0:
            continue
        if merged and interval.start_ns <= merged[-1].end_ns:
            last = merged[-1]
            merged[-1] = Interval(last.start_ns, max(last.end_ns, interval.end_ns))
        else:
            merged.append(interval)
    return tuple(merged)


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {timezone!r}") from None


def _to_ns(moment: datetime) -> int:
    return int(moment.timestamp()) * _NS + moment.microsecond * 1000


def parse_instant(raw: str, timezone: str, *, now_ns: int) -> int:
    """One end of a period: ``now``, ``now-7d``, a date or a date-time; no offset = plant local time."""
    text = raw.strip()
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = relative.groups()
        return now_ns - (int(amount) * _UNIT_S[unit] * _NS if amount else 0)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{raw!r} is not a date, a date-time or now[-N(s|m|h|d)]") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_zone(timezone))
    return _to_ns(moment)


def parse_period(start: str, end: str, timezone: str, *, now_ns: int) -> Interval:
    """The period [start, end) in UTC ns; raises ValueError when it is empty or unreadable."""
    period = Interval(parse_instant(start, timezone, now_ns=now_ns), parse_instant(end, timezone, now_ns=now_ns))
    if period.duration_ns <= 0:
        raise ValueError(f"period {start!r} .. {end!r} is empty: the end must be after the start")
    return period


def _shift_fields(shift: Any) -> tuple[time, float]:
    if isinstance(shift, dict):
        start = shift["start"]
        return (start if isinstance(start, time) else time.fromisoformat(str(start))), float(shift["hours"])
    return shift.start, float(shift.hours)


def planned_busy_time(
    period: Interval, timezone: str, shifts: Sequence[Any], breaks: Sequence[tuple[float, float]] = ()
) -> PlannedTime:
    """The shifts' working time inside ``period``, less planned breaks; the whole period without a calendar.

    ``shifts`` are ``ganlink.assets.Shift`` models or their registry dicts (``start``, ``hours``);
    ``breaks`` are ``(hours after shift start, minutes)`` of planned downtime in every shift.
    """
    if not shifts:
        return PlannedTime(period, (period,))
    zone = _zone(timezone)
    first = datetime.fromtimestamp(period.start_ns / _NS, UTC).astimezone(zone).date() - timedelta(days=1)
    last = datetime.fromtimestamp(period.end_ns / _NS, UTC).astimezone(zone).date()
    pieces: list[Interval] = []
    day: date = first
    while day <= last:
        for shift in shifts:
            start_time, hours = _shift_fields(shift)
            start_ns = _to_ns(datetime.combine(day, start_time, tzinfo=zone))
            end_ns = start_ns + int(hours * 3600 * _NS)
            cursor = start_ns
            for after_h, minutes in sorted(breaks):
                break_start = start_ns + int(after_h * 3600 * _NS)
                pieces.append(Interval(cursor, min(break_start, end_ns)))
                cursor = max(cursor, break_start + int(minutes * 60 * _NS))
            pieces.append(Interval(cursor, end_ns))
        day += timedelta(days=1)
    clipped = (c for piece in pieces if (c := piece.clip(period)) is not None)
    return PlannedTime(period, merge_intervals(clipped))
