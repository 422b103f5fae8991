"""Per-sensor signal models (process value, machine state, cumulative counter), stepped once per tick.

Models read the clean values of the sensors they follow from ``values`` (indexed like the
simulator's sensor list, dependencies first) and return their own clean value.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from gateway.simulator.params import SignalParams
from gateway.simulator.production import ShiftPosition
from gateway.simulator.signals import ArNoise, daily_cycle

__all__ = ["CounterSignal", "ProcessSignal", "StateSignal", "Tick", "UnitSplit"]

RUNNING = 1.0
STOPPED, FAULT, CHANGEOVER = 0.0, 2.0, 3.0


@dataclass(slots=True)
class Tick:
    """What every model may look at during one tick."""

    time_ns: int
    dt_s: float
    position: ShiftPosition
    line_rates: dict[str, float]


@dataclass(slots=True)
class UnitSplit:
    """The units a counter produced this tick, each with a uniform draw that decides which
    ``share_of`` counter (good, reject, ...) takes it, so shares add up exactly."""

    draws: list[float] = field(default_factory=list)


class ProcessSignal:
    """An analog process value: load-following base + daily cycle + followed deviations + AR(1) noise."""

    def __init__(
        self,
        params: SignalParams,
        *,
        line: str,
        base: float,
        follows: list[tuple[int, float, float]],
        state_index: int | None,
        rng: random.Random,
    ) -> None:
        self.params = params
        self.line = line
        self.base = base
        self._follows = follows  # (index, gain, nominal of the followed sensor)
        self._state_index = state_index
        self.noise = ArNoise(rng, params.noise, params.noise_corr)

    def step(self, tick: Tick, values: list[float], splits: list[UnitSplit | None]) -> float:
        p = self.params
        noise = self.noise.next()
        if self._state_index is not None and values[self._state_index] != RUNNING:
            return p.idle if p.idle == 0 else p.idle + 0.1 * noise
        rate = tick.line_rates[self.line]
        value = self.base * (1 - p.load + p.load * rate) + p.daily * daily_cycle(tick.position.local_hour)
        for index, gain, nominal in self._follows:
            value += gain * (values[index] - nominal)
        # noise of a rate-proportional signal shrinks with the rate (a stopped conveyor is still)
        return value + noise * min(1.0, max(0.0, 1 - p.load + p.load * rate))


class StateSignal:
    """Machine state: stopped when the line does not run, changeover at shift start, random faults."""

    def __init__(self, params: SignalParams, *, line: str, rng: random.Random) -> None:
        self.params = params
        self.line = line
        self.base = RUNNING
        self._rng = rng
        self._fault_left_s = 0.0

    def step(self, tick: Tick, values: list[float], splits: list[UnitSplit | None]) -> float:
        p = self.params
        if self._fault_left_s > 0:
            self._fault_left_s -= tick.dt_s
            return FAULT
        if tick.line_rates[self.line] <= 0:
            return STOPPED
        if tick.position.shift is not None and tick.position.hours_into_shift * 60 < p.changeover_min:
            return CHANGEOVER
        if self._rng.random() < p.fault_per_h * tick.dt_s / 3600:
            self._fault_left_s = self._rng.expovariate(1 / p.fault_mean_s)
            return FAULT
        return RUNNING


class CounterSignal:
    """A cumulative counter that only grows: its own cycle rate while running, or a share of the
    units another counter produced."""

    def __init__(
        self,
        params: SignalParams,
        *,
        line: str,
        state_index: int | None,
        source: tuple[int, float, float] | None,
        rng: random.Random,
    ) -> None:
        self.params = params
        self.line = line
        self.base = 0.0
        self._state_index = state_index
        self._source = source  # (index of the counter, lower, upper bound of our share of draws)
        self._rng = rng
        self._progress = 0.0
        self.count = float(rng.randrange(50_000, 900_000)) if source is None else -1.0
        self.split = UnitSplit()

    def step(self, tick: Tick, values: list[float], splits: list[UnitSplit | None]) -> float:
        self.split = UnitSplit()
        if self._source is not None:
            index, lower, upper = self._source
            if self.count < 0:  # start from our share of the source's starting count
                # telescoping floors, so sibling shares of a source add up to its count exactly
                self.count = float(math.floor(values[index] * upper + 1e-9) - math.floor(values[index] * lower + 1e-9))
            source_split = splits[index]
            if source_split is not None:
                self.count += sum(1 for u in source_split.draws if lower <= u < upper)
            return self.count
        running = self._state_index is None or values[self._state_index] == RUNNING
        if running:
            cycle = self.params.rate_per_s * tick.line_rates[self.line] * tick.dt_s
            self._progress += max(0.0, cycle * (1 + 0.05 * self._rng.gauss(0.0, 1.0)))
            produced = int(self._progress)
            self._progress -= produced
            self.count += produced
            self.split.draws = [self._rng.random() for _ in range(produced)]
        return self.count
