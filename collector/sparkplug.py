"""Sparkplug B 3.0 input, mapped onto the same Readings as the JSON telemetry.

Mapping: ``spBv1.0/{group}/{type}/{edge_node}/{device}`` -> plant = group, gateway = edge node,
device = device; the device's area and line come from the plant files (the asset registry), and a
metric's name is the sensor id. Numeric and boolean metrics become float readings at the metric's
timestamp (or the payload's). NBIRTH/DBIRTH carry metric names with aliases; NDATA/DDATA may use
aliases only. A seq gap per edge node (0..255, wrapping) or an unknown alias asks the edge node for a
rebirth (NCMD ``Node Control/Rebirth``). As primary host the collector keeps a retained
``spBv1.0/STATE/{host_id}`` online, with an offline Will.

The protobuf codec, shared with the gateway, is :mod:`ganlink.sparkplug`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ganlink.assets import load_plant_file
from ganlink.errors import MessageRejected
from ganlink.schema import EARLIEST_VALID_NS, Quality, Reading
from ganlink.sparkplug import (
    BDSEQ_METRIC,
    DATATYPE_BOOLEAN,
    NAMESPACE,
    REBIRTH_METRIC,
    Metric,
    SparkplugPayload,
    decode_payload,
    encode_payload,
)
from ganlink.topics import DevicePath, is_slug

__all__ = [
    "SPARKPLUG_ROOT",
    "SPARKPLUG_SUBSCRIPTIONS",
    "DeviceAreas",
    "SparkplugDecoded",
    "SparkplugState",
    "rebirth_request",
]

SPARKPLUG_ROOT = NAMESPACE
SPARKPLUG_SUBSCRIPTIONS = (
    f"{SPARKPLUG_ROOT}/+/NBIRTH/+",
    f"{SPARKPLUG_ROOT}/+/NDATA/+",
    f"{SPARKPLUG_ROOT}/+/DBIRTH/+/+",
    f"{SPARKPLUG_ROOT}/+/DDATA/+/+",
)
_NUMERIC_TYPES = frozenset(range(1, 11)) | {13}  # Int8..Double and DateTime


def rebirth_request(group: str, edge_node: str, timestamp_ms: int) -> tuple[str, bytes]:
    """The NCMD asking an edge node to publish its births again."""
    metric = Metric(REBIRTH_METRIC, None, timestamp_ms, DATATYPE_BOOLEAN, True)
    return f"{SPARKPLUG_ROOT}/{group}/NCMD/{edge_node}", encode_payload(SparkplugPayload(timestamp_ms, [metric], None))


class DeviceAreas:
    """(plant, device) -> (area, line), from the plant files; Sparkplug topics carry no area or line."""

    def __init__(self, paths: dict[tuple[str, str], tuple[str, str]]) -> None:
        self._paths = paths

    @classmethod
    def from_plant_files(cls, paths: Iterable[Path]) -> DeviceAreas:
        return cls(
            {
                (ref.device.plant, ref.device.device): (ref.device.area, ref.device.line)
                for path in paths
                for ref in load_plant_file(path).sensors()
            }
        )

    def device(self, plant: str, device: str) -> DevicePath | None:
        found = self._paths.get((plant, device))
        return DevicePath(plant, found[0], found[1], device) if found else None


@dataclass(slots=True)
class SparkplugDecoded:
    """Readings of one Sparkplug message, the metrics refused (with why), and a rebirth to ask for."""

    gateway: str
    readings: list[Reading] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (metric name or alias, why)
    rebirth: tuple[str, bytes] | None = None
    seq: int | None = None


_CONTROL_PREFIXES = ("Node Control/", "Properties/", "Device Control/")
_NODE_CONTROL_METRICS = frozenset({BDSEQ_METRIC})  # the birth/death sequence of the session (spec 6.4.4)


class SparkplugState:
    """Births (alias -> name) per edge node/device and the last seq per edge node; thread-safe."""

    def __init__(self, devices: DeviceAreas) -> None:
        self._devices = devices
        self._aliases: dict[tuple[str, str, str], dict[int, str]] = {}
        self._last_seq: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self.seq_gaps = 0

    def decode(self, topic: str, payload: bytes, *, now_ns: int, max_skew_ns: int) -> SparkplugDecoded | None:
        """Readings of a BIRTH/DATA message; None for other types. Raises MessageRejected."""
        parts = topic.split("/")
        if len(parts) not in (4, 5) or parts[0] != SPARKPLUG_ROOT:
            raise MessageRejected("bad-topic", f"{topic!r} is not a Sparkplug B topic")
        group, kind, edge = parts[1], parts[2], parts[3]
        device_id = parts[4] if len(parts) == 5 else edge
        if kind not in ("NBIRTH", "DBIRTH", "NDATA", "DDATA"):
            return None
        if not (is_slug(group) and is_slug(edge) and is_slug(device_id)):
            raise MessageRejected("bad-topic", f"{topic!r}: group, edge node and device must be slug ids")
        try:
            decoded = decode_payload(payload)
        except ValueError as exc:
            raise MessageRejected("not-sparkplug", f"payload is not Sparkplug B protobuf: {exc}") from None
        device = self._devices.device(group, device_id)
        node_level = len(parts) == 4
        if device is None and not node_level:
            raise MessageRejected("unknown-device", f"device {device_id!r} of plant {group!r} is in no plant file")
        result = SparkplugDecoded(gateway=edge, seq=decoded.seq)
        key = (group, edge, device_id)
        with self._lock:
            if decoded.seq is not None:
                last = self._last_seq.get((group, edge))
                if kind == "NBIRTH" or last is None:
                    pass
                elif decoded.seq != (last + 1) % 256:
                    self.seq_gaps += 1
                    result.rebirth = rebirth_request(group, edge, now_ns // 1_000_000)
                self._last_seq[(group, edge)] = decoded.seq
            aliases = self._aliases.setdefault(key, {}) if kind.endswith("BIRTH") else self._aliases.get(key, {})
            if kind.endswith("BIRTH"):
                aliases.clear()
                aliases.update({m.alias: m.name for m in decoded.metrics if m.alias is not None and m.name})
        latest = now_ns + max_skew_ns
        for metric in decoded.metrics:
            name = metric.name or (aliases.get(metric.alias) if metric.alias is not None else None)
            label = name or f"alias {metric.alias}"
            if name is None:
                result.refused.append((label, "alias without a birth: rebirth requested"))
                result.rebirth = rebirth_request(group, edge, now_ns // 1_000_000)
                continue
            if name in _NODE_CONTROL_METRICS or name.startswith(_CONTROL_PREFIXES) or metric.is_null:
                continue
            if device is None:  # an edge node that is no plant device only carries control metrics
                result.refused.append((label, f"edge node {edge!r} of plant {group!r} is in no plant file"))
                continue
            why = self._why_not(name, metric)
            if why:
                result.refused.append((label, why))
                continue
            stamp_ms = metric.timestamp_ms or decoded.timestamp_ms
            time_ns = (stamp_ms or 0) * 1_000_000
            if not EARLIEST_VALID_NS <= time_ns <= latest:
                result.refused.append((label, f"timestamp {stamp_ms!r} ms is before 2000 or too far ahead"))
                continue
            assert isinstance(metric.value, (int, float))
            result.readings.append(Reading(device, name, time_ns, float(metric.value), Quality.GOOD))
        return result

    @staticmethod
    def _why_not(name: str, metric: Metric) -> str | None:
        if not is_slug(name):
            return f"metric name {name!r} is not a sensor slug id"
        if metric.datatype not in _NUMERIC_TYPES and metric.datatype != DATATYPE_BOOLEAN:
            return f"datatype {metric.datatype} is not numeric or boolean"
        value = metric.value
        if not isinstance(value, (int, float)) or (isinstance(value, float) and value != value):  # noqa: PLR0124
            return f"value {value!r} is not a finite number"
        if isinstance(value, float) and value in (float("inf"), float("-inf")):
            return f"value {value!r} is not finite"
        return None
