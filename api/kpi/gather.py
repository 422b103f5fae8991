"""Compute a plant's KPI set for a period from the time-series store and the registry.

Discrete lines: ISO 22400-2 availability, effectiveness (performance), quality ratio and OEE from
the machine-state signal and the good/reject counters. Continuous lines: availability, run rate
against the nameplate rate and specific energy per tonne. Every plant: anomaly and alarm rates, mean
time to acknowledge and data completeness. Formulas are spelled out in docs/kpis.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from api.kpi.calendar import Interval, PlannedTime, planned_busy_time
from api.kpi.formulas import Kpi, MachineState, counter_increase, integrate_rate, ratio, running_ns, state_times
from api.kpi.sheets import (
    ContinuousInputs,
    DiscreteInputs,
    alarm_kpis,
    continuous_kpis,
    discrete_kpis,
    measured_kpi,
    share,
)
from api.kpi.targets import PLANNED_BREAKS, LineTargets, targets_for
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
) -> DiscreteInputs:
    state = reader.sensor(area, line, targets.state)
    if state is None:
        return DiscreteInputs()
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
    return DiscreteInputs(
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
) -> ContinuousInputs:
    throughput = reader.sensor(area, line, targets.throughput)
    if throughput is None:
        return ContinuousInputs()
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
    return ContinuousInputs(
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
    line_jobs: list[Awaitable[DiscreteInputs | ContinuousInputs]] = []
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
    discrete, continuous = DiscreteInputs(), ContinuousInputs()
    flags = {"counters": False, "pri": False, "nameplate": False, "energy": False}
    index = 0
    for area in tree.areas:
        for line in area.lines:
            wanted = line_targets(line)
            result = line_sums[index]
            index += 1
            if isinstance(result, DiscreteInputs):
                if not wanted.state:
                    continue
                has_counters, has_pri = bool(wanted.good_count and wanted.reject_count), bool(wanted.planned_cycle_s)
                flags["counters"] |= has_counters
                flags["pri"] |= has_pri
                discrete += result
                kpis = discrete_kpis(result, has_counters=has_counters, has_pri=has_pri)
            else:
                if not wanted.throughput:
                    continue
                has_nameplate = bool(wanted.nameplate_t_per_h)
                has_energy = bool(wanted.power or wanted.specific_energy)
                flags["nameplate"] |= has_nameplate
                flags["energy"] |= has_energy
                continuous += result
                kpis = continuous_kpis(result, has_nameplate=has_nameplate, has_energy=has_energy)
            lines.append(LineKpis(area.id, line.id, line.name, line.kind, kpis))

    plant_kpis: list[Kpi] = []
    if any(line.kind == "discrete" for line in lines):
        plant_kpis += discrete_kpis(discrete, has_counters=flags["counters"], has_pri=flags["pri"])
    if any(line.kind == "continuous" for line in lines):
        plant_kpis += continuous_kpis(continuous, has_nameplate=flags["nameplate"], has_energy=flags["energy"])
    hours = period.duration_ns / _NS_PER_H
    expected = sum(expected_readings(s, period.duration_ns) for s in sensors)
    completeness = share(float(received), expected)
    sensor_hours = len(sensors) * hours
    plant_kpis += [
        measured_kpi("anomaly_rate", "Anomaly rate", "Anomaly rate (per 1000 sensor-hours)",
            ratio(1000.0 * len(events), sensor_hours), "1/(1000 sensor-h)",
            "1000 x anomaly events / (sensors x period hours)",
            {"events": float(len(events)), "sensors": float(len(sensors)), "hours": round(hours, 4)},
            completeness),
        *alarm_kpis(alarms, hours / 24),
        measured_kpi("completeness", "Data completeness", "Data completeness (received / expected)", completeness,
            "ratio",
            "readings received / readings expected from each sensor's sample period",
            {"received": float(received), "expected": round(expected, 1), "sensors": float(len(sensors))},
            completeness),
    ]
    return PlantKpis(tree.id, tree.name, tree.industry, tree.timezone, period, plant_kpis, lines)
