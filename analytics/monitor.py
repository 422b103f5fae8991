"""The plant monitor: readings in, anomaly events out. Pure (no I/O, no clock of its own), so the
online service, the offline evaluation and the benchmark all drive the same code.

For every sensor in the plant files it keeps the registry rules and a statistical detector; each
reading is scored by all of them, then learned from, and the findings go through the alarm engine
(one event per incident). Missing data is checked on the caller's clock: a device none of whose
sensors report is one device alarm, a single silent sensor of a live device is a sensor alarm.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from analytics.alarms import AlarmChange, AlarmEngine, ChangeKind, Finding
from analytics.detectors import Detector, make_detector
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

__all__ = [
    "DEVICE_SCOPE_SENSOR",
    "DeviceModel",
    "ExplainedDetector",
    "Monitor",
    "RegisteredDetector",
    "SensorModel",
    "default_device_detector",
    "default_statistical_detectors",
]

logger = logging.getLogger(__name__)

SENSOR_THRESHOLD = 0.4
"""Score at which the per-sensor statistical detector alarms (p ~ 1.6e-5 on the detectors' scale; its
empirical tails are conservative: 30,000 Gaussian readings never scored above 0.26)."""

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


class RegisteredDetector:
    """A detector from ``analytics.detectors`` made explainable: a robust band of recent values
    (level +- the spread at which a robust z-score would alarm) says what was expected."""

    def __init__(self, detector: Detector, *, name: str, threshold: float = 0.5, band_floor: float = 1e-9) -> None:
        self.detector = detector
        self.name = name
        self.threshold = threshold
        digest = hashlib.sha1(repr(detector).encode(), usedforsecurity=False).hexdigest()[:8]
        self.model_version = f"{name}-{digest}"
        self.band = RobustZScore(min_scale=band_floor)

    def learn_one(self, x: float) -> None:
        self.detector.learn_one(x)
        self.band.learn_one(x)

    def score_one(self, x: float) -> float:
        return float(self.detector.score_one(x))

    def expected(self) -> tuple[float, float] | None:
        return self.band.expected()


StatisticalFactory = Callable[[Sensor], list[ExplainedDetector]]
DeviceFactory = Callable[[Sequence[Sensor]], Detector | None]


def default_statistical_detectors(sensor: Sensor) -> list[ExplainedDetector]:
    """For analog sensors: the registered robust univariate detector (level and spread adapt; no
    daily profile at 1 Hz, which would cost a float per second of the day per sensor), and a
    robust z-score whose Gaussian tail catches a clear spike the empirical tails of the first
    still call ordinary while their history is short. Discrete signals get rules only."""
    if sensor.kind in NON_ANALOG_KINDS:
        return []
    low, high = sensor.range
    floor = 5e-4 * (high - low)
    return [
        RegisteredDetector(make_detector("seasonal"), name="seasonal", threshold=SENSOR_THRESHOLD, band_floor=floor),
        RobustZScore(min_scale=floor),
    ]


def default_device_detector(sensors: Sequence[Sensor]) -> Detector | None:
    """PCA T-squared/Q over a device's analog sensors, when it has at least two."""
    analog = [s for s in sensors if s.kind not in NON_ANALOG_KINDS]
    return make_detector("pca") if len(analog) >= 2 else None


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
class DeviceModel:
    """A device's multivariate detector over its analog sensors' latest values (slower sensors'
    last values are carried forward); one device observation per distinct reading time."""

    device: DevicePath
    analog: list[str]
    detector: Detector | None
    latest: dict[str, float] = field(default_factory=dict)
    last_tick_ns: int = -1

    def assess(self, time_ns: int) -> float | None:
        """Score then learn the device's current vector; None until every analog sensor reported."""
        if self.detector is None or time_ns <= self.last_tick_ns or len(self.latest) < len(self.analog):
            return None
        self.last_tick_ns = time_ns
        vector = {name: self.latest[name] for name in self.analog}
        score = float(self.detector.score_one(vector))
        self.detector.learn_one(vector)
        return score


