"""Compute a plant's KPI set for a period from the time-series store and the registry.

Discrete lines: ISO 22400-2 availability, effectiveness (performance), quality ratio and OEE from
the machine-state signal and the good/reject counters. Continuous lines: availability, run rate
against the nameplate rate and specific energy per tonne. Every plant: anomaly and alarm rates, mean
time to acknowledge and data completeness. Formulas are spelled out in docs/kpis.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from api.kpi.calendar import Interval, PlannedTime, planned_busy_time
from api.kpi.formulas import (
    Confidence,
    Kpi,
    MachineState,
    confidence_of,
    counter_increase,
    integrate_rate,
    ratio,
    running_ns,
    state_times,
)
from api.kpi.targets import PLANNED_BREAKS, LineTargets, targets_for
from ganlink.alarms import Alarm
from ganlink.registry import LineNode, PlantInfo, Registry, SensorInfo
from ganlink.store import Aggregate, SensorSelector, TimeSeriesStore

__all__ = ["LineKpis", "PlantKpis", "compute_plant_kpis", "expected_readings"]

_NS = 1_000_000_000
_NS_PER_H = 3600 * _NS
_MAX_ALARMS = 100_000
RAW_UP_TO_NS = 26 * 3600 * _NS  # state and counter signals are read raw for periods up to a day and a bit
SIGNAL_POINTS = 100_000  # beyond that, about this many buckets' last values per signal
_MAX_EVENTS = 100_000


@dataclass(frozen=True, slots=True)
class LineKpis:
    area: str
    line: str
    name: str
    kind: str
    kpis: list[Kpi]

    def as_dict(self) -> dict[str, object]:
        return {
            "area": self.area,
            "line": self.line,
            "name": self.name,
            "kind": self.kind,
            "kpis": [k.as_dict() for k in self.kpis],
        }


@dataclass(frozen=True, slots=True)
class PlantKpis:
    """A plant's KPIs for one period; ``kpis`` are plant-level, ``lines`` per line."""

    plant: str
    name: str
    industry: str
    timezone: str
    period: Interval
    kpis: list[Kpi]
    lines: list[LineKpis] = field(default_factory=list)

    def kpi(self, key: str) -> Kpi | None:
        return next((k for k in self.kpis if k.key == key), None)

    def local(self, time_ns: int) -> str:
        moment = datetime.fromtimestamp(time_ns / _NS, UTC).astimezone(ZoneInfo(self.timezone))
        return moment.isoformat(timespec="seconds")

    def as_dict(self) -> dict[str, object]:
        return {
            "plant": self.plant,
            "name": self.name,
            "industry": self.industry,
            "timezone": self.timezone,
            "start": self.local(self.period.start_ns),
            "end": self.local(self.period.end_ns),
            "kpis": [k.as_dict() for k in self.kpis],
            "lines": [line.as_dict() for line in self.lines],
        }


def expected_readings(sensor: SensorInfo, span_ns: int) -> float:
    """Readings a sensor should deliver in ``span_ns`` at its sample period."""
    return span_ns / (sensor.sample_period_s * _NS)


def _hours(ns: float) -> float:
    return round(ns / _NS_PER_H, 4)


def _share(received: float, expected: float) -> float | None:
    return min(1.0, received / expected) if expected > 0 else None


def _summed(one: object, other: object) -> dict[str, Any]:
    return {f.name: getattr(one, f.name) + getattr(other, f.name) for f in fields(one)}  # type: ignore[arg-type]


def _kpi(  # noqa: PLR0917 - mirrors Kpi's fields in order
    key: str, name: str, iso_name: str, value: float | None, unit: str, formula: str,
    inputs: Mapping[str, float | str], completeness: float | None, note: str = "",
) -> Kpi:
    return Kpi(key, name, iso_name, value, unit, formula, inputs, confidence_of(completeness), completeness, note)


@dataclass(frozen=True, slots=True)
class _Discrete:
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

    def __add__(self, other: _Discrete) -> _Discrete:
        return _Discrete(**_summed(self, other))


