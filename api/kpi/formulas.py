"""Pure KPI math on readings: time in machine state, counter increments, integrals, ratios.

Nothing here does I/O. Readings are ``(time_ns, value)`` pairs ordered by time; a reading holds
its value until the next one, but never longer than ``max_hold_ns`` (beyond that, the time is
"no data" and lowers the confidence instead of counting as any state).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from itertools import pairwise

from api.kpi.calendar import Interval, PlannedTime

__all__ = [
    "LOW_COMPLETENESS",
    "Confidence",
    "Kpi",
    "MachineState",
    "StateTimes",
    "confidence_of",
    "counter_increase",
    "integrate_rate",
    "ratio",
    "running_ns",
    "state_times",
]

LOW_COMPLETENESS = 0.9  # below this share of expected readings a number is marked low-confidence
_NS_PER_H = 3600 * 1_000_000_000

Point = tuple[int, float]


class MachineState(IntEnum):
    """The ``state`` sensor convention of discrete lines (plant YAML: 0 stopped, 1 running, 2 fault, 3 changeover)."""

    STOPPED = 0
    RUNNING = 1
    FAULT = 2
    CHANGEOVER = 3


class Confidence(StrEnum):
    HIGH = "high"  # inputs at least LOW_COMPLETENESS complete
    LOW = "low"  # inputs present but incomplete: read the number with care
    NONE = "none"  # no input data: the number is missing


@dataclass(frozen=True, slots=True)
class Kpi:
    """One KPI value with how it was computed: formula, named inputs, confidence and a note."""

    key: str
    name: str
    iso_name: str
    value: float | None
    unit: str
    formula: str
    inputs: Mapping[str, float | str] = field(default_factory=dict)
    confidence: Confidence = Confidence.HIGH
    completeness: float | None = None
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "name": self.name,
            "iso_name": self.iso_name,
            "value": self.value,
            "unit": self.unit,
            "formula": self.formula,
            "inputs": dict(self.inputs),
            "confidence": str(self.confidence),
            "completeness": self.completeness,
            "note": self.note,
        }


def confidence_of(completeness: float | None) -> Confidence:
    if completeness is None or completeness <= 0:
        return Confidence.NONE
    return Confidence.HIGH if completeness >= LOW_COMPLETENESS else Confidence.LOW


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or None when the denominator is zero (nothing to divide by)."""
    return numerator / denominator if denominator > 0 else None


@dataclass(frozen=True, slots=True)
class StateTimes:
    """Planned busy time split by machine state (ns); ``no_data_ns`` is PBT without a state reading."""

    by_state: Mapping[int, int]
    no_data_ns: int
    planned_ns: int

    def of(self, state: MachineState) -> int:
        return self.by_state.get(int(state), 0)

    @property
    def observed_ns(self) -> int:
        return self.planned_ns - self.no_data_ns


def state_times(points: Sequence[Point], planned: PlannedTime, max_hold_ns: int) -> StateTimes:
    """How long the machine was in each state during planned busy time."""
    by_state: dict[int, int] = {}
    for index, (time_ns, value) in enumerate(points):
        next_ns = points[index + 1][0] if index + 1 < len(points) else planned.period.end_ns
        held = Interval(time_ns, min(next_ns, time_ns + max_hold_ns))
        if held.duration_ns == 0:
            continue
        state = round(value)
        by_state[state] = by_state.get(state, 0) + planned.overlap_ns(held)
    observed = sum(by_state.values())
    return StateTimes(by_state, planned.duration_ns - observed, planned.duration_ns)


def counter_increase(points: Sequence[Point], planned: PlannedTime) -> float:
    """What a cumulative counter counted during planned busy time.

    Each increase is credited at the later reading's time; a drop means the counter restarted from
    zero, so the new value itself is the increase since the restart.
    """
    total = 0.0
    for (_, before), (time_ns, after) in pairwise(points):
        if planned.contains(time_ns):
            total += after - before if after >= before else after
    return total


def integrate_rate(buckets: Sequence[Point], bucket_ns: int, planned: PlannedTime) -> float:
    """The integral of a per-hour rate (t/h, kW) over planned busy time, from bucket means: sum(mean x hours)."""
    total = 0.0
    for start_ns, mean in buckets:
        overlap = planned.overlap_ns(Interval(start_ns, start_ns + bucket_ns))
        total += mean * overlap / _NS_PER_H
    return total


def running_ns(buckets: Sequence[Point], bucket_ns: int, planned: PlannedTime, threshold: float) -> tuple[int, int]:
    """(running, observed) planned busy time from bucket means: a bucket runs when its mean is above ``threshold``."""
    running = observed = 0
    for start_ns, mean in buckets:
        overlap = planned.overlap_ns(Interval(start_ns, start_ns + bucket_ns))
        observed += overlap
        if mean > threshold:
            running += overlap
    return running, observed
