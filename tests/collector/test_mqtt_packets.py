"""The collector's packet reader: whole MQTT packets taken off the read-ahead buffer, however the
bytes arrive, and which PUBLISH packets take the short path to the intake (the rest go to paho)."""

from __future__ import annotations

import struct
from collections import deque

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector.mqtt_source import _Client, _ReadAheadSocket
from collector.stream_publisher import publish_packet


class TrickleSocket:
    """Hands out the given chunks one recv at a time, then would block."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = deque(chunks)

    def recv(self, size: int) -> bytes:
        if not self.chunks:
            raise BlockingIOError
        chunk = self.chunks.popleft()
        if len(chunk) > size:
            self.chunks.appendleft(chunk[size:])
            chunk = chunk[:size]
        return chunk


def _take_all(sock: _ReadAheadSocket) -> list[tuple[int, bytes]]:
    packets = []
    while True:
        packet = sock.next_packet()
        if packet is not None:
            packets.append(packet)
            continue
        try:
            sock.fill()
        except BlockingIOError:
            return packets


def _publish_v5(topic: str, payload: bytes, mid: int, properties: bytes = b"") -> bytes:
    body = struct.pack("!H", len(topic)) + topic.encode() + struct.pack("!H", mid)
    body += bytes([len(properties)]) + properties + payload
    length = len(body)
    encoded = bytearray()
    while True:
        length, digit = divmod(length, 128)
        encoded.append(digit | (0x80 if length else 0))
        if not length:
            break
    return bytes([0x32]) + bytes(encoded) + body


TOPIC = "ganlink/v1/p/a/l/d/telemetry"


@pytest.mark.parametrize("cut", [1, 2, 3, 7, 100, 1 << 20])
def test_whole_packets_come_out_however_the_bytes_are_cut(cut: int) -> None:
    payloads = [b"x" * size for size in (0, 1, 126, 127, 128, 16_383, 16_384, 200_000)]
    stream = b"".join(publish_packet(TOPIC, p, mid + 1) for mid, p in enumerate(payloads))
    sock = _ReadAheadSocket(TrickleSocket([stream[i : i + cut] for i in range(0, len(stream), cut)]))
    expected = [
        (0x32, struct.pack("!H", len(TOPIC)) + TOPIC.encode() + struct.pack("!H", mid + 1) + p)
        for mid, p in enumerate(payloads)
    ]
    assert _take_all(sock) == expected
    assert sock.pending() == 0


def test_paho_reads_on_where_the_packet_reader_stopped() -> None:
    first = publish_packet(TOPIC, b"one", 1)
    second = publish_packet(TOPIC, b"two", 2)
    sock = _ReadAheadSocket(TrickleSocket([first + second]))
    sock.fill()
    assert sock.next_packet() is not None
    assert sock.recv(1) == second[:1]  # paho's own reader: type byte, then length, then body
    assert sock.recv(1) == second[1:2]
    assert sock.recv(len(second) - 2) == second[2:]


def test_a_remaining_length_over_four_bytes_is_refused() -> None:
    sock = _ReadAheadSocket(TrickleSocket([bytes([0x32, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])]))
    sock.fill()
    with pytest.raises(ValueError, match="four bytes"):
        sock.next_packet()


def _client(protocol: int) -> _Client:
    return _Client(CallbackAPIVersion.VERSION2, protocol=protocol, manual_ack=True)


def test_a_telemetry_publish_without_properties_takes_the_short_path() -> None:
    packet = _publish_v5("ganlink/v1/p/a/l/d/telemetry", b'{"v":1}', 513)
    assert _client(paho.MQTTv5)._telemetry_publish(packet[2:]) == ("ganlink/v1/p/a/l/d/telemetry", 513, b'{"v":1}')
    v311 = publish_packet("ganlink/v1/p/a/l/d/telemetry", b'{"v":1}', 7)
    assert _client(paho.MQTTv311)._telemetry_publish(v311[2:]) == ("ganlink/v1/p/a/l/d/telemetry", 7, b'{"v":1}')


@pytest.mark.parametrize(
    "packet",
    [
        _publish_v5("ganlink/v1/p/a/l/d/telemetry", b"{}", 1, properties=b"\x01\x01"),  # payload format
        _publish_v5("ganlink/v1/p/a/l/d/anomaly", b"{}", 1),
        _publish_v5("spBv1.0/g/DDATA/n/d", b"\x00", 1),
        _publish_v5("ganlink/v1/p/\xff/l/d/telemetry".encode("latin-1").decode("utf-8", "replace"), b"{}", 1),
    ],
)
def test_other_publishes_are_left_to_paho(packet: bytes) -> None:
    assert _client(paho.MQTTv5)._telemetry_publish(packet[2:]) is None


def test_a_short_publish_is_left_to_paho() -> None:
    body = struct.pack("!H", 28) + b"ganlink/v1/p/a/l/d/telemetry"  # no packet id
    assert _client(paho.MQTTv5)._telemetry_publish(body) is None
