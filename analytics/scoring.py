"""Per-sensor and per-device scoring state, aware of the machine's operating mode.

A sensor is scored by the registry rules and by statistical detectors. Where a device reports a
machine state (a sensor of kind ``state``: stopped, running, fault, changeover), each mode gets its own
detectors, because a welding current of 0 A is normal when the robot is stopped and a fault when it
runs; for ``settle_s`` after a mode change only the engineering range is enforced (start-up ramps are
not anomalies). The device's multivariate detector is kept per mode the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from analytics.alarms import Finding
from analytics.detectors import Detector, make_detector
from analytics.robust import RobustZScore
from analytics.rules import NON_ANALOG_KINDS, RangeRule, RateOfChangeRule, StuckRule, rules_for_sensor
from analytics.silence import DEVICE_SCOPE_SENSOR
from ganlink.alarms import Severity
from ganlink.assets import Sensor, SensorRef
from ganlink.topics import DevicePath

__all__ = [
    "SENSOR_THRESHOLD",
    "DeviceModel",
    "ExplainedDetector",
    "Mode",
    "RegisteredDetector",
    "SensorModel",
    "default_device_detector",
    "default_statistical_detectors",
    "model_version_of",
]

SENSOR_THRESHOLD = 0.4
"""Score at which the per-sensor registered detector alarms (p ~ 1.6e-5 on the detectors' scale; its
empirical tails are conservative: 30,000 Gaussian readings never scored above 0.26)."""

Mode = int | None
"""A device's operating mode: the rounded value of its state sensor, None when it has none."""

_SEVERITY_BY_RULE = {RangeRule: Severity.CRITICAL, StuckRule: Severity.MAJOR, RateOfChangeRule: Severity.MINOR}


class ExplainedDetector(Protocol):
    """A streaming detector that can also say which values it expected (for an alarm's why)."""

    name: str
    model_version: str
    threshold: float

    def learn_one(self, x: float) -> None: ...

    def score_one(self, x: float) -> float: ...

    def expected(self) -> tuple[float, float] | None: ...


def model_version_of(name: str, detector: object) -> str:
    """``name-<hash of its hyperparameters>``: changes whenever the model's settings do."""
    return f"{name}-{hashlib.sha1(repr(detector).encode(), usedforsecurity=False).hexdigest()[:8]}"


class RegisteredDetector:
    """A detector from ``analytics.detectors`` made explainable: a robust band of recent values
    (level +- the spread at which a robust z-score would alarm) says what was expected.

    ``band`` may be a robust z-score the caller also scores with (and teaches, after this detector
    in the same step); this detector then only reads it instead of learning a twin of it."""

    owns_band = True
    """Whether :meth:`learn_one` teaches the band (False when the caller's own robust z-score is it)."""

    def __init__(
        self,
        detector: Detector,
        *,
        name: str,
        threshold: float = 0.5,
        band_floor: float = 1e-9,
        band: RobustZScore | None = None,
    ) -> None:
        self.detector = detector
        self.name = name
        self.threshold = threshold
        self.model_version = model_version_of(name, detector)
        self.band = RobustZScore(min_scale=band_floor) if band is None else band
        self.owns_band = band is None

    def learn_one(self, x: float) -> None:
        self.detector.learn_one(x)
        if self.owns_band:
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
    robust = RobustZScore(min_scale=5e-4 * (high - low))
    # The seasonal detector's band is the robust z-score itself: both would learn the same values.
    seasonal = RegisteredDetector(make_detector("seasonal"), name="seasonal", threshold=SENSOR_THRESHOLD, band=robust)
    return [seasonal, robust]


def default_device_detector(sensors: Sequence[Sensor]) -> Detector | None:
    """PCA T-squared/Q over a device's analog sensors, when it has at least two; a window of about
    half an hour at 1 Hz so a shift's ordinary operating points are in it."""
    analog = [s for s in sensors if s.kind not in NON_ANALOG_KINDS]
    return make_detector("pca", window=2000, refit_every=200, warmup=1000) if len(analog) >= 2 else None


def _severity(detector: ExplainedDetector, score: float) -> Severity:
    rule_severity = _SEVERITY_BY_RULE.get(type(detector))
    if rule_severity is not None:
        return rule_severity
    return Severity.MINOR if score >= 0.75 else Severity.WARNING


