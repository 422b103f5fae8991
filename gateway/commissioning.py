"""Commissioning report: does each sensor of a device profile deliver what its profile promises?

Pure assessment of collected samples (rate achieved vs expected, values inside the engineering
range, unit sanity for the kind, flatline / noise with a suggested deadband, source-clock skew,
read errors); the command line collects the samples from the live device.
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass, field

__all__ = ["Sample", "SensorExpectation", "SensorReport", "assess", "format_report"]

# plausible UCUM-style units per sensor kind: a mismatch is a warning, not a failure
_UNITS_BY_KIND = {
    "temperature": {"Cel", "K", "[degF]"},
    "current": {"A", "kA", "mA"},
    "voltage": {"V", "kV", "mV"},
    "power": {"W", "kW", "MW"},
    "energy": {"kWh", "MWh", "J", "kJ", "kWh/t"},
    "pressure": {"Pa", "kPa", "MPa", "bar", "mbar"},
    "speed": {"r/min", "m/s", "m/min", "Hz"},
    "vibration": {"mm/s", "m/s2", "um"},
    "flow": {"m3/h", "t/h", "kg/h", "L/min", "Nm3/h"},
    "level": {"mm", "m", "%"},
    "force": {"N", "kN", "MN"},
    "torque": {"N.m", "kN.m"},
    "state": {"1", "{state}"},
    "count": {"1", "{count}", "{part}", "{stroke}"},
}
MIN_RATE_RATIO = 0.8
MAX_ERROR_RATIO = 0.05


@dataclass(frozen=True, slots=True)
class Sample:
    """One value with its source time and when the gateway received it (UTC ns)."""

    time_ns: int
    value: float
    received_ns: int


@dataclass(frozen=True, slots=True)
class SensorExpectation:
    """What the profile promises for one sensor."""

    sensor: str
    unit: str
    kind: str
    period_s: float
    range: tuple[float, float] | None = None
    has_source_clock: bool = False


@dataclass(slots=True)
class SensorReport:
    sensor: str
    samples: int
    rate_per_s: float
    expected_per_s: float
    outside_range: int
    noise: float | None
    suggested_deadband: float | None
    skew_ms: float | None
    read_errors: int
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def _noise(values: list[float]) -> float | None:
    """Robust sample-to-sample noise: 1.4826 x median |difference| / sqrt(2)."""
    if len(values) < 3:
        return None
    diffs = [abs(b - a) for a, b in itertools.pairwise(values)]
    return 1.4826 * statistics.median(diffs) / math.sqrt(2)


def _nice(value: float) -> float:
    """Round a suggested deadband to one significant digit."""
    if value <= 0:
        return 0.0
    exponent = math.floor(math.log10(value))
    return round(value, -exponent)


def assess(
    expect: SensorExpectation, samples: list[Sample], *, seconds: float, read_errors: int = 0, polls: int = 0
) -> SensorReport:
    """Judge one sensor's samples collected over ``seconds``."""
    values = [s.value for s in samples]
    expected = 1 / expect.period_s
    rate = len(samples) / seconds if seconds > 0 else 0.0
    outside = 0
    if expect.range is not None:
        low, high = expect.range
        outside = sum(1 for v in values if not low <= v <= high)
    noise = _noise(values)
    skew = None
    if expect.has_source_clock and samples:
        skew = statistics.median((s.received_ns - s.time_ns) / 1e6 for s in samples)
    report = SensorReport(
        expect.sensor,
        len(samples),
        rate,
        expected,
        outside,
        noise,
        None if noise is None else _nice(3 * noise),
        skew,
        read_errors,
    )
    if not samples:
        report.problems.append("no readings at all: check address, unit id and that the point exists")
    elif rate < MIN_RATE_RATIO * expected:
        report.problems.append(f"{rate:.2f} readings/s, expected {expected:.2f}: the device or the link is too slow")
    if outside:
        assert expect.range is not None
        report.problems.append(
            f"{outside} of {len(samples)} values outside {expect.range[0]:g}..{expect.range[1]:g} {expect.unit}:"
            " check scale, offset, data type and word order"
        )
    if polls and read_errors / max(polls, 1) > MAX_ERROR_RATIO:
        report.problems.append(f"{read_errors} read errors in {polls} polls")
    elif read_errors:
        report.warnings.append(f"{read_errors} read errors in {polls} polls")
    plausible = _UNITS_BY_KIND.get(expect.kind)
    if plausible is not None and expect.unit not in plausible:
        usual = ", ".join(sorted(plausible))
        report.warnings.append(f"unit {expect.unit!r} is unusual for a {expect.kind} sensor (usual: {usual})")
    if len(values) >= 3 and len(set(values)) == 1:
        report.warnings.append(
            f"flatline: {len(values)} identical values ({values[0]:g}); a stuck sensor or a wrong address?"
        )
    if skew is not None and abs(skew) > 2000:
        report.warnings.append(f"source clock off by {skew / 1000:+.1f} s: set the device's clock (NTP)")
    return report


def format_report(device: str, reports: list[SensorReport]) -> str:
    """The commissioning report as text for an integrator."""
    lines = [f"Commissioning report for {device}", ""]
    header = f"{'sensor':<24} {'result':<6} {'rate/s':>8} {'expected':>8} {'noise':>10} {'deadband':>9} {'skew ms':>8}"
    lines += [header, "-" * len(header)]
    for r in reports:
        noise = "-" if r.noise is None else f"{r.noise:.4g}"
        deadband = "-" if r.suggested_deadband is None else f"{r.suggested_deadband:g}"
        skew = "n/a" if r.skew_ms is None else f"{r.skew_ms:.0f}"
        result = "PASS" if r.passed else "FAIL"
        rates = f"{r.rate_per_s:>8.2f} {r.expected_per_s:>8.2f}"
        lines.append(f"{r.sensor:<24} {result:<6} {rates} {noise:>10} {deadband:>9} {skew:>8}")
        lines += [f"    problem: {p}" for p in r.problems]
        lines += [f"    warning: {w}" for w in r.warnings]
    failed = sum(1 for r in reports if not r.passed)
    lines += ["", f"{len(reports) - failed} of {len(reports)} sensors pass" + (f", {failed} fail" if failed else "")]
    return "\n".join(lines)
