"""The plant monitor: readings in, anomaly events out. Pure (no I/O, no clock of its own), so the
online service, the offline evaluation and the benchmark all drive the same code.

Each reading is scored by its sensor's detectors for the device's current operating mode
(analytics.scoring), then learned from; each device's analog sensors are scored together once per
reading time. Findings go through the alarm engine: one event per incident, and a device-wide
alarm is held back while one of its sensors is already in alarm (the same incident). Missing data is
checked on the caller's clock: a device none of whose sensors report is one device alarm, a single
silent sensor of a live device is a sensor alarm.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from analytics.alarms import AlarmChange, AlarmEngine, ChangeKind, Finding
from analytics.rules import NON_ANALOG_KINDS
from analytics.scoring import (
    DeviceFactory,
    DeviceModel,
    RegisteredDetector,
    SensorModel,
    StatisticalFactory,
    default_device_detector,
    default_statistical_detectors,
)
from analytics.shifts import ShiftCalendar
from analytics.silence import DEVICE_SCOPE_SENSOR, GATEWAY_SCOPE_SENSOR, SilenceAlarm, SilenceMonitor
from ganlink.alarms import Severity
from ganlink.assets import PlantFile, Sensor, SensorRef
from ganlink.schema import AnomalyEvent, Quality, Reading
from ganlink.timestamps import format_rfc3339
from ganlink.topics import DevicePath

__all__ = ["DEVICE_SCOPE_SENSOR", "GATEWAY_SCOPE_SENSOR", "Monitor"]

logger = logging.getLogger(__name__)


@dataclass
class Monitor:
    """Per-sensor and per-device state for a set of plants; see the module docstring.

    ``statistical`` and ``multivariate`` build fresh detectors for a sensor or device (module-level
    functions, so checkpoints can pickle the models that hold them)."""

    plant_files: list[PlantFile]
    statistical: StatisticalFactory = default_statistical_detectors
    multivariate: DeviceFactory = default_device_detector
    device_threshold: float = 0.9  # PCA tails are optimistic: 0.75 fired on i.i.d. noise within 900 ticks
    settle_s: float = 60.0
    shift_settle_s: float = 600.0
    engine: AlarmEngine = field(default_factory=AlarmEngine)
    silence: SilenceMonitor = field(default_factory=SilenceMonitor)
    sensors: dict[tuple[DevicePath, str], SensorModel] = field(default_factory=dict)
    devices: dict[DevicePath, DeviceModel] = field(default_factory=dict)
    calendars: dict[str, ShiftCalendar] = field(default_factory=dict)
    shelved_until_ns: dict[str, int] = field(default_factory=dict)
    skipped_unknown: int = 0
    skipped_out_of_order: int = 0
    by_device: dict[DevicePath, dict[str, SensorModel]] = field(default_factory=dict, repr=False)
    """The same sensor models as ``sensors``, by device and then sensor name (one device lookup per message)."""

    def __post_init__(self) -> None:
        for plant_file in self.plant_files:
            self.calendars[plant_file.plant.id] = ShiftCalendar.of(plant_file.plant)
            for area in plant_file.plant.areas:
                for line in area.lines:
                    paths = [DevicePath(plant_file.plant.id, area.id, line.id, d.id) for d in line.devices]
                    for path, device in zip(paths, line.devices, strict=True):
                        self.add_device(path, device.sensors)
                        self.silence.add_device(plant_file.plant.gateway, path, device.sensors)
                    self._share_line_mode([self.devices[p] for p in paths])

    def add_device(self, path: DevicePath, sensors: Sequence[Sensor]) -> None:
        analog = [s.id for s in sensors if s.kind not in NON_ANALOG_KINDS]
        state = next((s.id for s in sensors if s.kind == "state"), None)
        self.devices[path] = DeviceModel(path, analog, state, self.multivariate, list(sensors))
        models = self.by_device.setdefault(path, {})
        for sensor in sensors:
            model = SensorModel(SensorRef(device=path, sensor=sensor), self.statistical)
            self.sensors[(path, sensor.id)] = models[sensor.id] = model

    def alarm_keys(self) -> list[str]:
        """The ids alarms are raised under: every sensor's full id and each device's ``.device``."""
        sensors = [model.ref.sensor_id for model in self.sensors.values()]
        return sensors + [path.sensor_id(DEVICE_SCOPE_SENSOR) for path in self.devices]

    @staticmethod
    def _share_line_mode(devices: list[DeviceModel]) -> None:
        """Devices without a state sensor follow the first device of their line that has one."""
        source = next((d for d in devices if d.state_sensor is not None), None)
        for device in devices:
            if device.state_sensor is None:
                device.mode_source = source

    def observe_many(self, readings: Iterable[Reading], arrived_ns: int) -> list[AnomalyEvent]:
        """Score a message's readings in time order (state sensors first at each time, so the mode
        is known), then each device once per reading time."""
        batch = readings if isinstance(readings, list) else list(readings)
        if not batch:
            return []
        path, time_ns = batch[0].device, batch[0].time_ns
        if all(r.time_ns == time_ns and (r.device is path or r.device == path) for r in batch):
            return self._observe_message(path, time_ns, batch, arrived_ns)  # a gateway's usual message
        events: list[AnomalyEvent] = []
        pending: dict[DevicePath, int] = {}
        for reading in sorted(batch, key=self._order):
            due = pending.get(reading.device)
            if due is not None and due != reading.time_ns:
                events.extend(self._assess_device(reading.device, due))
            events.extend(self.observe(reading, arrived_ns))
            if reading.device in self.devices:
                pending[reading.device] = reading.time_ns
        for device, due in pending.items():
            events.extend(self._assess_device(device, due))
        return events

    def _order(self, reading: Reading) -> tuple[int, int]:
        device = self.devices.get(reading.device)
        return (reading.time_ns, 0 if device is not None and device.state_sensor == reading.sensor else 1)

    def _observe_message(
        self, path: DevicePath, time_ns: int, readings: list[Reading], arrived_ns: int
    ) -> list[AnomalyEvent]:
        """:meth:`observe_many` for readings of one device at one time: the same steps, with the
        device, its mode and its settling looked up once instead of per reading."""
        device = self.devices.get(path)
        if device is None:
            self.skipped_unknown += len(readings)
            return []
        models = self.by_device[path]
        state = device.state_sensor
        if state is not None and any(r.sensor == state for r in readings):
            readings = [r for r in readings if r.sensor == state] + [r for r in readings if r.sensor != state]
        events: list[AnomalyEvent] = []
        quiet = not self.silence.engine.incidents  # no silence alarm to clear: note arrivals in bulk
        if quiet:
            self.silence.heard_all(path, [r.sensor for r in readings if r.sensor in models], arrived_ns)
        settling: bool | None = None
        for reading in readings:
            sensor = reading.sensor
            model = models.get(sensor)
            if model is None:
                self.skipped_unknown += 1
                continue
            if not quiet:
                events.extend(self._heard(path, sensor, arrived_ns))
            if time_ns <= model.last_time_ns:
                self.skipped_out_of_order += 1
                continue
            model.last_time_ns = time_ns
            if reading.quality is Quality.BAD:
                continue
            if sensor == state:
                device.note_state(reading.value, time_ns)
                settling = None
            if settling is None:
                settling = self._settling(device, time_ns)
            change = self._score(model, device, reading.value, time_ns, settling)
            if change is not None:
                events.append(self._event(change, path, sensor, reading.value, model.ref.sensor))
        events.extend(self._assess_device(path, time_ns))
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
        device = self.devices[reading.device]
        if reading.sensor == device.state_sensor:
            device.note_state(reading.value, reading.time_ns)
        settling = self._settling(device, reading.time_ns)
        change = self._score(model, device, reading.value, reading.time_ns, settling)
        if change is not None:
            events.append(self._event(change, reading.device, reading.sensor, reading.value, model.ref.sensor))
        return events

    def _score(
        self, model: SensorModel, device: DeviceModel, value: float, time_ns: int, settling: bool
    ) -> AlarmChange | None:
        """Score and learn one value of a sensor; the alarm change it causes, if any."""
        engine = self.engine
        key = model.sensor_id
        factor = engine.threshold_factors.get(key, 1.0)
        findings = model.assess(
            value, device.operating_mode, settling=settling, factor=factor, floor_ratio=engine.off_ratio
        )
        if model.analog:
            device.latest[model.ref.sensor.id] = value
        if not findings and not engine.in_alarm(key):
            return None  # the engine would change nothing
        return engine.observe(key, time_ns, findings)

    def _assess_device(self, path: DevicePath, time_ns: int) -> list[AnomalyEvent]:
        device = self.devices[path]
        score = device.assess(time_ns)
        if score is None:
            return []
        detector = device.detector()
        if detector is None:
            return []
        key = device.alarm_key
        engine = self.engine
        in_alarm = engine.in_alarm(key)
        if not in_alarm and any(engine.in_alarm(k) for k in device.analog_keys):
            return []  # a sensor of this device is already in alarm: the same incident
        if not in_alarm and self._settling(device, time_ns):
            return []
        if score <= 0 and not in_alarm:
            return []  # no finding and no incident: the engine would change nothing
        finding = Finding("pca", device.model_version(detector), score, self.device_threshold, Severity.MINOR)
        change = engine.observe(key, time_ns, [finding] if score > 0 else [])
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

    def _settling(self, device: DeviceModel, time_ns: int) -> bool:
        """After a change of machine mode or of shift only the engineering range counts."""
        if device.settling(time_ns, self.settle_s):
            return True
        calendar = self.calendars.get(device.device.plant)
        since = calendar.since_shift_start_s(time_ns) if calendar is not None else None
        return since is not None and since < self.shift_settle_s

    def _deviations(self, path: DevicePath) -> list[tuple[str, float, float]]:
        """(sensor, latest value, robust z against its recent band in this mode), most deviating first."""
        device = self.devices[path]
        rows = []
        for name, value in device.latest.items():
            detectors = self.sensors[(path, name)].detectors(device.operating_mode)
            band = next((d.band for d in detectors if isinstance(d, RegisteredDetector)), None)
            z = band.z(value) if band is not None and band.seen > 1 else 0.0
            rows.append((name, value, z))
        return sorted(rows, key=lambda row: -row[2])

    def _heard(self, device: DevicePath, sensor: str, arrived_ns: int) -> list[AnomalyEvent]:
        return [self._silence_event(alarm) for alarm in self.silence.heard(device, sensor, arrived_ns)]

    def check_silence(self, now_ns: int) -> list[AnomalyEvent]:
        """Alarms for gateways, devices and sensors that stopped reporting (the ``arrived_ns`` clock)."""
        return [self._silence_event(alarm) for alarm in self.silence.check(now_ns)]

    def gateway_status(self, plant: str, *, online: bool) -> None:
        """A gateway's retained status changed; an ``offline`` gateway is alarmed at the next check."""
        self.silence.gateway_status(plant, online)

    def _silence_event(self, alarm: SilenceAlarm) -> AnomalyEvent:
        event = self._event(alarm.change, alarm.device, alarm.sensor, alarm.silent_s, None)
        event.details.update(alarm.details)
        return event

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
            shelved_until = self.shelved_until_ns.get(device.sensor_id(sensor), 0)
            if change.time_ns < shelved_until:
                # Shelved by a person: recorded as usual, but pages and notifications hold it back.
                details["shelved_until"] = format_rfc3339(shelved_until)
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

    def apply_shelves(self, shelves: dict[str, int]) -> None:
        """Sensors (full id, or a device's ``.device``) shelved until the given time (epoch ns)."""
        self.shelved_until_ns = dict(shelves)

    def apply_sensitivity(self, factors: Iterable[tuple[str, float]]) -> None:
        """Set per-sensor threshold factors (full sensor id -> factor >= 1) from operator labels."""
        for sensor_id, factor in factors:
            self.engine.set_threshold_factor(sensor_id, factor)


def _why(finding: Finding, value: float, spec: Sensor | None) -> str:
    unit = f" {spec.unit}" if spec is not None else ""
    if finding.detector.startswith("silence"):
        return f"no data for longer than {finding.expected[1] if finding.expected else '?'} s"
    if finding.note:
        return f"{finding.detector}: {finding.note}"
    if finding.expected is None:
        return f"{finding.detector}: value {value:g}{unit} scored {finding.score:.2f}"
    low, high = finding.expected
    return f"{finding.detector}: value {value:g}{unit} outside expected [{low:g}, {high:g}]{unit}"
