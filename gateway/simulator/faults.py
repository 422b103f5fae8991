"""Injected sensor faults: a deterministic plan drawn from the seed, the recorded ground truth,
and how each fault kind bends a clean value.

A fault is a *sensor* fault: correlated signals keep following the clean process value.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ganlink.timestamps import format_rfc3339
from gateway.simulator.params import FaultKind, FaultSettings
from gateway.simulator.signals import poisson

__all__ = ["Fault", "FaultPlan", "FaultTarget", "GroundTruth", "apply_fault"]

_NS_PER_S = 1_000_000_000
_WINDOW_NS = 3600 * _NS_PER_S


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault on one sensor over [start_ns, end_ns); ``magnitude`` is kind-specific
    (a signed share of the engineering span for drift/spike/step, a gain for vibration)."""

    sensor_id: str
    kind: FaultKind
    start_ns: int
    end_ns: int
    magnitude: float

    def active(self, time_ns: int) -> bool:
        return self.start_ns <= time_ns < self.end_ns


@dataclass(frozen=True, slots=True)
class FaultTarget:
    """A sensor that may receive faults, with what the plan needs to know about it."""

    sensor_id: str
    period_ns: int
    is_vibration: bool


class GroundTruth(Sequence[Fault]):
    """The faults injected so far, in start order: what analytics is scored against."""

    CSV_FIELDS = ("sensor_id", "kind", "start", "end", "start_ns", "end_ns", "magnitude")

    def __init__(self, faults: Sequence[Fault] = ()) -> None:
        self._faults = sorted(faults, key=lambda f: (f.start_ns, f.sensor_id))

    def __getitem__(self, index: int) -> Fault:  # type: ignore[override]
        return self._faults[index]

    def __len__(self) -> int:
        return len(self._faults)

    def __iter__(self) -> Iterator[Fault]:
        return iter(self._faults)

    def for_sensor(self, sensor_id: str) -> list[Fault]:
        return [f for f in self._faults if f.sensor_id == sensor_id]

    def clipped(self, start_ns: int, end_ns: int) -> GroundTruth:
        """Faults overlapping [start_ns, end_ns), their ends clipped to ``end_ns``."""
        return GroundTruth(
            [
                Fault(f.sensor_id, f.kind, f.start_ns, min(f.end_ns, end_ns), f.magnitude)
                for f in self._faults
                if f.start_ns < end_ns and f.end_ns > start_ns
            ]
        )

    def _rows(self) -> Iterator[dict[str, object]]:
        for fault in self._faults:
            row = asdict(fault)
            row["kind"] = fault.kind.value
            row["start"] = format_rfc3339(fault.start_ns)
            row["end"] = format_rfc3339(fault.end_ns)
            yield row

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=self.CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self._rows())
        return out.getvalue()

    def to_json(self) -> str:
        return json.dumps(list(self._rows()), indent=1)

    def write(self, folder: Path) -> tuple[Path, Path]:
        """Write ``ground_truth.csv`` and ``ground_truth.json`` into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        csv_path, json_path = folder / "ground_truth.csv", folder / "ground_truth.json"
        csv_path.write_text(self.to_csv(), encoding="utf-8")
        json_path.write_text(self.to_json(), encoding="utf-8")
        return csv_path, json_path


class FaultPlan:
    """Draws faults hour by hour from ``(seed, sensor, hour)``, so the plan is reproducible and
    can be extended as the simulated clock advances; faults on one sensor never overlap."""

    def __init__(self, targets: Sequence[FaultTarget], settings: FaultSettings, seed: int, start_ns: int) -> None:
        self._targets = list(targets)
        self._settings = settings
        self._seed = seed
        self._start_ns = start_ns
        self._next_window = start_ns // _WINDOW_NS
        self._busy_until: dict[str, int] = {}
        self.faults: list[Fault] = []

    def extend_to(self, time_ns: int) -> list[Fault]:
        """Plan every hour window up to the one holding ``time_ns``; returns the new faults."""
        added: list[Fault] = []
        while self._next_window <= time_ns // _WINDOW_NS:
            for target in self._targets:
                added.extend(self._draw(target, self._next_window))
            self._next_window += 1
        self.faults.extend(added)
        return added

    def _draw(self, target: FaultTarget, window: int) -> list[Fault]:
        settings = self._settings
        kinds = [k for k in settings.kinds if k is not FaultKind.VIBRATION or target.is_vibration]
        if settings.per_sensor_per_day <= 0 or not kinds:
            return []
        rng = random.Random(f"{self._seed}/{target.sensor_id}/{window}")
        count = poisson(rng, settings.per_sensor_per_day / 24)
        starts = sorted(rng.uniform(0, _WINDOW_NS) for _ in range(count))
        drawn = []
        for offset in starts:
            kind = rng.choice(kinds)
            start = window * _WINDOW_NS + int(offset) // target.period_ns * target.period_ns
            if kind is FaultKind.SPIKE:
                duration = target.period_ns
            else:
                seconds = math.exp(rng.uniform(math.log(settings.min_s), math.log(max(settings.min_s, settings.max_s))))
                duration = max(1, round(seconds * _NS_PER_S / target.period_ns)) * target.period_ns
            magnitude = _magnitude(rng, kind)
            if start < self._start_ns or start < self._busy_until.get(target.sensor_id, 0):
                continue
            self._busy_until[target.sensor_id] = start + duration
            drawn.append(Fault(target.sensor_id, kind, start, start + duration, magnitude))
        return drawn


def _magnitude(rng: random.Random, kind: FaultKind) -> float:
    sign = rng.choice((-1.0, 1.0))
    if kind is FaultKind.SPIKE:
        return sign * rng.uniform(0.2, 0.4)
    if kind is FaultKind.STEP:
        return sign * rng.uniform(0.06, 0.15)
    if kind is FaultKind.DRIFT:
        return sign * rng.uniform(0.08, 0.2)
    if kind is FaultKind.VIBRATION:
        return rng.uniform(1.0, 2.0)
    return 0.0


def apply_fault(fault: Fault, clean: float, time_ns: int, *, span: float, held: float, noise: float) -> float | None:
    """The value the faulty sensor reports instead of ``clean`` (None = no reading, a dropout).

    ``held`` is the last value reported before the fault began (what a stuck sensor repeats);
    ``noise`` is a fresh noise sample for the extra shaking of increased vibration.
    """
    kind = fault.kind
    if kind is FaultKind.DROPOUT:
        return None
    if kind is FaultKind.STUCK:
        return held
    if kind in (FaultKind.SPIKE, FaultKind.STEP):
        return clean + fault.magnitude * span
    if kind is FaultKind.DRIFT:
        progress = (time_ns - fault.start_ns) / max(1, fault.end_ns - fault.start_ns)
        return clean + fault.magnitude * span * progress
    # increased vibration: higher level and much rougher
    return clean * (1 + fault.magnitude) + 3 * abs(noise)
