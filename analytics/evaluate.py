"""`ganlink analytics evaluate`: replay a simulated plant through the monitor offline and score its
alarms against the simulator's ground truth of injected faults.

Input is either a folder written by ``ganlink gateway simulate --out DIR`` (``readings.csv``:
timestamp, sensor_id, value; ``ground_truth.csv``: sensor_id, kind, start_ns, end_ns, ...) or batches
the command line hands over after running the simulator itself (analytics never imports gateway).

Scoring: a fault counts as detected when an alarm is raised on its sensor (or a device-wide alarm on
its device) between its start and ``grace_s`` after its end. Every other raised alarm is a false
alarm. The first ``warmup_s`` are learning time: faults starting and alarms raised in it are not
scored. The clock is source time (the recording has no arrival times).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from analytics.monitor import DEVICE_SCOPE_SENSOR, Monitor
from ganlink.assets import PlantFile, bundled_plant_files, load_plant_file
from ganlink.errors import ConfigError
from ganlink.schema import AnomalyEvent, Reading
from ganlink.timestamps import parse_source_time
from ganlink.topics import DevicePath

__all__ = ["EvaluationReport", "FaultWindow", "evaluate_stream", "read_recorded", "report_lines", "run"]

logger = logging.getLogger(__name__)

_NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """One injected fault from the ground truth."""

    sensor_id: str
    kind: str
    start_ns: int
    end_ns: int

    @property
    def device_id(self) -> str:
        return self.sensor_id.rsplit(".", 1)[0]


@dataclass
class EvaluationReport:
    plant: str
    hours: float
    readings: int
    faults: int
    detected: int
    recall: float
    alarms: int
    false_alarms: int
    false_alarms_per_hour: float
    median_delay_s: float | None
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    false_by_detector: dict[str, int] = field(default_factory=dict)


def _matches(event: AnomalyEvent, fault: FaultWindow, grace_ns: int) -> bool:
    if not fault.start_ns <= event.time_ns <= fault.end_ns + grace_ns:
        return False
    if event.sensor == DEVICE_SCOPE_SENSOR:
        device = event.device
        return fault.device_id == f"{device.plant}.{device.area}.{device.line}.{device.device}"
    return event.device.sensor_id(event.sensor) == fault.sensor_id


def evaluate_stream(
    plant_file: PlantFile,
    batches: Iterable[Sequence[Reading]],
    faults: Sequence[FaultWindow],
    *,
    monitor: Monitor | None = None,
    grace_s: float = 60.0,
    warmup_s: float = 600.0,
) -> EvaluationReport:
    """Run ``batches`` (time-ordered, one device's readings each) through a monitor and score it."""
    monitor = monitor or Monitor([plant_file])
    raised: list[AnomalyEvent] = []
    first_ns: int | None = None
    last_ns = 0
    last_check_ns = -1
    readings = 0
    for batch in batches:
        if not batch:
            continue
        time_ns = batch[0].time_ns
        first_ns = time_ns if first_ns is None else first_ns
        last_ns = max(last_ns, time_ns)
        readings += len(batch)
        events = monitor.observe_many(batch, time_ns)
        if time_ns - last_check_ns >= _NS_PER_S:
            events.extend(monitor.check_silence(time_ns))
            last_check_ns = time_ns
        raised.extend(e for e in events if e.details.get("state") == "raised")
    if first_ns is None:
        raise ConfigError(f"no readings to evaluate for plant {plant_file.plant.id}")
    scored_from = first_ns + int(warmup_s * _NS_PER_S)
    grace_ns = int(grace_s * _NS_PER_S)
    scored_faults = [f for f in faults if f.start_ns >= scored_from and f.start_ns <= last_ns]
    scored_alarms = [e for e in raised if e.time_ns >= scored_from]

    by_kind: dict[str, dict[str, int]] = defaultdict(lambda: {"faults": 0, "detected": 0})
    delays = []
    for fault in scored_faults:
        hits = [e.time_ns for e in scored_alarms if _matches(e, fault, grace_ns)]
        by_kind[fault.kind]["faults"] += 1
        if hits:
            by_kind[fault.kind]["detected"] += 1
            delays.append((min(hits) - fault.start_ns) / _NS_PER_S)
    false = [e for e in scored_alarms if not any(_matches(e, f, grace_ns) for f in faults)]
    false_by_detector: dict[str, int] = defaultdict(int)
    for event in false:
        false_by_detector[event.detector] += 1
    hours = max(last_ns - scored_from, 0) / _NS_PER_S / 3600
    detected = sum(k["detected"] for k in by_kind.values())
    return EvaluationReport(
        plant=plant_file.plant.id,
        hours=round(hours, 3),
        readings=readings,
        faults=len(scored_faults),
        detected=detected,
        recall=round(detected / len(scored_faults), 3) if scored_faults else 0.0,
        alarms=len(scored_alarms),
        false_alarms=len(false),
        false_alarms_per_hour=round(len(false) / hours, 3) if hours > 0 else 0.0,
        median_delay_s=round(statistics.median(delays), 1) if delays else None,
        by_kind=dict(sorted(by_kind.items())),
        false_by_detector=dict(sorted(false_by_detector.items())),
    )


def _split_sensor_id(sensor_id: str) -> tuple[DevicePath, str]:
    parts = sensor_id.split(".")
    if len(parts) != 5:
        raise ValueError(f"sensor id {sensor_id!r} is not plant.area.line.device.sensor")
    return DevicePath(*parts[:4]), parts[4]


def read_recorded(folder: Path) -> tuple[Iterator[list[Reading]], list[FaultWindow]]:
    """Batches (one device and time each) from ``readings.csv`` and the faults of ``ground_truth.csv``."""
    readings_path, truth_path = folder / "readings.csv", folder / "ground_truth.csv"
    for path in (readings_path, truth_path):
        if not path.exists():
            raise ConfigError("missing; write it with `ganlink gateway simulate --out DIR`", path=str(path))
    with truth_path.open(encoding="utf-8", newline="") as file:
        faults = [
            FaultWindow(row["sensor_id"], row["kind"], int(row["start_ns"]), int(row["end_ns"]))
            for row in csv.DictReader(file)
        ]
    return _batches(readings_path), faults


def _batches(path: Path) -> Iterator[list[Reading]]:
    with path.open(encoding="utf-8", newline="") as file:
        rows = csv.reader(file)
        header = next(rows, None)
        if header != ["timestamp", "sensor_id", "value"]:
            raise ConfigError(f"header {header} is not timestamp,sensor_id,value", path=str(path))
        batch: list[Reading] = []
        for line, (stamp, sensor_id, value) in enumerate(rows, start=2):
            try:
                device, sensor = _split_sensor_id(sensor_id)
                reading = Reading(device, sensor, parse_source_time(stamp), float(value))
            except ValueError as exc:
                raise ConfigError(str(exc), path=str(path), line=line) from None
            if batch and (batch[0].device != reading.device or batch[0].time_ns != reading.time_ns):
                yield batch
                batch = []
            batch.append(reading)
        if batch:
            yield batch


def report_lines(report: EvaluationReport) -> list[str]:
    """The human-readable report."""
    delay = f"{report.median_delay_s:.0f} s" if report.median_delay_s is not None else "-"
    lines = [
        f"plant {report.plant}: {report.hours:.2f} h scored, {report.readings} readings",
        f"recall {report.recall:.3f} ({report.detected}/{report.faults} faults), median delay {delay}",
        f"false alarms {report.false_alarms} ({report.false_alarms_per_hour:.2f}/h) of {report.alarms} alarms",
    ]
    for kind, counts in report.by_kind.items():
        lines.append(f"  {kind:<10} {counts['detected']}/{counts['faults']}")
    if report.false_by_detector:
        listed = ", ".join(f"{k} {v}" for k, v in report.false_by_detector.items())
        lines.append(f"  false alarms by detector: {listed}")
    return lines


def print_report(report: EvaluationReport, *, as_json: bool) -> None:
    for line in report_lines(report):
        print(line)
    if as_json:
        print(json.dumps(asdict(report), separators=(",", ":")))


def run(args: argparse.Namespace) -> int:
    """Evaluate a recorded simulation folder (``--data``); the command line handles live simulation."""
    if args.data is None:
        raise ConfigError("evaluate needs --data DIR (or the command line's simulator hand-over)")
    plant_file = load_plant_file(args.plant_file) if args.plant_file else _bundled(args.plant)
    batches, faults = read_recorded(args.data)
    print_report(evaluate_stream(plant_file, batches, faults), as_json=args.json)
    return 0


def _bundled(plant_id: str) -> PlantFile:
    for path in bundled_plant_files():
        plant_file = load_plant_file(path)
        if plant_file.plant.id == plant_id:
            return plant_file
    raise ConfigError(f"no bundled plant {plant_id!r}")
