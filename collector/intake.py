"""Turn one received MQTT message into what the collector stores and what it dead-letters. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from collector.attribution import GatewayPlants
from collector.dead_letter import DeadLetter, reading_payload
from collector.sparkplug import SPARKPLUG_ROOT, SparkplugState
from ganlink.errors import MessageRejected
from ganlink.schema import AnomalyEvent, Reading, parse_anomaly, parse_telemetry
from ganlink.topics import DevicePath

__all__ = ["DETECTOR_PATTERN", "Intake", "SensorRenames", "apply_aliases", "read_message"]

# Aliases by wire device: sensor name seen there -> (registered device, registered sensor name).
SensorRenames = Mapping[DevicePath, Mapping[str, tuple[DevicePath, str]]]

# Detector names become an InfluxDB tag: no spaces, commas, quotes or line breaks.
DETECTOR_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")


@dataclass(slots=True)
class Intake:
    """The outcome of one message: readings and events to store, dead letters to publish."""

    readings: list[Reading] = field(default_factory=list)
    events: list[AnomalyEvent] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    gateway: str | None = None
    seq: int | None = None
    # Messages to publish back (QoS 0), e.g. a Sparkplug rebirth request: (topic, payload).
    commands: list[tuple[str, bytes]] = field(default_factory=list)


def _whole(reason: str, detail: str, topic: str, payload: bytes, now_ns: int) -> Intake:
    return Intake(dead_letters=[DeadLetter.of_message(reason, detail, topic, payload, now_ns)])


def _read_sparkplug(state: SparkplugState, topic: str, payload: bytes, now_ns: int, max_skew_ns: int) -> Intake:
    try:
        decoded = state.decode(topic, payload, now_ns=now_ns, max_skew_ns=max_skew_ns)
    except MessageRejected as exc:
        return _whole(exc.reason, exc.detail, topic, payload, now_ns)
    if decoded is None:
        return Intake()
    dead_letters = [
        DeadLetter.of_message("bad-reading", f"metric {label}: {why}", topic, payload, now_ns)
        for label, why in decoded.refused
    ]
    commands = [decoded.rebirth] if decoded.rebirth else []
    return Intake(decoded.readings, [], dead_letters, decoded.gateway, None, commands)


def read_message(
    topic: str,
    payload: bytes,
    *,
    now_ns: int,
    max_skew_ns: int,
    max_payload_bytes: int,
    gateway_plants: GatewayPlants | None = None,
    sparkplug: SparkplugState | None = None,
) -> Intake:
    """Validate a telemetry, anomaly or Sparkplug B message; never raises for bad input, dead-letters it."""
    if len(payload) > max_payload_bytes:
        detail = f"payload is {len(payload)} bytes, the limit is {max_payload_bytes}"
        return _whole("too-large", detail, topic, payload, now_ns)
    if sparkplug is not None and topic.startswith(f"{SPARKPLUG_ROOT}/"):
        return _read_sparkplug(sparkplug, topic, payload, now_ns, max_skew_ns)
    try:
        if topic.endswith("/telemetry"):
            message = parse_telemetry(topic, payload, now_ns=now_ns, max_skew_ns=max_skew_ns)
        elif topic.endswith("/anomaly"):
            event = parse_anomaly(topic, payload)
            if DETECTOR_PATTERN.fullmatch(event.detector) is None:
                return _whole("bad-envelope", f"detector {event.detector[:80]!r} is not a name", topic, payload, now_ns)
            return Intake(events=[event])
        else:
            return _whole("bad-topic", f"{topic!r} is neither a telemetry nor an anomaly topic", topic, payload, now_ns)
    except MessageRejected as exc:
        return _whole(exc.reason, exc.detail, topic, payload, now_ns)
    if gateway_plants is not None:
        wrong = gateway_plants.mismatch(message.gateway, message.device.plant)
        if wrong is not None:
            letter = DeadLetter.of_message(
                "wrong-plant", wrong, topic, payload, now_ns, gateway=message.gateway, seq=message.seq
            )
            # Not counted in the sequence ledger: the sender may be impersonating that gateway.
            return Intake(dead_letters=[letter])
    dead_letters = [
        DeadLetter(
            "bad-reading",
            rejected.reason,
            topic,
            reading_payload(message.gateway, message.seq, rejected.raw),
            now_ns,
            gateway=message.gateway,
            seq=message.seq,
        )
        for rejected in message.rejected
    ]
    return Intake(message.readings, [], dead_letters, message.gateway, message.seq)


def apply_aliases(intake: Intake, renames: SensorRenames) -> Intake:
    """Readings of a sensor approved with a mapping become readings of the sensor it was mapped to (in
    place). A message carries one device's readings: one dict lookup per message unless it is aliased."""
    readings = intake.readings
    if not readings:
        return intake
    device = readings[0].device
    names = renames.get(device)
    if names is None:
        return intake
    for index, reading in enumerate(readings):
        target = names.get(reading.sensor) if reading.device == device else None
        if target is not None:
            readings[index] = Reading(target[0], target[1], reading.time_ns, reading.value, reading.quality)
    return intake