def _discrete_kpis(d: _Discrete, *, has_counters: bool, has_pri: bool) -> list[Kpi]:
    completeness = _share(d.received, d.expected)
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
        _kpi("availability", "Availability", "Availability (A)", availability, "ratio",
            "A = APT / (PBT - no_data)", times, completeness, "" if d.pbt_ns else missing_pri),
        _kpi("performance", "Performance", "Effectiveness (E)", performance, "ratio",
            "E = sum(PQ x PRI) / APT", {"sum(PQ x PRI)_h": _hours(d.planned_work_s * _NS), **times, "PQ": d.produced},
            completeness, missing_pri or missing_counts),
        _kpi("quality", "Quality ratio", "Quality ratio (QR)", quality, "ratio", "QR = GQ / PQ", counts,
            completeness, missing_counts),
        _kpi("oee", "OEE", "Overall equipment effectiveness index (OEE)", oee, "ratio", "OEE = A x E x QR",
            {"A": availability or 0.0, "E": performance or 0.0, "QR": quality or 0.0},
            completeness, missing_pri or missing_counts),
    ]


@dataclass(frozen=True, slots=True)
class _Continuous:
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

    def __add__(self, other: _Continuous) -> _Continuous:
        return _Continuous(**_summed(self, other))


def _continuous_kpis(c: _Continuous, *, has_nameplate: bool, has_energy: bool) -> list[Kpi]:
    completeness = _share(c.received, c.expected)
    times = {"PBT_h": _hours(c.planned_ns), "observed_h": _hours(c.observed_ns), "running_h": _hours(c.running_ns)}
    return [
        _kpi("availability", "Availability", "Availability (A)", ratio(c.running_ns, c.observed_ns), "ratio",
            "A = running time / observed PBT (running: throughput above the line's threshold)", times, completeness),
        _kpi("produced", "Produced quantity", "Produced quantity (PQ)", round(c.product_t, 3), "t",
            "PQ = integral of throughput x product factor over PBT", times, completeness),
        _kpi("run_rate", "Run rate vs nameplate", "Effectiveness (E), continuous",
            ratio(c.product_t_with_nameplate, c.nameplate_t) if has_nameplate else None, "ratio",
            "E = PQ / (nameplate rate x running time)",
            {"PQ_t": round(c.product_t_with_nameplate, 3), "nameplate_x_running_t": round(c.nameplate_t, 3)},
            completeness, "" if has_nameplate else "no nameplate rate configured for the line"),
        _kpi("specific_energy", "Specific energy", "Specific energy consumption",
            ratio(c.energy_kwh, c.product_t_with_energy) if has_energy else None, "kWh/t",
            "SEC = energy / PQ",
            {"energy_kWh": round(c.energy_kwh, 3), "PQ_t": round(c.product_t_with_energy, 3)},
            completeness, "" if has_energy else "no power or specific-energy sensor on a throughput line"),
    ]


