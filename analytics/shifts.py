"""The plant's shift calendar as analytics sees it: when did the current shift start?

Production rates are set per shift, so the minutes after a shift change look like a level shift to
a statistical detector although they are planned. The monitor treats them like a change of machine
mode: only the engineering range is enforced while the new rate settles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ganlink.assets import Plant

__all__ = ["ShiftCalendar"]

_NS_PER_S = 1_000_000_000


@dataclass
class ShiftCalendar:
    """Shift start times of one plant, in its time zone; caches the current shift's bounds."""

    timezone: str
    starts_s: tuple[int, ...]  # seconds after local midnight, sorted
    _bounds: tuple[int, int] = field(default=(0, 0), repr=False)

    @classmethod
    def of(cls, plant: Plant) -> ShiftCalendar:
        starts = sorted({s.start.hour * 3600 + s.start.minute * 60 + s.start.second for s in plant.shifts})
        return cls(plant.timezone, tuple(starts))

    def since_shift_start_s(self, time_ns: int) -> float | None:
        """Seconds since the latest shift start at ``time_ns``; None for a plant without shifts."""
        if not self.starts_s:
            return None
        start_ns, end_ns = self._bounds
        if not start_ns <= time_ns < end_ns:
            self._bounds = self._shift_bounds(time_ns)
            start_ns = self._bounds[0]
        return (time_ns - start_ns) / _NS_PER_S

    def _shift_bounds(self, time_ns: int) -> tuple[int, int]:
        zone = ZoneInfo(self.timezone)
        local = datetime.fromtimestamp(time_ns / _NS_PER_S, zone)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        candidates = [
            (midnight + timedelta(days=day, seconds=start)).timestamp()
            for day in (-1, 0, 1)
            for start in self.starts_s
        ]
        now_s = time_ns / _NS_PER_S
        begun = max(c for c in candidates if c <= now_s)
        upcoming = min(c for c in candidates if c > now_s)
        return int(begun * _NS_PER_S), int(upcoming * _NS_PER_S)
