"""Sparkplug B 3.0 payloads: a hand-written protobuf codec for the ``Payload`` and ``Metric`` messages.

The wire format is a shared contract: the gateway may speak it as an edge node and the collector
must accept it. Sparkplug needs only varints, fixed32/64 and length-delimited fields, so neither
service needs a protobuf runtime. Fields of Eclipse Tahu's ``sparkplug_b.proto`` handled here:

    Payload { 1 timestamp: uint64, 2 metrics: repeated Metric, 3 seq: uint64 }
    Metric  { 1 name: string, 2 alias: uint64, 3 timestamp: uint64, 4 datatype: uint32,
              5 is_historical: bool, 7 is_null: bool, 10 int_value: uint32, 11 long_value: uint64,
              12 float_value: float, 13 double_value: double, 14 boolean_value: bool,
              15 string_value: string, 16 bytes_value: bytes }

DataSet, Template and extension values are skipped when decoding. Pure: no I/O.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "BDSEQ_METRIC",
    "DATATYPE_BOOLEAN",
    "DATATYPE_DOUBLE",
    "DATATYPE_FLOAT",
    "DATATYPE_UINT64",
    "NAMESPACE",
    "REBIRTH_METRIC",
    "Metric",
    "MetricValue",
    "SparkplugPayload",
    "decode_payload",
    "encode_payload",
]

NAMESPACE = "spBv1.0"
REBIRTH_METRIC = "Node Control/Rebirth"
BDSEQ_METRIC = "bdSeq"
DATATYPE_UINT64 = 8
DATATYPE_FLOAT = 9
DATATYPE_DOUBLE = 10
DATATYPE_BOOLEAN = 11
_DATATYPE_DATETIME = 13
_SIGNED_BITS = {1: 8, 2: 16, 3: 32, 4: 64}  # Int8, Int16, Int32, Int64
_LONG_TYPES = (4, DATATYPE_UINT64, _DATATYPE_DATETIME)  # Int64, UInt64, DateTime: long_value
_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5

MetricValue = float | int | bool | str | bytes | None


@dataclass(frozen=True, slots=True)
class Metric:
    """One Sparkplug metric (value a Python number/bool/str/bytes, or None)."""

    name: str | None = None
    alias: int | None = None
    timestamp_ms: int | None = None
    datatype: int | None = None
    value: MetricValue = None
    is_null: bool = False
    is_historical: bool = False


class SparkplugPayload(NamedTuple):
    """A payload; unpacks as ``(timestamp_ms, metrics, seq)`` (seq None for NDEATH and NCMD)."""

    timestamp_ms: int | None
    metrics: list[Metric]
    seq: int | None


def _fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of a protobuf message; raises ValueError when malformed."""
    position, end = 0, len(data)
    while position < end:
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, position = _varint(data, position)
            yield number, wire, value
        elif wire == _FIXED64:
            yield number, wire, data[position : position + 8]
            position += 8
        elif wire == _FIXED32:
            yield number, wire, data[position : position + 4]
            position += 4
        elif wire == _LENGTH:
            size, position = _varint(data, position)
            if position + size > end:
                raise ValueError("length-delimited field runs past the end")
            yield number, wire, data[position : position + size]
            position += size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if position > end:
            raise ValueError("field runs past the end")


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _metric(data: bytes) -> Metric:
    name = alias = timestamp = datatype = None
    value: MetricValue = None
    is_null = is_historical = False
    for number, wire, raw in _fields(data):
        if number == 1 and isinstance(raw, bytes):
            name = raw.decode("utf-8")
        elif number == 2 and isinstance(raw, int):
            alias = raw
        elif number == 3 and isinstance(raw, int):
            timestamp = raw
        elif number == 4 and isinstance(raw, int):
            datatype = raw
        elif number == 5 and isinstance(raw, int):
            is_historical = bool(raw)
        elif number == 7 and isinstance(raw, int):
            is_null = bool(raw)
        elif number in (10, 11) and isinstance(raw, int):
            value = raw
        elif number == 12 and wire == _FIXED32 and isinstance(raw, bytes):
            value = struct.unpack("<f", raw)[0]
        elif number == 13 and wire == _FIXED64 and isinstance(raw, bytes):
            value = struct.unpack("<d", raw)[0]
        elif number == 14 and isinstance(raw, int):
            value = bool(raw)
        elif number == 15 and isinstance(raw, bytes):
            value = raw.decode("utf-8")
        elif number == 16 and isinstance(raw, bytes):
            value = raw
    if datatype in _SIGNED_BITS and isinstance(value, int) and not isinstance(value, bool):
        bits = _SIGNED_BITS[datatype]
        value &= (1 << bits) - 1  # some encoders sign-extend to 64 bits, some do not
        value = value - (1 << bits) if value >= 1 << (bits - 1) else value  # two's complement
    return Metric(name, alias, timestamp, datatype, value, is_null, is_historical)