class _Reader:
    """Store queries for one plant and period."""

    def __init__(self, store: TimeSeriesStore, sensors: Sequence[SensorInfo], period: Interval) -> None:
        self.store = store
        self.period = period
        self.by_local = {(s.area, s.line, f"{s.device}/{s.id}"): s for s in sensors}

    def sensor(self, area: str, line: str, local: str | None) -> SensorInfo | None:
        return self.by_local.get((area, line, local)) if local else None

    def signal_bucket_ns(self, sensor: SensorInfo) -> int | None:
        """None (raw readings) up to RAW_UP_TO_NS; longer periods read about SIGNAL_POINTS buckets."""
        if self.period.duration_ns <= RAW_UP_TO_NS:
            return None
        wanted_s = -(-self.period.duration_ns // (SIGNAL_POINTS * _NS))
        return max(int(sensor.sample_period_s * _NS), wanted_s * _NS)

    async def signal(self, sensor: SensorInfo, lookback_ns: int) -> list[tuple[int, float]]:
        """A state or counter signal: raw readings, or each bucket's last value for long periods."""
        bucket = self.signal_bucket_ns(sensor)
        points = await self.store.query_range(
            sensor.device_path, sensor.id, self.period.start_ns - max(lookback_ns, bucket or 0), self.period.end_ns,
            bucket_ns=bucket, aggregate=Aggregate.LAST,
        )
        return [(p.time_ns, p.value) for p in points if p.value is not None]

    def bucket_ns(self) -> int:
        return max(60 * _NS, (self.period.duration_ns // 2000) // (60 * _NS) * 60 * _NS)

    async def buckets(self, sensor: SensorInfo) -> list[tuple[int, float]]:
        points = await self.store.query_range(
            sensor.device_path, sensor.id, self.period.start_ns, self.period.end_ns,
            bucket_ns=self.bucket_ns(), aggregate=Aggregate.MEAN,
        )
        return [(p.time_ns, p.value) for p in points if p.value is not None]

    async def count(self, sensor: SensorInfo) -> int:
        selector = SensorSelector(sensor.plant, sensor.area, sensor.line, sensor.device, sensor.id)
        return await self.store.count_readings(selector, self.period.start_ns, self.period.end_ns)


async def _discrete_line(
    reader: _Reader, area: str, line: str, targets: LineTargets, planned: PlannedTime
) -> _Discrete:
    state = reader.sensor(area, line, targets.state)
    if state is None:
        return _Discrete()
    hold = int(3 * max(state.sample_period_s * _NS, reader.signal_bucket_ns(state) or 0))
    state_points, received_state = await asyncio.gather(reader.signal(state, hold), reader.count(state))
    times = state_times(state_points, planned, hold)
    span = reader.period.duration_ns
    received, expected = float(received_state), expected_readings(state, span)
    produced = good = 0.0
    counters = [reader.sensor(area, line, targets.good_count), reader.sensor(area, line, targets.reject_count)]
    if all(counters):
        good_sensor, reject_sensor = counters
        assert good_sensor is not None
        assert reject_sensor is not None
        good_points, reject_points, received_good, received_reject = await asyncio.gather(
            reader.signal(good_sensor, int(10 * good_sensor.sample_period_s * _NS)),
            reader.signal(reject_sensor, int(10 * reject_sensor.sample_period_s * _NS)),
            reader.count(good_sensor),
            reader.count(reject_sensor),
        )
        good = counter_increase(good_points, planned)
        produced = good + counter_increase(reject_points, planned)
        received += received_good + received_reject
        expected += expected_readings(good_sensor, span) + expected_readings(reject_sensor, span)
    pri = targets.planned_cycle_s
    return _Discrete(
        pbt_ns=times.planned_ns,
        no_data_ns=times.no_data_ns,
        apt_ns=times.of(MachineState.RUNNING),
        fault_ns=times.of(MachineState.FAULT),
        stopped_ns=times.of(MachineState.STOPPED),
        setup_ns=times.of(MachineState.CHANGEOVER),
        produced=produced,
        good=good,
        planned_work_s=produced * pri if pri else 0.0,
        produced_with_pri=produced if pri else 0.0,
        received=received,
        expected=expected,
    )


async def _continuous_line(
    reader: _Reader, area: str, line: str, targets: LineTargets, planned: PlannedTime
) -> _Continuous:
    throughput = reader.sensor(area, line, targets.throughput)
    if throughput is None:
        return _Continuous()
    bucket = reader.bucket_ns()
    rates, received = await asyncio.gather(reader.buckets(throughput), reader.count(throughput))
    threshold = targets.running_above_t_per_h if targets.running_above_t_per_h is not None else 0.0
    running, observed = running_ns(rates, bucket, planned, threshold)
    product = integrate_rate(rates, bucket, planned) * targets.product_factor
    energy = 0.0
    has_energy = False
    power = [s for local in targets.power if (s := reader.sensor(area, line, local)) is not None]
    if power:
        has_energy = True
        for series in await asyncio.gather(*(reader.buckets(s) for s in power)):
            energy += integrate_rate(series, bucket, planned)
    elif (specific := reader.sensor(area, line, targets.specific_energy)) is not None:
        has_energy = True
        per_tonne = dict(await reader.buckets(specific))
        tonnes = dict(rates)
        energy = sum(
            per_tonne[t] * tonnes[t] * planned.overlap_ns(Interval(t, t + bucket)) / _NS_PER_H * targets.product_factor
            for t in tonnes
            if t in per_tonne
        )
    nameplate = targets.nameplate_t_per_h
    return _Continuous(
        planned_ns=planned.duration_ns,
        observed_ns=observed,
        running_ns=running,
        product_t=product,
        nameplate_t=nameplate * running / _NS_PER_H if nameplate else 0.0,
        product_t_with_nameplate=product if nameplate else 0.0,
        energy_kwh=energy,
        product_t_with_energy=product if has_energy else 0.0,
        received=float(received),
        expected=expected_readings(throughput, reader.period.duration_ns),
    )


def _alarm_kpis(alarms: Sequence[Alarm], days: float) -> list[Kpi]:
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


def _planned(plant: PlantInfo, period: Interval, kind: str) -> PlannedTime:
    breaks = PLANNED_BREAKS.get(plant.id, ()) if kind == "discrete" else ()
    return planned_busy_time(period, plant.timezone, plant.shifts, breaks)


async def compute_plant_kpis(
    store: TimeSeriesStore,
    registry: Registry,
    plant_id: str,
    period: Interval,
    *,
    targets: Mapping[tuple[str, str], LineTargets] | None = None,
) -> PlantKpis:
    """The plant's KPI set for ``period``; raises LookupError when the plant is unknown.

    ``targets`` overrides the line targets per (plant, line); other lines use :func:`targets_for`.
    """

    def line_targets(line: LineNode) -> LineTargets:
        if targets is not None and (plant_id, line.id) in targets:
            return targets[(plant_id, line.id)]
        return targets_for(plant_id, line.id, line.kind, [s for d in line.devices for s in d.sensors])

    tree = registry.asset_tree(plant_id)
    if tree is None:
        raise LookupError(f"no plant {plant_id!r}")
    sensors = [s for a in tree.areas for ln in a.lines for d in ln.devices for s in d.sensors]
    reader = _Reader(store, sensors, period)
    line_jobs: list[Awaitable[_Discrete | _Continuous]] = []
    for area in tree.areas:
        for line in area.lines:
            planned = _planned(tree, period, line.kind)
            if line.kind == "discrete":
                line_jobs.append(_discrete_line(reader, area.id, line.id, line_targets(line), planned))
            else:
                line_jobs.append(_continuous_line(reader, area.id, line.id, line_targets(line), planned))
    events, received = await asyncio.gather(
        store.events(SensorSelector(plant_id), period.start_ns, period.end_ns, limit=_MAX_EVENTS),
        store.count_readings(SensorSelector(plant_id), period.start_ns, period.end_ns),
    )
    line_sums = await asyncio.gather(*line_jobs)
    alarms = [a for a in registry.alarms(plant_id, since_ns=period.start_ns, limit=_MAX_ALARMS)
              if a.raised_ns < period.end_ns]

    lines: list[LineKpis] = []
    discrete, continuous = _Discrete(), _Continuous()
    flags = {"counters": False, "pri": False, "nameplate": False, "energy": False}
    index = 0
    for area in tree.areas:
        for line in area.lines:
            wanted = line_targets(line)
            result = line_sums[index]
            index += 1
            if isinstance(result, _Discrete):
                if not wanted.state:
                    continue
                has_counters, has_pri = bool(wanted.good_count and wanted.reject_count), bool(wanted.planned_cycle_s)
                flags["counters"] |= has_counters
                flags["pri"] |= has_pri
                discrete += result
                kpis = _discrete_kpis(result, has_counters=has_counters, has_pri=has_pri)
            else:
                if not wanted.throughput:
                    continue
                has_nameplate = bool(wanted.nameplate_t_per_h)
                has_energy = bool(wanted.power or wanted.specific_energy)
                flags["nameplate"] |= has_nameplate
                flags["energy"] |= has_energy
                continuous += result
                kpis = _continuous_kpis(result, has_nameplate=has_nameplate, has_energy=has_energy)
            lines.append(LineKpis(area.id, line.id, line.name, line.kind, kpis))

    plant_kpis: list[Kpi] = []
    if any(line.kind == "discrete" for line in lines):
        plant_kpis += _discrete_kpis(discrete, has_counters=flags["counters"], has_pri=flags["pri"])
    if any(line.kind == "continuous" for line in lines):
        plant_kpis += _continuous_kpis(continuous, has_nameplate=flags["nameplate"], has_energy=flags["energy"])
    hours = period.duration_ns / _NS_PER_H
    expected = sum(expected_readings(s, period.duration_ns) for s in sensors)
    completeness = _share(float(received), expected)
    sensor_hours = len(sensors) * hours
    plant_kpis += [
        _kpi("anomaly_rate", "Anomaly rate", "Anomaly rate (per 1000 sensor-hours)",
            ratio(1000.0 * len(events), sensor_hours), "1/(1000 sensor-h)",
            "1000 x anomaly events / (sensors x period hours)",
            {"events": float(len(events)), "sensors": float(len(sensors)), "hours": round(hours, 4)},
            completeness),
        *_alarm_kpis(alarms, hours / 24),
        _kpi("completeness", "Data completeness", "Data completeness (received / expected)", completeness, "ratio",
            "readings received / readings expected from each sensor's sample period",
            {"received": float(received), "expected": round(expected, 1), "sensors": float(len(sensors))},
            completeness),
    ]
    return PlantKpis(tree.id, tree.name, tree.industry, tree.timezone, period, plant_kpis, lines)
