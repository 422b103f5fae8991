"""A commissioning report for a pending sensor, from the readings stored since it first appeared:
how often it reports, what values it sends, and what an integrator should check before approving.
Pure: it works on ``(time_ns, value)`` points and does no I/O."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from statistics import fmean, median

__all__ = ["MIN_READINGS", "CommissioningReport", "commissioning_report"]

MIN_READINGS = 30  # fewer readings than this are not enough to judge a sensor
_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class CommissioningReport:
    readings: int
    span_s: float
    median_period_s: float | None
    longest_gap_s: float | None
    minimum: float | None
    maximum: float | None
    mean: float | None
    last: float | None
    suggested_range: tuple[float, float] | None
    findings: list[str] = field(default_factory=list)
    ready: bool = False

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _nice_range(low: float, high: float) -> tuple[float, float]:
    """The observed values widened by a quarter of their spread (or 1 when constant), rounded outward."""
    margin = (high - low) * 0.25 or max(1.0, abs(high) * 0.1)
    step = 10 ** math.floor(math.log10(margin))
    return math.floor((low - margin) / step) * step, math.ceil((high + margin) / step) * step


def commissioning_report(points: Sequence[tuple[int, float]]) -> CommissioningReport:
    """What the stored readings say about a sensor; ``ready`` when nothing argues against approving it."""
    if not points:
        return CommissioningReport(0, 0.0, None, None, None, None, None, None, None, ["no readings stored yet"])
    values = [v for _, v in points]
    intervals = [(b - a) / _NS for (a, _), (b, _) in pairwise(points)]
    period = median(intervals) if intervals else None
    gap = max(intervals) if intervals else None
    findings: list[str] = []
    if len(points) < MIN_READINGS:
        findings.append(f"only {len(points)} readings: wait for at least {MIN_READINGS}")
    if len(points) >= 10 and min(values) == max(values):
        findings.append("the value never changes: check the wiring or the signal (stuck sensor?)")
    if period and gap and gap > 5 * period:
        findings.append(f"gaps up to {gap:.0f} s against a usual {period:g} s: check the link")
    return CommissioningReport(
        readings=len(points),
        span_s=(points[-1][0] - points[0][0]) / _NS,
        median_period_s=period,
        longest_gap_s=gap,
        minimum=min(values),
        maximum=max(values),
        mean=fmean(values),
        last=values[-1],
        suggested_range=_nice_range(min(values), max(values)),
        findings=findings,
        ready=not findings,
    )