def decode_payload(data: bytes) -> SparkplugPayload:
    """Decode a Sparkplug B payload; raises ValueError when the bytes are not one."""
    timestamp = seq = None
    metrics = []
    try:
        for number, _wire, raw in _fields(data):
            if number == 1 and isinstance(raw, int):
                timestamp = raw
            elif number == 2 and isinstance(raw, bytes):
                metrics.append(_metric(raw))
            elif number == 3 and isinstance(raw, int):
                seq = raw
    except (UnicodeDecodeError, struct.error) as exc:
        raise ValueError(str(exc)) from None
    return SparkplugPayload(timestamp, metrics, seq)


def _key(number: int, wire: int) -> bytes:
    return _encode_varint(number << 3 | wire)


def _encode_varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative ints as their 64-bit two's complement, as protobuf does
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length(number: int, data: bytes) -> bytes:
    return _key(number, _LENGTH) + _encode_varint(len(data)) + data


def _encode_metric(metric: Metric) -> bytes:
    out = bytearray()
    if metric.name is not None:
        out += _length(1, metric.name.encode())
    if metric.alias is not None:
        out += _key(2, _VARINT) + _encode_varint(metric.alias)
    if metric.timestamp_ms is not None:
        out += _key(3, _VARINT) + _encode_varint(metric.timestamp_ms)
    datatype = metric.datatype
    value = metric.value
    if datatype is not None:
        out += _key(4, _VARINT) + _encode_varint(datatype)
    if metric.is_historical:
        out += _key(5, _VARINT) + b"\x01"
    if metric.is_null:
        return bytes(out + _key(7, _VARINT) + b"\x01")
    if isinstance(value, bool):
        out += _key(14, _VARINT) + (b"\x01" if value else b"\x00")
    elif isinstance(value, int) and datatype in _LONG_TYPES:
        out += _key(11, _VARINT) + _encode_varint(value)
    elif isinstance(value, int):
        out += _key(10, _VARINT) + _encode_varint(value & 0xFFFFFFFF)  # int_value is a uint32
    elif isinstance(value, float) and datatype == DATATYPE_FLOAT:
        out += _key(12, _FIXED32) + struct.pack("<f", value)
    elif isinstance(value, float):
        out += _key(13, _FIXED64) + struct.pack("<d", value)
    elif isinstance(value, str):
        out += _length(15, value.encode())
    elif isinstance(value, bytes):
        out += _length(16, value)
    return bytes(out)


def encode_payload(payload: SparkplugPayload) -> bytes:
    """Encode a Sparkplug B payload (edge-node messages, rebirth requests, tests)."""
    out = bytearray()
    if payload.timestamp_ms is not None:
        out += _key(1, _VARINT) + _encode_varint(payload.timestamp_ms)
    for metric in payload.metrics:
        out += _length(2, _encode_metric(metric))
    if payload.seq is not None:
        out += _key(3, _VARINT) + _encode_varint(payload.seq)
    return bytes(out)
