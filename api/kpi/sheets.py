"""KPI sheets from summed inputs: pure arithmetic that turns what the store said about one or more
lines (times in state, counts, tonnes, kWh, alarms) into :class:`~api.kpi.formulas.Kpi` values with
their ISO 22400 names, formulas, inputs and confidence. No I/O; :mod:`api.kpi.gather` fills the inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from api.kpi.formulas import Confidence, Kpi, confidence_of, ratio
from ganlink.alarms import Alarm

__all__ = [
    "ContinuousInputs",
    "DiscreteInputs",
    "alarm_kpis",
    "continuous_kpis",
    "discrete_kpis",
    "measured_kpi",
    "share",
]

_NS = 1_000_000_000
_NS_PER_H = 3600 * _NS


def _hours(ns: float) -> float:
    return round(ns / _NS_PER_H, 4)


def share(received: float, expected: float) -> float | None:
    return min(1.0, received / expected) if expected > 0 else None


def _summed(one: object, other: object) -> dict[str, Any]:
    return {f.name: getattr(one, f.name) + getattr(other, f.name) for f in fields(one)}  # type: ignore[arg-type]


def measured_kpi(  # noqa: PLR0917 - mirrors Kpi's fields in order
    key: str, name: str, iso_name: str, value: float | None, unit: str, formula: str,
    inputs: Mapping[str, float | str], completeness: float | None, note: str = "",
) -> Kpi:
    return Kpi(key, name, iso_name, value, unit, formula, inputs, confidence_of(completeness), completeness, note)


@dataclass(frozen=True, slots=True)
class DiscreteInputs:
    """Summed ISO 22400 inputs of one or more discrete work units."""

    pbt_ns: int = 0
    no_data_ns: int = 0
    apt_ns: int = 0
    fault_ns: int = 0
    stopped_ns: int = 0
    setup_ns: int = 0
    produced: float = 0.0
    good: float = 0.0
    planned_work_s: float = 0.0  # sum of PQ x PRI over the units that have a PRI
    produced_with_pri: float = 0.0
    received: float = 0.0
    expected: float = 0.0

    def __add__(self, other: DiscreteInputs) -> DiscreteInputs:
        return DiscreteInputs(**_summed(self, other))


def discrete_kpis(d: DiscreteInputs, *, has_counters: bool, has_pri: bool) -> list[Kpi]:
    completeness = share(d.received, d.expected)
    observed = d.pbt_ns - d.no_data_ns
    availability = ratio(d.apt_ns, observed)
    performance = ratio(d.planned_work_s * _NS, d.apt_ns) if has_pri else None
    quality = ratio(d.good, d.produced) if has_counters else None
    oee = None
    if availability is not None and performance is not None and quality is not None:
        oee = availability * performance * quality
    times = {
        "PBT_h": _hours(d.pbt_ns),
        "no_data_h": _hours(d.no_data_ns),
        "APT_h": _hours(d.apt_ns),
        "ADOT_h (fault)": _hours(d.fault_ns),
        "ADET_h (stopped)": _hours(d.stopped_ns),
        "ASUT_h (changeover)": _hours(d.setup_ns),
    }
    counts = {"PQ": d.produced, "GQ": d.good, "SQ": d.produced - d.good}
    missing_pri = "" if has_pri else "no planned cycle time (PRI) configured for the line"
    missing_counts = "" if has_counters else "no good/reject counters on the line"
    if d.pbt_ns == 0:  # e.g. a period between shifts: nothing was planned, so nothing to rate
        missing_pri = missing_counts = "no planned busy time in the period (shift calendar)"
    return [
        measured_kpi("availability", "Availability", "Availability (A)", availability, "ratio",
            "A = APT / (PBT - no_data)", times, completeness, "" if d.pbt_ns else missing_pri),
        measured_kpi("performance", "Performance", "Effectiveness (E)", performance, "ratio",
            "E = sum(PQ x PRI) / APT", {"sum(PQ x PRI)_h": _hours(d.planned_work_s * _NS), **times, "PQ": d.produced},
            completeness, missing_pri or missing_counts),
        measured_kpi("quality", "Quality ratio", "Quality ratio (QR)", quality, "ratio", "QR = GQ / PQ", counts,
            completeness, missing_counts),
        measured_kpi("oee", "OEE", "Overall equipment effectiveness index (OEE)", oee, "ratio", "OEE = A x E x QR",
            {"A": availability or 0.0, "E": performance or 0.0, "QR": quality or 0.0},
            completeness, missing_pri or missing_counts),
    ]


@dataclass(frozen=True, slots=True)
class ContinuousInputs:
    planned_ns: int = 0
    observed_ns: int = 0
    running_ns: int = 0
    product_t: float = 0.0
    nameplate_t: float = 0.0  # nameplate rate x running hours, over the lines with a nameplate
    product_t_with_nameplate: float = 0.0
    energy_kwh: float = 0.0
    product_t_with_energy: float = 0.0
    received: float = 0.0
    expected: float = 0.0

    def __add__(self, other: ContinuousInputs) -> ContinuousInputs:
        return ContinuousInputs(**_summed(self, other))


def continuous_kpis(c: ContinuousInputs, *, has_nameplate: bool, has_energy: bool) -> list[Kpi]:
    completeness = share(c.received, c.expected)
    times = {"PBT_h": _hours(c.planned_ns), "observed_h": _hours(c.observed_ns), "running_h": _hours(c.running_ns)}
    return [
        measured_kpi("availability", "Availability", "Availability (A)", ratio(c.running_ns, c.observed_ns), "ratio",
            "A = running time / observed PBT (running: throughput above the line's threshold)", times, completeness),
        measured_kpi("produced", "Produced quantity", "Produced quantity (PQ)", round(c.product_t, 3), "t",
            "PQ = integral of throughput x product factor over PBT", times, completeness),
        measured_kpi("run_rate", "Run rate vs nameplate", "Effectiveness (E), continuous",
            ratio(c.product_t_with_nameplate, c.nameplate_t) if has_nameplate else None, "ratio",
            "E = PQ / (nameplate rate x running time)",
            {"PQ_t": round(c.product_t_with_nameplate, 3), "nameplate_x_running_t": round(c.nameplate_t, 3)},
            completeness, "" if has_nameplate else "no nameplate rate configured for the line"),
        measured_kpi("specific_energy", "Specific energy", "Specific energy consumption",
            ratio(c.energy_kwh, c.product_t_with_energy) if has_energy else None, "kWh/t",
            "SEC = energy / PQ",
            {"energy_kWh": round(c.energy_kwh, 3), "PQ_t": round(c.product_t_with_energy, 3)},
            completeness, "" if has_energy else "no power or specific-energy sensor on a throughput line"),
    ]


def alarm_kpis(alarms: Sequence[Alarm], days: float) -> list[Kpi]:
    acknowledged = [a for a in alarms if a.acknowledged_ns is not None]
    delays_min = [(a.acknowledged_ns - a.raised_ns) / (60 * _NS) for a in acknowledged if a.acknowledged_ns]
    mtta = sum(delays_min) / len(delays_min) if delays_min else None
    raised = float(len(alarms))
    return [
        Kpi("alarm_rate", "Alarm rate", "Alarm rate (per day)", ratio(raised, days), "1/d",
            "alarms raised / period days", {"alarms": raised, "days": round(days, 4)}),
        Kpi("ack_share", "Alarms acknowledged", "Share of alarms acknowledged", ratio(len(acknowledged), raised),
            "ratio", "acknowledged / raised", {"acknowledged": float(len(acknowledged)), "alarms": raised},
            confidence=Confidence.HIGH if alarms else Confidence.NONE,
            note="" if alarms else "no alarm was raised in the period"),
        Kpi("mtta", "Mean time to acknowledge", "Mean time to acknowledge (MTTA)",
            round(mtta, 3) if mtta is not None else None, "min",
            "MTTA = mean(acknowledged - raised) over acknowledged alarms",
            {"acknowledged": float(len(acknowledged))},
            confidence=Confidence.HIGH if delays_min else Confidence.NONE,
            note="" if delays_min else "no alarm of the period was acknowledged"),
    ]