@dataclass
class Monitor:
    """Per-sensor and per-device state for a set of plants; see the module docstring."""

    plant_files: list[PlantFile]
    statistical: StatisticalFactory = default_statistical_detectors
    multivariate: DeviceFactory = default_device_detector
    device_threshold: float = 0.75  # PCA tail calibration is optimistic: 0.5 fired ~2e-4 of ticks on pure noise
    engine: AlarmEngine = field(default_factory=AlarmEngine)
    silence_engine: AlarmEngine = field(
        default_factory=lambda: AlarmEngine(clear_after=1, clear_hold_s=0.0, cooldown_s=60.0)
    )
    silence: SilenceWatch = field(default_factory=SilenceWatch)
    sensors: dict[tuple[DevicePath, str], SensorModel] = field(default_factory=dict)
    devices: dict[DevicePath, DeviceModel] = field(default_factory=dict)
    skipped_unknown: int = 0
    skipped_out_of_order: int = 0

    def __post_init__(self) -> None:
        for plant_file in self.plant_files:
            for area in plant_file.plant.areas:
                for line in area.lines:
                    for device in line.devices:
                        path = DevicePath(plant_file.plant.id, area.id, line.id, device.id)
                        self.add_device(path, device.sensors)

    def add_device(self, path: DevicePath, sensors: Sequence[Sensor]) -> None:
        analog = [s.id for s in sensors if s.kind not in NON_ANALOG_KINDS]
        self.devices[path] = DeviceModel(path, analog, self.multivariate(sensors))
        device_limit = min(sensor_silence_limit_s(s) for s in sensors)
        self.silence.watch(("device", path), device_limit)
        for sensor in sensors:
            detectors: list[ExplainedDetector] = list(rules_for_sensor(sensor))
            detectors.extend(self.statistical(sensor))
            self.sensors[(path, sensor.id)] = SensorModel(SensorRef(device=path, sensor=sensor), detectors)
            self.silence.watch(("sensor", path, sensor.id), sensor_silence_limit_s(sensor))

    def observe_many(self, readings: Iterable[Reading], arrived_ns: int) -> list[AnomalyEvent]:
        """Score a message's readings in time order, then each device once per reading time."""
        events: list[AnomalyEvent] = []
        pending: dict[DevicePath, int] = {}
        for reading in sorted(readings, key=lambda r: r.time_ns):
            due = pending.get(reading.device)
            if due is not None and due != reading.time_ns:
                events.extend(self._assess_device(reading.device, due))
            events.extend(self.observe(reading, arrived_ns))
            pending[reading.device] = reading.time_ns
        for device, due in pending.items():
            events.extend(self._assess_device(device, due))
        return events

    def observe(self, reading: Reading, arrived_ns: int) -> list[AnomalyEvent]:
        """Score one reading (source time orders it); ``arrived_ns`` is the silence clock.
        Device-level scoring happens in :meth:`observe_many`."""
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
        device = self.devices[reading.device]
        if reading.sensor in device.analog:
            device.latest[reading.sensor] = reading.value
        change = self.engine.observe(model.ref.sensor_id, reading.time_ns, findings)
        if change is not None:
            events.append(self._event(change, reading.device, reading.sensor, reading.value, model.ref.sensor))
        return events

    def _assess_device(self, path: DevicePath, time_ns: int) -> list[AnomalyEvent]:
        device = self.devices[path]
        score = device.assess(time_ns)
        if score is None or device.detector is None:
            return []
        key = path.sensor_id(DEVICE_SCOPE_SENSOR)
        if not self.engine.in_alarm(key) and any(self.engine.in_alarm(path.sensor_id(s)) for s in device.analog):
            return []  # a sensor of this device is already in alarm: the same incident
        name = type(device.detector).__name__
        finding = Finding(
            "pca" if name == "PCADetector" else name.lower(),
            _model_version(device.detector),
            score,
            self.device_threshold,
            Severity.MINOR,
        )
        change = self.engine.observe(key, time_ns, [finding] if score > 0 else [])
        if change is None:
            return []
        deviations = self._deviations(path)
        top_sensor, top_value, _ = deviations[0] if deviations else (DEVICE_SCOPE_SENSOR, 0.0, 0.0)
        event = self._event(change, path, DEVICE_SCOPE_SENSOR, top_value, None)
        if change.kind is ChangeKind.RAISED:
            listed = ", ".join(f"{name} {value:g} (z {z:.1f})" for name, value, z in deviations[:3])
            event.details["why"] = f"unusual combination of the device's sensors; most deviating: {listed}"
            event.details["values"] = {name: value for name, value, _ in deviations}
            event.details["top_sensor"] = top_sensor
        return [event]

    def _deviations(self, path: DevicePath) -> list[tuple[str, float, float]]:
        """(sensor, latest value, robust z against its recent band), most deviating first."""
        device = self.devices[path]
        rows = []
        for name, value in device.latest.items():
            band = next(
                (d.band for d in self.sensors[(path, name)].detectors if isinstance(d, RegisteredDetector)), None
            )
            z = band.z(value) if band is not None and band.seen > 1 else 0.0
            rows.append((name, value, z))
        return sorted(rows, key=lambda row: -row[2])

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


def _model_version(detector: Detector) -> str:
    name = type(detector).__name__.lower()
    return f"{name}-{hashlib.sha1(repr(detector).encode(), usedforsecurity=False).hexdigest()[:8]}"
