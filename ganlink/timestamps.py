"""Source timestamps: strict RFC 3339 or integer epoch milliseconds in, UTC epoch nanoseconds out."""

from __future__ import annotations

import calendar
import re
import time
from datetime import UTC, datetime
from functools import lru_cache

__all__ = ["format_rfc3339", "now_ns", "parse_source_time"]

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
_NS_PER_S = 1_000_000_000


def now_ns() -> int:
    """The wall clock in UTC epoch nanoseconds."""
    return time.time_ns()


def parse_source_time(raw: object) -> int:
    """Turn a payload ``ts`` into UTC epoch ns; raises ValueError saying what is wrong.

    Accepted: an RFC 3339 string (any offset) or an integer of epoch milliseconds.
    Everything else (floats, seconds, other ISO 8601 forms) is refused, never guessed at.
    """
    if isinstance(raw, bool):
        raise ValueError("ts is a boolean, expected RFC 3339 text or integer epoch milliseconds")
    if isinstance(raw, int):
        return raw * 1_000_000
    if not isinstance(raw, str):
        raise ValueError(f"ts has type {type(raw).__name__}, expected RFC 3339 text or integer epoch ms")
    return _parse_rfc3339(raw)


# The readings of one message usually share one timestamp: caching makes the collector's hot path cheap.
@lru_cache(maxsize=4096)
def _parse_rfc3339(raw: str) -> int:
    match = _RFC3339.fullmatch(raw)
    if match is None:
        raise ValueError(f"ts {raw[:40]!r} is not an RFC 3339 timestamp")
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 59):
        raise ValueError(f"ts {raw!r} has a field out of range")
    try:
        seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
        datetime(year, month, day)  # rejects Feb 30 and friends
    except ValueError as exc:
        raise ValueError(f"ts {raw!r}: {exc}") from None
    fraction = match.group(7)
    nanos = int(fraction.ljust(9, "0")) if fraction else 0
    if match.group(9):
        offset = int(match.group(10)) * 3600 + int(match.group(11)) * 60
        seconds -= offset if match.group(9) == "+" else -offset
    return seconds * _NS_PER_S + nanos


@lru_cache(maxsize=4096)
def _utc_second(seconds: int) -> str:
    # many readings share a second: strftime once per second keeps encoding cheap
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def format_rfc3339(time_ns: int) -> str:
    """UTC RFC 3339 with millisecond precision, the form gateways publish."""
    seconds, nanos = divmod(time_ns, _NS_PER_S)
    return f"{_utc_second(seconds)}.{nanos // 1_000_000:03d}Z"
