"""Rule detectors built from the sensor registry: outside the engineering range, stuck/flatline,
rate of change, and missing data / silent device.

The value rules follow the streaming detector contract (``learn_one(x)``, ``score_one(x)``, high
score = anomalous, warm-up 0, no I/O) and share one score scale in [0, 1]: ``threshold`` (0.5) marks
a violation, so the alarm engine treats rules and statistical detectors alike. Each rule can say
what it expected (``expected()``) so an alarm records why it was raised.

Missing data is a matter of time, not of values, so :class:`SilenceWatch` is a separate clock-driven
check: it is told when data arrives and asked which sensors or devices are overdue.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field

from ganlink.assets import Sensor

__all__ = [
    "NON_ANALOG_KINDS",
    "RULE_THRESHOLD",
    "Overdue",
    "RangeRule",
    "RateOfChangeRule",
    "SilenceWatch",
    "StuckRule",
    "ValueRule",
    "rules_for_sensor",
    "sensor_silence_limit_s",
    "tail_score",
]

RULE_THRESHOLD = 0.5
RULES_VERSION = "rules-1"
# Discrete signals legitimately hold a value for hours and jump by design: no stuck/rate rules.
NON_ANALOG_KINDS = frozenset({"state", "count", "counter", "mode", "alarm"})


SURPRISE_SCALE = 12.0  # the scale of analytics.detectors: -log10(p) / 12, so p = 1e-6 scores 0.5


def tail_score(log10_probability: float) -> float:
    """Map a tail probability (as log10) to the shared score scale: p = 1e-6 -> 0.5, p <= 1e-12 -> 1."""
    return min(1.0, max(0.0, -log10_probability / SURPRISE_SCALE))


@dataclass
class RangeRule:
    """Flags a value outside the sensor's engineering range [low, high]."""

    low: float
    high: float
    name: str = "range"
    model_version: str = RULES_VERSION
    threshold: float = RULE_THRESHOLD

    def learn_one(self, x: float) -> None:
        """Nothing to learn: the range comes from the registry."""

    def score_one(self, x: float) -> float:
        excess = max(self.low - x, x - self.high)
        if excess <= 0:
            return 0.0
        # 0.5 just outside, 1.0 at 5 % of the span beyond the limit.
        return 0.5 + 0.5 * min(1.0, excess / (0.05 * (self.high - self.low)))

    def expected(self) -> tuple[float, float]:
        return (self.low, self.high)


@dataclass
class RateOfChangeRule:
    """Flags a step between consecutive samples larger than ``max_step_fraction`` of the span."""

    span: float
    max_step_fraction: float = 0.2
    name: str = "rate-of-change"
    model_version: str = RULES_VERSION
    threshold: float = RULE_THRESHOLD
    previous: float | None = None

    def learn_one(self, x: float) -> None:
        self.previous = x

    def score_one(self, x: float) -> float:
        if self.previous is None:
            return 0.0
        allowed = self.max_step_fraction * self.span
        return min(1.0, 0.5 * abs(x - self.previous) / allowed)

    def expected(self) -> tuple[float, float] | None:
        if self.previous is None:
            return None
        allowed = self.max_step_fraction * self.span
        return (self.previous - allowed, self.previous + allowed)


@dataclass
class StuckRule:
    """Flags a flatline: a run of identical values that is improbable for this sensor.

    It learns how often consecutive samples are equal (quantization makes that common on some
    sensors), then scores a run of length L by the probability q**L of seeing it by chance.
    Learning pauses during a suspicious run so a stuck sensor cannot teach itself to be normal.
    """

    min_run: int = 10
    warmup: int = 60
    rate: float = 0.01
    name: str = "stuck"
    model_version: str = RULES_VERSION
    threshold: float = RULE_THRESHOLD
    last: float | None = None
    run: int = 0
    seen: int = 0
    repeat_probability: float = 0.5

    def learn_one(self, x: float) -> None:
        repeated = self.last is not None and x == self.last
        self.run = self.run + 1 if repeated else 0
        if self.last is not None and (self.seen < self.warmup or self.run < self.min_run):
            # A plain average while warming up (a signal that is flat by nature learns q ~ 1 and is
            # never called stuck), then exponential forgetting, paused during a suspicious run.
            rate = max(self.rate, 1.0 / self.seen)
            self.repeat_probability += rate * ((1.0 if repeated else 0.0) - self.repeat_probability)
        self.last = x
        self.seen += 1

    def score_one(self, x: float) -> float:
        if self.seen < self.warmup or self.last is None or x != self.last:
            return 0.0
        repeats = self.run + 1
        if repeats + 1 < self.min_run:  # min_run counts identical values, one more than repeats
            return 0.0
        q = min(0.999, max(0.01, self.repeat_probability))
        return tail_score(repeats * math.log10(q))

    def expected(self) -> tuple[float, float] | None:
        return None

    def explain(self, x: float) -> str:
        """Why ``x`` scores as it does (call before learning it)."""
        repeats = self.run + 1 if self.last is not None and x == self.last else 0
        return f"value {x:g} repeated {repeats + 1} times in a row (usual repeat share {self.repeat_probability:.2f})"


ValueRule = RangeRule | RateOfChangeRule | StuckRule


def rules_for_sensor(sensor: Sensor) -> list[ValueRule]:
    """The value rules that make sense for this sensor's kind and range."""
    low, high = sensor.range
    rules: list[ValueRule] = [RangeRule(low, high)]
    if sensor.kind not in NON_ANALOG_KINDS:
        rules.append(RateOfChangeRule(span=high - low))
        rules.append(StuckRule())
    return rules


@dataclass(frozen=True, slots=True)
class Overdue:
    """A watched key that has been silent for ``silent_s`` (longer than its ``limit_s``)."""

    key: Hashable
    last_seen_ns: int
    silent_s: float
    limit_s: float


@dataclass
class SilenceWatch:
    """Missing data: each key (a sensor or a device) has a silence limit; keys seen at least once
    and not heard from for longer than their limit are overdue. The clock is the caller's."""

    limits_s: dict[Hashable, float] = field(default_factory=dict)
    last_seen_ns: dict[Hashable, int] = field(default_factory=dict)

    def watch(self, key: Hashable, limit_s: float) -> None:
        if limit_s <= 0:
            raise ValueError(f"silence limit for {key!r} must be positive, got {limit_s}")
        self.limits_s[key] = limit_s

    def heard(self, key: Hashable, at_ns: int) -> None:
        if key in self.limits_s and at_ns > self.last_seen_ns.get(key, -1):
            self.last_seen_ns[key] = at_ns

    def heard_many(self, keys: Iterable[Hashable], at_ns: int) -> None:
        """:meth:`heard` for several keys at one time."""
        limits, last_seen = self.limits_s, self.last_seen_ns
        for key in keys:
            if key in limits and at_ns > last_seen.get(key, -1):
                last_seen[key] = at_ns

    def overdue(self, now_ns: int) -> Iterator[Overdue]:
        if not self.last_seen_ns:
            return
        shortest = min(self.limits_s.values())  # below every limit no key's own limit needs looking up
        for key, last in self.last_seen_ns.items():
            silent_s = (now_ns - last) / 1e9
            if silent_s <= shortest:
                continue
            limit = self.limits_s[key]
            if silent_s > limit:
                yield Overdue(key, last, silent_s, limit)


def sensor_silence_limit_s(sensor: Sensor) -> float:
    """How long a sensor may stay silent: five sample periods, at least 15 s (jitter, batching)."""
    return max(5.0 * sensor.sample_period_s, 15.0)
