"""The wire contract: readings, telemetry messages, anomaly events and gateway status (DESIGN.md).

Gateways build messages with :func:`encode_telemetry`; collectors read them with
:func:`parse_telemetry`, which stores what is valid and says exactly why the rest is not.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from enum import IntEnum
from functools import lru_cache
from typing import Any

import orjson

from ganlink.errors import MessageRejected
from ganlink.timestamps import format_rfc3339, parse_source_time
from ganlink.topics import DevicePath, is_slug, parse_device_topic

__all__ = [
    "EARLIEST_VALID_NS",
    "PAYLOAD_VERSION",
    "AnomalyEvent",
    "Quality",
    "Reading",
    "RejectedReading",
    "TelemetryMessage",
    "encode_anomaly",
    "encode_telemetry",
    "parse_anomaly",
    "parse_telemetry",
]

PAYLOAD_VERSION = 1
EARLIEST_VALID_NS = 946_684_800 * 1_000_000_000  # 2000-01-01T00:00:00Z


class Quality(IntEnum):
    """Reading quality, stored as the int field ``quality``."""

    GOOD = 0
    UNCERTAIN = 1
    BAD = 2

    @property
    def label(self) -> str:
        return self.name.lower()


_QUALITY_BY_LABEL = {q.label: q for q in Quality}


@dataclass(frozen=True, slots=True)
class Reading:
    """One sensor value at one source time (UTC epoch ns)."""

    device: DevicePath
    sensor: str
    time_ns: int
    value: float
    quality: Quality = Quality.GOOD

    @property
    def sensor_id(self) -> str:
        return self.device.sensor_id(self.sensor)


@dataclass(frozen=True, slots=True)
class RejectedReading:
    """A reading that failed validation: its raw JSON and why."""

    raw: object
    reason: str


@dataclass(frozen=True, slots=True)
class TelemetryMessage:
    """What one telemetry message carried once parsed."""

    device: DevicePath
    gateway: str
    seq: int
    readings: list[Reading]
    rejected: list[RejectedReading] = field(default_factory=list)


def encode_telemetry(gateway: str, seq: int, readings: list[Reading]) -> bytes:
    """The JSON payload for one device's readings (all readings must share one device)."""
    body = {
        "v": PAYLOAD_VERSION,
        "gateway": gateway,
        "seq": seq,
        "readings": [
            {
                "sensor": r.sensor,
                "ts": format_rfc3339(r.time_ns),
                "value": r.value,
                **({"quality": r.quality.label} if r.quality is not Quality.GOOD else {}),
            }
            for r in readings
        ],
    }
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def _keep_non_finite(constant: str) -> float:
    # NaN/Infinity are not JSON; keep them as floats so only that reading is dead-lettered.
    return float(constant)


