"""The MQTT topic tree (DESIGN.md): every topic ganlink publishes or subscribes to is built here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ganlink.errors import TopicError

__all__ = [
    "ANOMALY_SUBSCRIPTION",
    "DEADLETTER_SUBSCRIPTION",
    "ROOT",
    "SLUG_PATTERN",
    "STATUS_SUBSCRIPTION",
    "TELEMETRY_SUBSCRIPTION",
    "DevicePath",
    "deadletter_topic",
    "gateway_status_topic",
    "is_slug",
    "parse_device_topic",
    "shared_subscription",
]

ROOT = "ganlink/v1"
SLUG_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
TELEMETRY_SUBSCRIPTION = f"{ROOT}/+/+/+/+/telemetry"
ANOMALY_SUBSCRIPTION = f"{ROOT}/+/+/+/+/anomaly"
STATUS_SUBSCRIPTION = f"{ROOT}/+/_gateway/+/status"
DEADLETTER_SUBSCRIPTION = f"{ROOT}/_deadletter/#"
_DEVICE_CHANNELS = frozenset({"telemetry", "anomaly"})


def is_slug(value: object) -> bool:
    """True when ``value`` is a string following the id rule ``[a-z0-9][a-z0-9-]{0,62}``."""
    return isinstance(value, str) and _is_slug_text(value)


# Sensor and gateway ids repeat in every message: the collector checks each one per reading.
@lru_cache(maxsize=65536)
def _is_slug_text(value: str) -> bool:
    return SLUG_PATTERN.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class DevicePath:
    """ISA-95 path of one device: ``plant / area / line / device``; validates itself."""

    plant: str
    area: str
    line: str
    device: str

    def __post_init__(self) -> None:
        for level in ("plant", "area", "line", "device"):
            value = getattr(self, level)
            if not is_slug(value):
                raise ValueError(f"{level} id {value!r} is not a slug [a-z0-9][a-z0-9-]{{0,62}}")

    @property
    def telemetry_topic(self) -> str:
        return f"{ROOT}/{self.plant}/{self.area}/{self.line}/{self.device}/telemetry"

    @property
    def anomaly_topic(self) -> str:
        return f"{ROOT}/{self.plant}/{self.area}/{self.line}/{self.device}/anomaly"

    def sensor_id(self, sensor: str) -> str:
        """The dotted full id of one of this device's sensors."""
        return f"{self.plant}.{self.area}.{self.line}.{self.device}.{sensor}"


def parse_device_topic(topic: str, channel: str = "telemetry") -> DevicePath:
    """Read the device path out of a telemetry or anomaly topic; raises TopicError otherwise."""
    if channel not in _DEVICE_CHANNELS:
        raise ValueError(f"unknown device channel {channel!r}")
    parts = topic.split("/")
    if len(parts) != 7 or f"{parts[0]}/{parts[1]}" != ROOT or parts[6] != channel:
        raise TopicError(topic, f"expected {ROOT}/{{plant}}/{{area}}/{{line}}/{{device}}/{channel}")
    try:
        return DevicePath(parts[2], parts[3], parts[4], parts[5])
    except ValueError as exc:
        raise TopicError(topic, str(exc)) from None


def gateway_status_topic(plant: str, gateway: str) -> str:
    """Retained status topic of a gateway; its Will publishes ``offline`` here."""
    if not (is_slug(plant) and is_slug(gateway)):
        raise ValueError(f"plant {plant!r} and gateway {gateway!r} must be slugs")
    return f"{ROOT}/{plant}/_gateway/{gateway}/status"


def deadletter_topic(reason: str) -> str:
    """Where rejected input goes, one subtopic per reason slug."""
    if not is_slug(reason):
        raise ValueError(f"dead-letter reason {reason!r} must be a slug")
    return f"{ROOT}/_deadletter/{reason}"


def shared_subscription(topic_filter: str, group: str = "collectors") -> str:
    """An MQTT v5 / Mosquitto shared subscription so N subscribers split the load."""
    if not is_slug(group):
        raise ValueError(f"share group {group!r} must be a slug")
    return f"$share/{group}/{topic_filter}"