@dataclass
class SensorModel:
    """Everything the monitor knows about one sensor: its detectors in each operating mode."""

    ref: SensorRef
    statistical: StatisticalFactory
    modes: dict[Mode, list[ExplainedDetector]] = field(default_factory=dict)
    last_time_ns: int = -1
    sensor_id: str = field(init=False, repr=False)
    """The full dotted id (the alarm key), computed once."""
    analog: bool = field(init=False, repr=False)
    """Whether the device's multivariate detector takes this sensor."""

    def __post_init__(self) -> None:
        self.sensor_id = self.ref.sensor_id
        self.analog = self.ref.sensor.kind not in NON_ANALOG_KINDS

    def detectors(self, mode: Mode) -> list[ExplainedDetector]:
        detectors = self.modes.get(mode)
        if detectors is None:
            detectors = [*rules_for_sensor(self.ref.sensor), *self.statistical(self.ref.sensor)]
            self.modes[mode] = detectors
        return detectors

    def assess(
        self, value: float, mode: Mode, *, settling: bool, factor: float = 1.0, floor_ratio: float = 0.0
    ) -> list[Finding]:
        """Score ``value`` with the mode's detectors, then learn from it; while ``settling`` after a
        mode change only the engineering range counts. Only findings whose score reaches
        ``floor_ratio`` of their threshold (times the alarm engine's ``factor``) are returned: the
        engine ignores weaker ones (its ``off_ratio``), and building them is most of the cost."""
        findings = []
        for detector in self.detectors(mode):
            score = detector.score_one(value)
            if (
                score > 0.0
                and (not settling or isinstance(detector, RangeRule))
                and score / min(0.999, detector.threshold * factor) >= floor_ratio
            ):
                findings.append(
                    Finding(
                        detector.name,
                        detector.model_version,
                        score,
                        detector.threshold,
                        _severity(detector, score),
                        detector.expected(),
                        detector.explain(value) if isinstance(detector, StuckRule) else "",
                    )
                )
            detector.learn_one(value)
        return findings


@dataclass
class DeviceModel:
    """A device's operating mode and its multivariate detector (per mode) over the analog sensors'
    latest values (slower sensors' last values carried forward), one observation per reading time."""

    device: DevicePath
    analog: list[str]
    state_sensor: str | None
    multivariate: DeviceFactory
    sensors: list[Sensor]
    mode: Mode = None
    mode_since_ns: int = -1
    detectors: dict[Mode, Detector | None] = field(default_factory=dict)
    latest: dict[str, float] = field(default_factory=dict)
    last_tick_ns: int = -1
    mode_source: DeviceModel | None = field(default=None, repr=False)
    """For a device without a state sensor: a device on its line whose state sets its mode (a
    conveyor stops when the line's robot stops)."""
    alarm_key: str = field(init=False, repr=False)
    """The full id of the device-wide alarm (``<device>.device``)."""
    analog_keys: list[str] = field(init=False, repr=False)
    """The full ids of the analog sensors (their alarm keys)."""
    _version: tuple[Detector | None, str] = field(default=(None, ""), init=False, repr=False)

    def __post_init__(self) -> None:
        self.alarm_key = self.device.sensor_id(DEVICE_SCOPE_SENSOR)
        self.analog_keys = [self.device.sensor_id(name) for name in self.analog]

    def model_version(self, detector: Detector) -> str:
        """``model_version_of("pca", detector)``, hashed once per detector."""
        cached, version = self._version
        if cached is not detector:
            version = model_version_of("pca", detector)
            self._version = (detector, version)
        return version

    @property
    def operating_mode(self) -> Mode:
        return self.mode_source.mode if self.mode_source is not None else self.mode

    def note_state(self, value: float, time_ns: int) -> None:
        mode = round(value)
        if mode != self.mode:
            self.mode, self.mode_since_ns = mode, time_ns

    def settling(self, time_ns: int, settle_s: float) -> bool:
        since = self.mode_source.mode_since_ns if self.mode_source is not None else self.mode_since_ns
        return since >= 0 and time_ns - since < settle_s * 1e9

    def detector(self) -> Detector | None:
        mode = self.operating_mode
        if mode not in self.detectors:
            self.detectors[mode] = self.multivariate(self.sensors)
        return self.detectors[mode]

    def assess(self, time_ns: int) -> float | None:
        """Score then learn the current vector; None until every analog sensor reported."""
        detector = self.detector()
        if detector is None or time_ns <= self.last_tick_ns or len(self.latest) < len(self.analog):
            return None
        self.last_tick_ns = time_ns
        vector = {name: self.latest[name] for name in self.analog}
        return float(detector.score_learn_one(vector))
