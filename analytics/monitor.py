"""The plant monitor: readings in, anomaly events out. Pure (no I/O, no clock of its own), so the
online service, the offline evaluation and the benchmark all drive the same code.

For every sensor in the plant files it keeps the registry rules and a statistical detector; each
reading is scored by all of them, then learned from, and the findings go through the alarm engine
(one event per incident). Missing data is checked on the caller's clock: a device none of whose
sensors report is one device alarm, a single silent sensor of a live device is a sensor alarm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from analytics.alarms import AlarmChange, AlarmEngine, ChangeKind, Finding
from analytics.robust import RobustZScore
from analytics.rules import (
    NON_ANALOG_KINDS,
    RangeRule,
    RateOfChangeRule,
    SilenceWatch,
    StuckRule,
    rules_for_sensor,
    sensor_silence_limit_s,
)
from ganlink.alarms import Severity
from ganlink.assets import PlantFile, Sensor, SensorRef
from ganlink.schema import AnomalyEvent, Quality, Reading
from ganlink.topics import DevicePath

__all__ = ["DEVICE_SCOPE_SENSOR", "ExplainedDetector", "Monitor", "SensorModel", "default_statistical_detector"]

logger = logging.getLogger(__name__)

DEVICE_SCOPE_SENSOR = "device"
"""The ``sensor`` tag of events about a whole device (e.g. it went silent)."""

_SEVERITY_BY_RULE = {
    RangeRule: Severity.CRITICAL,
    StuckRule: Severity.MAJOR,
    RateOfChangeRule: Severity.MINOR,
}


class ExplainedDetector(Protocol):
    """A streaming detector that can also say which values it expected (for an alarm's why)."""

    name: str
    model_version: str
    threshold: float

    def learn_one(self, x: float) -> None: ...

    def score_one(self, x: float) -> float: ...

    def expected(self) -> tuple[float, float] | None: ...


StatisticalFactory = Callable[[Sensor], ExplainedDetector | None]


def default_statistical_detector(sensor: Sensor) -> ExplainedDetector | None:
    """A robust z-score for analog sensors; discrete signals (states, counters) get rules only."""
    if sensor.kind in NON_ANALOG_KINDS:
        return None
    low, high = sensor.range
    return RobustZScore(min_scale=5e-4 * (high - low))


@dataclass
class SensorModel:
    """Everything the monitor knows about one sensor."""

    ref: SensorRef
    detectors: list[ExplainedDetector]
    last_time_ns: int = -1

    def assess(self, value: float) -> list[Finding]:
        """Score ``value`` with every detector, then learn from it."""
        findings = []
        for detector in self.detectors:
            score = detector.score_one(value)
            if score > 0.0:
                findings.append(
                    Finding(
                        detector.name,
                        detector.model_version,
                        score,
                        detector.threshold,
                        _severity(detector, score),
                        detector.expected(),
                    )
                )
            detector.learn_one(value)
        return findings


def _severity(detector: ExplainedDetector, score: float) -> Severity:
    rule_severity = _SEVERITY_BY_RULE.get(type(detector))
    if rule_severity is not None:
        return rule_severity
    return Severity.MINOR if score >= 0.75 else Severity.WARNING


@dataclass
class Monitor:
    """Per-sensor and per-device state for a set of plants; see the module docstring."""

    plant_files: list[PlantFile]
    statistical: StatisticalFactory = default_statistical_detector
    engine: AlarmEngine = field(default_factory=AlarmEngine)
    silence_engine: AlarmEngine = field(
        default_factory=lambda: AlarmEngine(clear_after=1, clear_hold_s=0.0, cooldown_s=60.0)
    )
    silence: SilenceWatch = field(default_factory=SilenceWatch)
    sensors: dict[tuple[DevicePath, str], SensorModel] = field(default_factory=dict)
    devices: dict[DevicePath, list[str]] = field(default_factory=dict)
    skipped_unknown: int = 0
    skipped_out_of_order: int = 0

    def __post_init__(self) -> None:
        for plant_file in self.plant_files:
            for ref in plant_file.sensors():
                self.add_sensor(ref)

    def add_sensor(self, ref: SensorRef) -> None:
        detectors: list[ExplainedDetector] = list(rules_for_sensor(ref.sensor))
        statistical = self.statistical(ref.sensor)
        if statistical is not None:
            detectors.append(statistical)
        self.sensors[(ref.device, ref.sensor.id)] = SensorModel(ref, detectors)
        self.devices.setdefault(ref.device, []).append(ref.sensor.id)
        self.silence.watch(("sensor", ref.device, ref.sensor.id), sensor_silence_limit_s(ref.sensor))
        device_limit = self.silence.limits_s.get(("device", ref.device), float("inf"))
        self.silence.watch(("device", ref.device), min(device_limit, sensor_silence_limit_s(ref.sensor)))

    def observe(self, reading: Reading, arrived_ns: int) -> list[AnomalyEvent]:
        """Score one reading (source time orders it); ``arrived_ns`` is the silence clock."""
        model = self.sensors.get((reading.device, reading.sensor))
        if model is None:
            self.skipped_unknown += 1
            return []
        events = self._heard(reading.device, reading.sensor, arrived_ns)
        if reading.time_ns <= model.last_time_ns:
            self.skipped_out_of_order += 1
            return events
        model.last_time_ns = reading.time_ns
        if reading.quality is Quality.BAD:
            return events
        findings = model.assess(reading.value)
        change = self.engine.observe(model.ref.sensor_id, reading.time_ns, findings)
        if change is not None:
            events.append(self._event(change, reading.device, reading.sensor, reading.value, model.ref.sensor))
        return events

    def _heard(self, device: DevicePath, sensor: str, arrived_ns: int) -> list[AnomalyEvent]:
        sensor_key = ("sensor", device, sensor)
        device_key = ("device", device)
        self.silence.heard(sensor_key, arrived_ns)
        self.silence.heard(device_key, arrived_ns)
        events = []
        for key, sensor_name in ((device_key, DEVICE_SCOPE_SENSOR), (sensor_key, sensor)):
            if self.silence_engine.in_alarm(key):
                change = self.silence_engine.clear(key, arrived_ns)
                if change is not None:
                    events.append(self._event(change, device, sensor_name, 0.0, None))
        return events

    def check_silence(self, now_ns: int) -> list[AnomalyEvent]:
        """Alarms for devices and sensors that stopped reporting (clock: the ``arrived_ns`` one)."""
        overdue = list(self.silence.overdue(now_ns))
        silent_devices = {o.key[1] for o in overdue if isinstance(o.key, tuple) and o.key[0] == "device"}
        events = []
        for item in overdue:
            assert isinstance(item.key, tuple)
            scope, device = item.key[0], item.key[1]
            if scope == "sensor" and device in silent_devices:
                continue  # the device alarm covers its sensors
            sensor_name = item.key[2] if scope == "sensor" else DEVICE_SCOPE_SENSOR
            finding = Finding(
                f"silence-{scope}",
                "rules-1",
                1.0,
                0.5,
                Severity.MAJOR,
                (0.0, item.limit_s),
            )
            change = self.silence_engine.observe(item.key, now_ns, [finding])
            if change is not None:
                event = self._event(change, device, sensor_name, item.silent_s, None)
                event.details["silent_s"] = round(item.silent_s, 1)
                event.details["limit_s"] = item.limit_s
                events.append(event)
        return events

    def _event(
        self, change: AlarmChange, device: DevicePath, sensor: str, value: float, spec: Sensor | None
    ) -> AnomalyEvent:
        finding = change.finding
        details: dict[str, Any] = {
            "state": change.kind.value,
            "severity": finding.severity.value,
            "detector": finding.detector,
            "model_version": finding.model_version,
            "threshold": finding.threshold,
            "threshold_factor": change.threshold_factor,
        }
        if finding.expected is not None:
            details["expected_low"], details["expected_high"] = finding.expected
        if spec is not None:
            details["unit"] = spec.unit
            details["range"] = list(spec.range)
        if change.kind is ChangeKind.RAISED:
            details["why"] = _why(finding, value, spec)
        return AnomalyEvent(
            device=device,
            sensor=sensor,
            detector=finding.detector,
            time_ns=change.time_ns,
            score=finding.score if change.kind is ChangeKind.RAISED else 0.0,
            value=value,
            alarm_id=change.alarm_id,
            details=details,
        )

    def apply_sensitivity(self, factors: Iterable[tuple[str, float]]) -> None:
        """Set per-sensor threshold factors (full sensor id -> factor >= 1) from operator labels."""
        for sensor_id, factor in factors:
            self.engine.set_threshold_factor(sensor_id, factor)


def _why(finding: Finding, value: float, spec: Sensor | None) -> str:
    unit = f" {spec.unit}" if spec is not None else ""
    if finding.detector.startswith("silence"):
        return f"no data for longer than {finding.expected[1] if finding.expected else '?'} s"
    if finding.expected is None:
        return f"{finding.detector}: value {value:g}{unit} scored {finding.score:.2f}"
    low, high = finding.expected
    return f"{finding.detector}: value {value:g}{unit} outside expected [{low:g}, {high:g}]{unit}"
