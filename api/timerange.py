"""Time parameters of range queries and the automatic bucket choice (pure; no I/O)."""

from __future__ import annotations

import math
import re

from ganlink.timestamps import parse_source_time

__all__ = [
    "BUCKET_LADDER_S",
    "MAX_POINTS",
    "choose_bucket_ns",
    "parse_duration_ns",
    "parse_time_ns",
]

MAX_POINTS = 2000
NS_PER_S = 1_000_000_000
# "Nice" bucket widths so chart ticks line up with clock time.
BUCKET_LADDER_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_NS = {"ms": 1_000_000, "s": NS_PER_S, "m": 60 * NS_PER_S, "h": 3600 * NS_PER_S, "d": 86400 * NS_PER_S}
_UNIT_NS["w"] = 7 * _UNIT_NS["d"]


def parse_duration_ns(raw: str) -> int:
    """``30s``, ``5m``, ``2h``, ``1d``, ``1w``, ``500ms`` to nanoseconds; raises ValueError otherwise."""
    match = _DURATION.fullmatch(raw.strip())
    if match is None:
        raise ValueError(f"duration {raw!r} is not a number followed by ms, s, m, h, d or w")
    duration = round(float(match.group(1)) * _UNIT_NS[match.group(2)])
    if duration <= 0:
        raise ValueError(f"duration {raw!r} must be positive")
    return duration


def parse_time_ns(raw: str, *, now_ns: int) -> int:
    """A query time: RFC 3339, integer epoch milliseconds, ``now`` or ``now-15m`` / ``-15m``."""
    text = raw.strip()
    if text == "now":
        return now_ns
    if text.startswith(("now-", "-")):
        return now_ns - parse_duration_ns(text.removeprefix("now").removeprefix("-"))
    if text.isdigit():
        return parse_source_time(int(text))
    return parse_source_time(text)


def choose_bucket_ns(span_ns: int, sample_period_s: float, *, max_points: int = MAX_POINTS) -> int | None:
    """The bucket for a range query: None (raw points) when the expected count fits in ``max_points``,
    else the smallest ladder width (or whole days) that keeps the count at or under ``max_points``."""
    if span_ns <= 0:
        raise ValueError("span must be positive")
    expected_raw = span_ns / (sample_period_s * NS_PER_S)
    if expected_raw <= max_points:
        return None
    # One bucket of slack: epoch-aligned buckets can straddle both ends of the span.
    needed_s = span_ns / (max_points - 1) / NS_PER_S
    for width_s in BUCKET_LADDER_S:
        if width_s >= needed_s:
            return width_s * NS_PER_S
    return math.ceil(needed_s / 86400) * 86400 * NS_PER_S
