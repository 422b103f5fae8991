"""Sparkplug B 3.0 as an edge node (pure: payload encoding, topics, sequence numbers; no I/O).

Mapping onto the asset tree: group id = plant, edge node id = gateway, device id = device slug
(unique within a plant; the host finds area and line in the plant files), metric name = sensor id,
every value a Double with its source time (births carry each metric's last value and its time).

The payload is protobuf (Eclipse Tahu ``sparkplug_b.proto``), encoded here by hand for the few
fields an edge node needs, so the gateway needs no protobuf runtime:

    Payload { 1 timestamp: uint64, 2 metrics: repeated Metric, 3 seq: uint64 }
    Metric  { 1 name: string, 3 timestamp: uint64, 4 datatype: uint32, 5 is_historical: bool,
              7 is_null: bool, 11 long_value: uint64, 13 double_value: double, 14 boolean_value: bool }
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ganlink.schema import Reading
from ganlink.topics import DevicePath

__all__ = [
    "DATATYPE_BOOLEAN",
    "DATATYPE_DOUBLE",
    "DATATYPE_UINT64",
    "NAMESPACE",
    "REBIRTH_METRIC",
    "EdgeNodeState",
    "Metric",
    "decode_payload",
    "device_id",
    "encode_payload",
    "topic",
]

NAMESPACE = "spBv1.0"
REBIRTH_METRIC = "Node Control/Rebirth"
BDSEQ_METRIC = "bdSeq"
DATATYPE_UINT64 = 8
DATATYPE_DOUBLE = 10
DATATYPE_BOOLEAN = 11


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    datatype: int
    value: float | int | bool | None
    timestamp_ms: int | None = None
    is_historical: bool = False


def _varint(value: int) -> bytes:
    if value < 0:
        raise ValueError(f"varint needs a non-negative value, got {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _encode_metric(metric: Metric) -> bytes:
    out = bytearray()
    name = metric.name.encode()
    out += _key(1, 2) + _varint(len(name)) + name
    if metric.timestamp_ms is not None:
        out += _key(3, 0) + _varint(metric.timestamp_ms)
    out += _key(4, 0) + _varint(metric.datatype)
    if metric.is_historical:
        out += _key(5, 0) + _varint(1)
    if metric.value is None:
        out += _key(7, 0) + _varint(1)
    elif metric.datatype == DATATYPE_DOUBLE:
        out += _key(13, 1) + struct.pack("<d", float(metric.value))
    elif metric.datatype == DATATYPE_BOOLEAN:
        out += _key(14, 0) + _varint(1 if metric.value else 0)
    elif metric.datatype == DATATYPE_UINT64:
        out += _key(11, 0) + _varint(int(metric.value))
    else:
        raise ValueError(f"metric {metric.name}: datatype {metric.datatype} is not one this edge node sends")
    return bytes(out)


def encode_payload(timestamp_ms: int, metrics: Sequence[Metric], seq: int | None) -> bytes:
    """A Sparkplug B payload (``seq`` None for NDEATH, which carries none)."""
    out = bytearray(_key(1, 0) + _varint(timestamp_ms))
    for metric in metrics:
        body = _encode_metric(metric)
        out += _key(2, 2) + _varint(len(body)) + body
    if seq is not None:
        out += _key(3, 0) + _varint(seq)
    return bytes(out)


def _fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of a protobuf message; raises ValueError when malformed."""
    position = 0
    while position < len(data):
        key, position = _read_varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, position = _read_varint(data, position)
            yield number, wire_type, value
        elif wire_type == 1:
            yield number, wire_type, data[position : position + 8]
            position += 8
        elif wire_type == 2:
            length, position = _read_varint(data, position)
            yield number, wire_type, data[position : position + length]
            position += length
        elif wire_type == 5:
            yield number, wire_type, data[position : position + 4]
            position += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}")
        if position > len(data):
            raise ValueError("truncated protobuf message")


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(data):
            raise ValueError("truncated varint")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7


def decode_payload(data: bytes) -> tuple[int | None, list[Metric], int | None]:
    """(timestamp, metrics, seq) of a payload; enough to read NCMD rebirth requests."""
    timestamp = seq = None
    metrics: list[Metric] = []
    for number, _, value in _fields(data):
        if number == 1 and isinstance(value, int):
            timestamp = value
        elif number == 3 and isinstance(value, int):
            seq = value
        elif number == 2 and isinstance(value, bytes):
            metrics.append(_decode_metric(value))
    return timestamp, metrics, seq


def _decode_metric(data: bytes) -> Metric:
    name, datatype, stamp, historical = "", 0, None, False
    metric_value: float | int | bool | None = None
    for number, _, value in _fields(data):
        if number == 1 and isinstance(value, bytes):
            name = value.decode()
        elif number == 3 and isinstance(value, int):
            stamp = value
        elif number == 4 and isinstance(value, int):
            datatype = value
        elif number == 5 and isinstance(value, int):
            historical = bool(value)
        elif number in (10, 11) and isinstance(value, int):
            metric_value = value
        elif number == 13 and isinstance(value, bytes):
            metric_value = struct.unpack("<d", value)[0]
        elif number == 12 and isinstance(value, bytes):
            metric_value = struct.unpack("<f", value)[0]
        elif number == 14 and isinstance(value, int):
            metric_value = bool(value)
    return Metric(name, datatype, metric_value, stamp, historical)


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
        metrics = [Metric(BDSEQ_METRIC, DATATYPE_UINT64, self.bd_seq)]
        return topic(self.group, "NDEATH", self.edge_node), encode_payload(now_ms, metrics, None)

    def births(self, now_ms: int) -> list[tuple[str, bytes]]:
        """NBIRTH (seq 0) then a DBIRTH for every known device: on connect and on rebirth."""
        self.seq = 0
        node_metrics = [
            Metric(BDSEQ_METRIC, DATATYPE_UINT64, self.bd_seq),
            Metric(REBIRTH_METRIC, DATATYPE_BOOLEAN, False),
        ]
        messages = [(topic(self.group, "NBIRTH", self.edge_node), encode_payload(now_ms, node_metrics, 0))]
        messages += [self._dbirth(device, now_ms) for device in self.devices]
        return messages

    def _dbirth(self, device: str, now_ms: int) -> tuple[str, bytes]:
        metrics = [
            Metric(name, DATATYPE_DOUBLE, value, stamp) for name, (value, stamp) in sorted(self.devices[device].items())
        ]
        return topic(self.group, "DBIRTH", self.edge_node, device), encode_payload(now_ms, metrics, self._next_seq())

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
            metrics = [
                Metric(r.sensor, DATATYPE_DOUBLE, r.value, r.time_ns // 1_000_000, historical) for r in device_readings
            ]
            messages.append(
                (topic(self.group, "DDATA", self.edge_node, device), encode_payload(now_ms, metrics, self._next_seq()))
            )
        return messages

    def is_rebirth_request(self, payload: bytes) -> bool:
        """True when an NCMD asks for ``Node Control/Rebirth``."""
        try:
            _, metrics, _ = decode_payload(payload)
        except (ValueError, UnicodeDecodeError, struct.error):
            return False
        return any(m.name == REBIRTH_METRIC and m.value is True for m in metrics)
