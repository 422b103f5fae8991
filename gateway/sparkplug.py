"""Sparkplug B 3.0 as an edge node (pure: topics, sequence numbers, births and data; no I/O).

Mapping onto the asset tree: group id = plant, edge node id = gateway, device id = device slug
(unique within a plant; the host finds area and line in the plant files), metric name = sensor id,
every value a Double with its source time (births carry each metric's last value and its time).

The payload codec (protobuf, shared with the collector) is :mod:`ganlink.sparkplug`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ganlink.schema import Reading
from ganlink.sparkplug import (
    BDSEQ_METRIC,
    DATATYPE_BOOLEAN,
    DATATYPE_DOUBLE,
    DATATYPE_UINT64,
    NAMESPACE,
    REBIRTH_METRIC,
    Metric,
    SparkplugPayload,
    decode_payload,
    encode_payload,
)
from ganlink.topics import DevicePath

__all__ = ["EdgeNodeState", "device_id", "topic"]


def _double(name: str, value: float, stamp_ms: int, historical: bool = False) -> Metric:
    return Metric(name, None, stamp_ms, DATATYPE_DOUBLE, float(value), is_historical=historical)


def _payload(timestamp_ms: int, metrics: list[Metric], seq: int | None) -> bytes:
    return encode_payload(SparkplugPayload(timestamp_ms, metrics, seq))


def device_id(device: DevicePath) -> str:
    """The Sparkplug device id of an asset-tree device: its slug, unique within the plant."""
    return device.device


def topic(group: str, message_type: str, edge_node: str, device: str | None = None) -> str:
    """``spBv1.0/{group}/{type}/{edge node}[/{device}]``."""
    parts = [NAMESPACE, group, message_type, edge_node] + ([device] if device else [])
    return "/".join(parts)


@dataclass
class EdgeNodeState:
    """Sequence numbers and known devices of one edge node.

    ``bd_seq`` (0-255) counts MQTT sessions and ties each NBIRTH to its NDEATH (the Will);
    ``seq`` (0-255) numbers every message after NBIRTH (NBIRTH itself is 0).
    """

    group: str
    edge_node: str
    bd_seq: int = 0
    seq: int = 0
    # device id -> metric -> (last value, its source time in ms)
    devices: dict[str, dict[str, tuple[float, int]]] = field(default_factory=dict)
    paths: dict[str, DevicePath] = field(default_factory=dict)

    def _next_seq(self) -> int:
        self.seq = (self.seq + 1) % 256
        return self.seq

    def ndeath(self, now_ms: int) -> tuple[str, bytes]:
        """The Will for the coming session (same bdSeq as the NBIRTH it will follow)."""
        metrics = [Metric(BDSEQ_METRIC, datatype=DATATYPE_UINT64, value=self.bd_seq)]
        return topic(self.group, "NDEATH", self.edge_node), _payload(now_ms, metrics, None)

    def births(self, now_ms: int) -> list[tuple[str, bytes]]:
        """NBIRTH (seq 0) then a DBIRTH for every known device: on connect and on rebirth."""
        self.seq = 0
        node_metrics = [
            Metric(BDSEQ_METRIC, datatype=DATATYPE_UINT64, value=self.bd_seq),
            Metric(REBIRTH_METRIC, datatype=DATATYPE_BOOLEAN, value=False),
        ]
        messages = [(topic(self.group, "NBIRTH", self.edge_node), _payload(now_ms, node_metrics, 0))]
        messages += [self._dbirth(device, now_ms) for device in self.devices]
        return messages

    def _dbirth(self, device: str, now_ms: int) -> tuple[str, bytes]:
        metrics = [_double(name, value, stamp) for name, (value, stamp) in sorted(self.devices[device].items())]
        return topic(self.group, "DBIRTH", self.edge_node, device), _payload(now_ms, metrics, self._next_seq())

    def remember(self, readings: Sequence[Reading]) -> None:
        """Keep the latest values while offline (QoS 0 data is not queued): the next births carry them."""
        for reading in readings:
            device = device_id(reading.device)
            self.paths.setdefault(device, reading.device)
            self.devices.setdefault(device, {})[reading.sensor] = (reading.value, reading.time_ns // 1_000_000)

    def data(self, readings: Sequence[Reading], now_ms: int, *, historical: bool = False) -> list[tuple[str, bytes]]:
        """DDATA per device for ``readings``; a device or metric seen for the first time is born
        (DBIRTH with every metric it has) before its data."""
        by_device: dict[str, list[Reading]] = {}
        for reading in readings:
            by_device.setdefault(device_id(reading.device), []).append(reading)
        messages: list[tuple[str, bytes]] = []
        for device, device_readings in by_device.items():
            path = device_readings[0].device
            if self.paths.setdefault(device, path) != path:
                raise ValueError(
                    f"devices {self.paths[device].sensor_id('*')} and {path.sensor_id('*')} share the Sparkplug"
                    f" device id {device!r}: device slugs must be unique within a plant"
                )
            known = self.devices.setdefault(device, {})
            new = {r.sensor for r in device_readings} - set(known)
            for reading in device_readings:
                known[reading.sensor] = (reading.value, reading.time_ns // 1_000_000)
            if new:
                messages.append(self._dbirth(device, now_ms))
            metrics = [_double(r.sensor, r.value, r.time_ns // 1_000_000, historical) for r in device_readings]
            messages.append(
                (topic(self.group, "DDATA", self.edge_node, device), _payload(now_ms, metrics, self._next_seq()))
            )
        return messages

    def is_rebirth_request(self, payload: bytes) -> bool:
        """True when an NCMD asks for ``Node Control/Rebirth``."""
        try:
            _, metrics, _ = decode_payload(payload)
        except ValueError:
            return False
        return any(m.name == REBIRTH_METRIC and m.value is True for m in metrics)