def _load_json_object(payload: bytes) -> dict[str, Any]:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MessageRejected("not-utf8", f"payload is not UTF-8 at byte {exc.start}") from None
    try:
        body = json.loads(text, parse_constant=_keep_non_finite)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise MessageRejected("not-json", f"payload is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise MessageRejected("not-object", f"payload is JSON {type(body).__name__}, expected an object")
    return body


# orjson reads integers beyond 64 bits as floats where json keeps them exact; any run of 19+ digits
# (the shortest that can be one, e.g. -9223372036854775809) goes the slow way.
# (Digits mapped to "0" and a substring search: a tenth of the cost of a regex over the payload.)
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGIT_RUN = b"0" * 19


def _load_json_object_fast(payload: bytes) -> dict[str, Any]:
    """:func:`_load_json_object` with orjson for the common payload; the same result for every input.

    What orjson refuses (NaN/Infinity literals, lone surrogates, invalid UTF-8, ...) or might read
    differently goes through the stdlib parser, which keeps NaN as a float and words the reasons.
    """
    if _LONG_DIGIT_RUN not in payload.translate(_DIGITS_AS_ZERO):
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError:
            pass
        else:
            if type(body) is dict:
                return body
    return _load_json_object(payload)


class _UncheckedReading:
    """A Reading's slots without the frozen dataclass's per-field ``object.__setattr__`` (a third of
    a reading's parse cost): set plainly, then the object becomes a Reading by ``__class__``
    assignment (same slots, so the same layout). Only for fields already checked."""

    __slots__ = ("device", "quality", "sensor", "time_ns", "value")


if _UncheckedReading.__slots__ != tuple(sorted(Reading.__slots__)):  # pragma: no cover - a changed Reading
    raise TypeError("_UncheckedReading must have exactly Reading's slots")


def _check_readings(
    device: DevicePath, raw_readings: list[Any], earliest_ns: int, latest_ns: int
) -> tuple[list[Reading], list[RejectedReading]]:
    """:func:`_check_reading` for every reading of a message, in fewer steps for the common shape.

    A reading whose sensor, value (a float), ts and quality are plainly valid is built inline; any
    other goes through :func:`_check_reading`, which words the reason. Same result either way.
    """
    readings: list[Reading] = []
    rejected: list[RejectedReading] = []
    times: dict[str, int] = {}  # ts texts of this message already parsed and in range
    isfinite, qualities, unchecked, reading_class = math.isfinite, _QUALITY_BY_LABEL, _UncheckedReading, Reading
    for raw in raw_readings:
        if type(raw) is dict:
            ts, value, sensor = raw.get("ts"), raw.get("value"), raw.get("sensor")
            time_ns = None
            if type(ts) is str:
                time_ns = times.get(ts)
                if time_ns is None:
                    time_ns = _time_in_range(ts, earliest_ns, latest_ns)
                    if time_ns is not None:
                        times[ts] = time_ns
            label = raw.get("quality", "good")
            quality = qualities.get(label) if type(label) is str else None
            if (
                time_ns is not None
                and quality is not None
                and type(value) is float
                and isfinite(value)
                and is_slug(sensor)
            ):
                # built inline (see _UncheckedReading): this runs once per reading the collector takes in
                reading: Any = unchecked()
                reading.device, reading.sensor, reading.time_ns, reading.value, reading.quality = (
                    device, sensor, time_ns, value, quality
                )
                reading.__class__ = reading_class
                readings.append(reading)
                continue
        checked = _check_reading(device, raw, earliest_ns, latest_ns)
        if isinstance(checked, Reading):
            readings.append(checked)
        else:
            rejected.append(checked)
    return readings, rejected


def _time_in_range(ts: str, earliest_ns: int, latest_ns: int) -> int | None:
    try:
        time_ns = parse_source_time(ts)
    except (ValueError, OverflowError):
        return None
    return time_ns if earliest_ns <= time_ns <= latest_ns else None


def _check_reading(
    device: DevicePath, raw: object, earliest_ns: int, latest_ns: int
) -> Reading | RejectedReading:
    if not isinstance(raw, dict):
        return RejectedReading(raw, f"reading is {type(raw).__name__}, expected an object")
    sensor = raw.get("sensor")
    if not is_slug(sensor):
        return RejectedReading(raw, f"sensor {sensor!r} is not a slug id")
    value = raw.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return RejectedReading(raw, f"value {value!r} is not a number")
    value = float(value) if isinstance(value, int) else value
    if not math.isfinite(value):
        return RejectedReading(raw, f"value {value!r} is not finite")
    try:
        time_ns = parse_source_time(raw.get("ts"))
    except (ValueError, OverflowError) as exc:
        return RejectedReading(raw, str(exc))
    if time_ns < earliest_ns:
        return RejectedReading(raw, f"ts {raw.get('ts')!r} is before 2000 (clock or unit fault)")
    if time_ns > latest_ns:
        return RejectedReading(raw, f"ts {raw.get('ts')!r} is too far in the future (clock or unit fault)")
    quality_label = raw.get("quality", "good")
    quality = _QUALITY_BY_LABEL.get(quality_label) if isinstance(quality_label, str) else None
    if quality is None:
        return RejectedReading(raw, f"quality {quality_label!r} is not good|uncertain|bad")
    assert isinstance(sensor, str)
    return Reading(device, sensor, time_ns, value, quality)


@lru_cache(maxsize=65536)
def _telemetry_device(topic: str) -> DevicePath:
    # One validated DevicePath per topic, shared by every message on it (it is immutable): no
    # re-validation per message, and downstream per-device caches see the same object.
    return parse_device_topic(topic, "telemetry")


def parse_telemetry(topic: str, payload: bytes, *, now_ns: int, max_skew_ns: int) -> TelemetryMessage:
    """Validate one telemetry message; bad readings come back in ``rejected`` with a reason.

    Raises MessageRejected (reason slug + detail) when the message cannot be read or attributed.
    """
    device = _telemetry_device(topic)
    body = _load_json_object_fast(payload)
    version = body.get("v")
    if isinstance(version, bool) or version != PAYLOAD_VERSION:  # true == 1 in Python, not in the contract
        raise MessageRejected("bad-envelope", f"v is {version!r}, expected {PAYLOAD_VERSION}")
    gateway = body.get("gateway")
    if not is_slug(gateway):
        raise MessageRejected("bad-envelope", f"gateway {gateway!r} is not a slug id")
    seq = body.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise MessageRejected("bad-envelope", f"seq {seq!r} is not a non-negative integer")
    raw_readings = body.get("readings")
    if not isinstance(raw_readings, list) or not raw_readings:
        raise MessageRejected("bad-envelope", "readings is not a non-empty list")
    assert isinstance(gateway, str)
    readings, rejected = _check_readings(device, raw_readings, EARLIEST_VALID_NS, now_ns + max_skew_ns)
    return TelemetryMessage(device, gateway, seq, readings, rejected)


@dataclass(frozen=True, slots=True)
class AnomalyEvent:
    """A detector's verdict on one sensor at one time; ``alarm_id`` ties it to an alarm."""

    device: DevicePath
    sensor: str
    detector: str
    time_ns: int
    score: float
    value: float
    alarm_id: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def encode_anomaly(event: AnomalyEvent) -> bytes:
    """JSON payload for the anomaly topic."""
    return json.dumps(
        {
            "v": PAYLOAD_VERSION,
            "sensor": event.sensor,
            "detector": event.detector,
            "ts": format_rfc3339(event.time_ns),
            "score": event.score,
            "value": event.value,
            "alarm_id": event.alarm_id,
            "details": event.details,
        },
        separators=(",", ":"),
        allow_nan=False,
    ).encode()


def parse_anomaly(topic: str, payload: bytes) -> AnomalyEvent:
    """Read an anomaly event; raises MessageRejected when it is malformed."""
    device = parse_device_topic(topic, "anomaly")
    body = _load_json_object(payload)
    sensor, detector = body.get("sensor"), body.get("detector")
    if not is_slug(sensor) or not isinstance(detector, str) or not detector:
        raise MessageRejected("bad-envelope", f"anomaly sensor {sensor!r} / detector {detector!r} invalid")
    score, value = body.get("score"), body.get("value")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in (score, value)):
        raise MessageRejected("bad-envelope", f"anomaly score {score!r} / value {value!r} not finite numbers")
    try:
        time_ns = parse_source_time(body.get("ts"))
    except ValueError as exc:
        raise MessageRejected("bad-envelope", str(exc)) from None
    details = body.get("details")
    return AnomalyEvent(
        device,
        str(sensor),
        detector,
        time_ns,
        float(score),  # type: ignore[arg-type]
        float(value),  # type: ignore[arg-type]
        str(body.get("alarm_id", "")),
        details if isinstance(details, dict) else {},
    )
