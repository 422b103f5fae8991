"""The production schedule: which shift runs, breaks, and each line's production rate over time."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from ganlink.assets import Line, Plant
from gateway.simulator.params import Break, PlantSimulationSettings
from gateway.simulator.signals import ArNoise

__all__ = ["LineSchedule", "PlantClock", "ShiftPosition"]

_NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class ShiftPosition:
    """Where a moment falls in the plant's day: local hour, current shift and hours into it."""

    local_hour: float
    shift: str | None
    hours_into_shift: float


class PlantClock:
    """Maps UTC time to the plant's local hour and shift (shifts may wrap past midnight)."""

    def __init__(self, plant: Plant) -> None:
        self._zone = ZoneInfo(plant.timezone)
        self._shifts = [
            (s.name, s.start.hour + s.start.minute / 60 + s.start.second / 3600, s.hours) for s in plant.shifts
        ]

    def position(self, time_ns: int) -> ShiftPosition:
        local = datetime.fromtimestamp(time_ns / _NS_PER_S, self._zone)
        hour = local.hour + local.minute / 60 + (local.second + local.microsecond / 1e6) / 3600
        for name, start, length in self._shifts:
            into = (hour - start) % 24
            if into < length:
                return ShiftPosition(hour, name, into)
        return ShiftPosition(hour, None, 0.0)


class LineSchedule:
    """The production rate of one line (1.0 = nameplate): by shift, zero in breaks for discrete
    lines, with a slow random wander."""

    def __init__(self, line: Line, settings: PlantSimulationSettings, rng: random.Random) -> None:
        override = settings.lines.get(line.id)
        self._shift_rates = {**settings.shift_rates, **(override.shift_rates if override else {})}
        self.discrete = line.kind == "discrete"
        breaks = override.breaks if override and override.breaks is not None else settings.breaks
        self._breaks: list[Break] = breaks if self.discrete else []
        # very slow wander: correlation over ~10 minutes at a 1 s tick
        self._wander = ArNoise(rng, settings.rate_wander, 0.998)

    def rate(self, position: ShiftPosition) -> float:
        wander = self._wander.next()
        if position.shift is None:
            return 0.0 if self.discrete else max(0.0, 1.0 + wander)
        if any(b.after_h <= position.hours_into_shift < b.after_h + b.minutes / 60 for b in self._breaks):
            return 0.0
        return max(0.0, self._shift_rates.get(position.shift, 1.0) * (1.0 + wander))
