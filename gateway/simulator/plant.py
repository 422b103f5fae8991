"""A whole simulated plant: every sensor's signal, the fault plan, and device batches per tick.

Deterministic for a plant file, a seed and a start time; runs as fast as asked (backfill,
scoring) or paced by the caller (real time).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import reduce

from ganlink.assets import PlantFile, SensorRef
from ganlink.errors import ConfigError
from ganlink.schema import Reading
from ganlink.topics import DevicePath
from gateway.simulator.faults import Fault, FaultPlan, FaultTarget, GroundTruth, apply_fault
from gateway.simulator.params import FaultSettings, SignalParams, plant_settings, signal_params
from gateway.simulator.production import LineSchedule, PlantClock
from gateway.simulator.signal_models import CounterSignal, ProcessSignal, StateSignal, Tick, UnitSplit
from gateway.simulator.signals import quantize

__all__ = ["PlantSimulator", "SimulationRun", "simulate"]

_NS_PER_S = 1_000_000_000
_NS_PER_MS = 1_000_000

Signal = ProcessSignal | StateSignal | CounterSignal


@dataclass(slots=True)
class _Channel:
    """One simulated sensor with its bookkeeping."""

    ref: SensorRef
    params: SignalParams
    period_ns: int
    span: float
    low: float
    high: float
    signal: Signal | None = None
    faults: list[Fault] | None = None
    fault_index: int = 0
    last_output: float = math.nan
    held: float = math.nan
    slot: int = 0


def _resolve(ref: SensorRef, target: str, index_by_id: dict[str, int]) -> int:
    """Index of ``sensor`` (same device) or ``device/sensor`` (same line)."""
    device = ref.device
    if "/" in target:
        other_device, sensor = target.split("/", 1)
        full = DevicePath(device.plant, device.area, device.line, other_device).sensor_id(sensor)
    else:
        full = device.sensor_id(target)
    if full not in index_by_id:
        raise ConfigError(f"sensor {ref.sensor_id} simulation refers to {target!r}, which is not on its line")
    return index_by_id[full]


def _dependencies(ref: SensorRef, params: SignalParams, index_by_id: dict[str, int]) -> list[int]:
    targets = [t.sensor for t in params.follows] + [x for x in (params.state, params.share_of) if x]
    return [_resolve(ref, target, index_by_id) for target in targets]


def _dependency_order(refs: list[SensorRef], params: list[SignalParams]) -> list[int]:
    index_by_id = {ref.sensor_id: i for i, ref in enumerate(refs)}
    deps = [_dependencies(ref, p, index_by_id) for ref, p in zip(refs, params, strict=True)]
    order: list[int] = []
    state = [0] * len(refs)  # 0 new, 1 visiting, 2 done

    def visit(i: int) -> None:
        if state[i] == 2:
            return
        if state[i] == 1:
            raise ConfigError(f"sensor {refs[i].sensor_id} simulation follows itself through a cycle")
        state[i] = 1
        for d in deps[i]:
            visit(d)
        state[i] = 2
        order.append(i)

    for i in range(len(refs)):
        visit(i)
    return order


class PlantSimulator:
    """Steps every sensor of a plant tick by tick from ``start_ns`` (aligned up to the tick)."""

    def __init__(
        self, plant_file: PlantFile, *, seed: int, start_ns: int, faults: FaultSettings | None = None
    ) -> None:
        self.plant_file = plant_file
        settings = plant_settings(plant_file)
        raw_refs = list(plant_file.sensors())
        raw_params = [signal_params(r.sensor_id, r.sensor.simulation) for r in raw_refs]
        order = _dependency_order(raw_refs, raw_params)
        refs = [raw_refs[i] for i in order]
        params = [raw_params[i] for i in order]
        periods_ms = [round(r.sensor.sample_period_s * 1000) for r in refs]
        if any(p <= 0 for p in periods_ms):
            raise ConfigError(f"plant {plant_file.plant.id}: sample periods must be at least 1 ms")
        self.tick_ns = reduce(math.gcd, periods_ms) * _NS_PER_MS
        self.start_ns = -(-start_ns // self.tick_ns) * self.tick_ns
        self._clock = PlantClock(plant_file.plant)
        root = random.Random(f"{seed}/{plant_file.plant.id}")
        self._lines = {
            line.id: LineSchedule(line, settings, random.Random(f"{seed}/line/{line.id}"))
            for area in plant_file.plant.areas
            for line in area.lines
        }
        self._channels = [
            _Channel(r, p, ms * _NS_PER_MS, r.sensor.range[1] - r.sensor.range[0], *r.sensor.range)
            for r, p, ms in zip(refs, params, periods_ms, strict=True)
        ]
        self._build_signals(seed)
        fault_settings = faults if faults is not None else settings.faults
        targets = [
            FaultTarget(c.ref.sensor_id, c.period_ns, c.ref.sensor.kind == "vibration")
            for c in self._channels
            if c.params.model == "process" and c.params.faults
        ]
        self._plan = FaultPlan(targets, fault_settings, seed, self.start_ns)
        self._faults_by_sensor: dict[str, list[Fault]] = {c.ref.sensor_id: [] for c in self._channels}
        self._devices = list(dict.fromkeys(c.ref.device for c in self._channels))
        slots = {d: i for i, d in enumerate(self._devices)}
        for channel in self._channels:
            channel.slot = slots[channel.ref.device]
        self._values = [0.0] * len(self._channels)
        self._splits: list[UnitSplit | None] = [None] * len(self._channels)
        self._root_rng = root
        self.time_ns = self.start_ns

    def _build_signals(self, seed: int) -> None:
        index_by_id = {c.ref.sensor_id: i for i, c in enumerate(self._channels)}
        share_taken: dict[int, float] = {}
        for channel in self._channels:
            ref, p = channel.ref, channel.params
            rng = random.Random(f"{seed}/{ref.sensor_id}")
            state = _resolve(ref, p.state, index_by_id) if p.state else None
            if p.model == "state":
                channel.signal = StateSignal(p, line=ref.device.line, rng=rng)
            elif p.model == "counter":
                source = None
                if p.share_of:
                    index = _resolve(ref, p.share_of, index_by_id)
                    lower = share_taken.get(index, 0.0)
                    share_taken[index] = lower + p.share
                    source = (index, lower, lower + p.share)
                channel.signal = CounterSignal(p, line=ref.device.line, state_index=state, source=source, rng=rng)
            else:
                follows = []
                for term in p.follows:
                    index = _resolve(ref, term.sensor, index_by_id)
                    followed = self._channels[index].signal
                    assert followed is not None  # dependency order guarantees it is built
                    follows.append((index, term.gain, followed.base))
                base = p.base if p.base is not None else (channel.low + channel.high) / 2
                channel.signal = ProcessSignal(
                    p, line=ref.device.line, base=base, follows=follows, state_index=state, rng=rng
                )

    @property
    def devices(self) -> list[DevicePath]:
        return list(self._devices)

    @property
    def ground_truth(self) -> GroundTruth:
        """Faults planned so far (those starting up to the current hour window)."""
        return GroundTruth(self._plan.faults)

    def plan_faults(self, end_ns: int) -> GroundTruth:
        """Plan faults up to ``end_ns`` ahead of simulating (the same plan the run will use)."""
        self._add_faults(self._plan.extend_to(end_ns))
        return GroundTruth([f for f in self._plan.faults if f.start_ns < end_ns])

    def _add_faults(self, added: list[Fault]) -> None:
        if not added:
            return
        for fault in added:
            self._faults_by_sensor[fault.sensor_id].append(fault)
        for channel in self._channels:
            channel.faults = self._faults_by_sensor[channel.ref.sensor_id]

    def step(self) -> list[list[Reading]]:
        """Advance one tick; returns one batch of due readings per device (devices with none omitted)."""
        now = self.time_ns
        self._add_faults(self._plan.extend_to(now))
        position = self._clock.position(now)
        tick = Tick(
            now,
            self.tick_ns / _NS_PER_S,
            position,
            {line: schedule.rate(position) for line, schedule in self._lines.items()},
        )
        batches: list[list[Reading]] = [[] for _ in self._devices]
        values, splits = self._values, self._splits
        for i, channel in enumerate(self._channels):
            signal = channel.signal
            assert signal is not None
            clean = signal.step(tick, values, splits)
            values[i] = clean
            splits[i] = signal.split if isinstance(signal, CounterSignal) else None
            if now % channel.period_ns:
                continue
            reported = self._reported(channel, clean, now)
            if reported is None:
                continue
            channel.last_output = reported
            batches[channel.slot].append(
                Reading(channel.ref.device, channel.ref.sensor.id, now, reported)
            )
        self.time_ns = now + self.tick_ns
        return [batch for batch in batches if batch]

    def _reported(self, channel: _Channel, clean: float, now: int) -> float | None:
        fault = self._active_fault(channel, now)
        value: float | None = clean
        if fault is not None:
            if now == fault.start_ns or math.isnan(channel.held):
                channel.held = channel.last_output if not math.isnan(channel.last_output) else clean
            noise = channel.signal.noise.next() if isinstance(channel.signal, ProcessSignal) else 0.0
            value = apply_fault(fault, clean, now, span=channel.span, held=channel.held, noise=noise)
            if value is None:
                return None
        else:
            channel.held = math.nan
        assert value is not None
        value = min(channel.high, max(channel.low, value))
        return quantize(value, channel.params.resolution)

    @staticmethod
    def _active_fault(channel: _Channel, now: int) -> Fault | None:
        faults = channel.faults
        if not faults:
            return None
        while channel.fault_index < len(faults) and faults[channel.fault_index].end_ns <= now:
            channel.fault_index += 1
            channel.held = math.nan
        if channel.fault_index < len(faults) and faults[channel.fault_index].start_ns <= now:
            return faults[channel.fault_index]
        return None

    def run(self, end_ns: int | None = None) -> Iterator[tuple[int, list[list[Reading]]]]:
        """Ticks ``(time_ns, device batches)`` until ``end_ns`` (exclusive), or forever."""
        while end_ns is None or self.time_ns < end_ns:
            now = self.time_ns
            yield now, self.step()


class SimulationRun:
    """An iterator of device batches over [start_ns, end_ns), with the faults injected in it."""

    def __init__(self, simulator: PlantSimulator, end_ns: int) -> None:
        self.simulator = simulator
        self.start_ns = simulator.start_ns
        self.end_ns = end_ns
        self.ground_truth = simulator.plan_faults(end_ns).clipped(self.start_ns, end_ns)
        self._ticks = simulator.run(end_ns)
        self._pending: list[list[Reading]] = []

    def __iter__(self) -> Iterator[list[Reading]]:
        return self

    def __next__(self) -> list[Reading]:
        while not self._pending:
            _, batches = next(self._ticks)
            self._pending = batches[::-1]
        return self._pending.pop()

    @property
    def tick_count(self) -> int:
        return max(0, -(-(self.end_ns - self.start_ns) // self.simulator.tick_ns))


def simulate(
    plant_file: PlantFile, start_ns: int, end_ns: int, seed: int, *, faults: FaultSettings | None = None
) -> SimulationRun:
    """Readings of every device of a plant over [start_ns, end_ns), as fast as possible.

    Iterating yields one batch per device per tick; ``.ground_truth`` lists the injected faults.
    """
    if end_ns < start_ns:
        raise ValueError(f"end {end_ns} is before start {start_ns}")
    return SimulationRun(PlantSimulator(plant_file, seed=seed, start_ns=start_ns, faults=faults), end_ns)
