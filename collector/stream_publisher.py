"""A lean MQTT 3.1.1 QoS 1 publisher for the ingest benchmark's load generator.

paho spends ~80 us of Python per QoS 1 publish (message objects, a wake-up of its network thread,
one send per packet, three reads per PUBACK); on a 2-core machine that load generator took the
CPU the collector is measured with. This one writes pre-built PUBLISH packets in large writes, keeps
up to ``window`` unacknowledged, and counts PUBACKs off the socket in bulk. Test tooling only: no
reconnect, no session (the fault tests publish with :class:`collector.loadgen.Publisher`).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable

__all__ = ["StreamPublisher"]

_CONNECT, _CONNACK, _PUBLISH_QOS1, _PUBACK, _DISCONNECT = 0x10, 0x20, 0x32, 0x40, 0xE0
_PUBACK_SIZE = 4
_WRITE_CHUNK = 64 * 1024


def _remaining_length(length: int) -> bytes:
    encoded = bytearray()
    while True:
        length, digit = divmod(length, 128)
        encoded.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(encoded)


def _packet(header: int, body: bytes) -> bytes:
    return bytes([header]) + _remaining_length(len(body)) + body


def _utf8(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def publish_packet(topic: str, payload: bytes, mid: int) -> bytes:
    """One QoS 1 PUBLISH packet."""
    return _packet(_PUBLISH_QOS1, _utf8(topic) + struct.pack("!H", mid) + payload)


class StreamPublisher:
    """Publishes at QoS 1 over one clean-session connection; ``publish_all`` returns once all are acked."""

    def __init__(self, host: str, port: int, *, client_id: str = "", window: int = 1000, timeout_s: float = 30.0):
        if not 1 <= window <= 65_000:
            raise ValueError("window must be within 1..65000")
        self._window = window
        self._socket = socket.create_connection((host, port), timeout=timeout_s)
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # protocol "MQTT" level 4, clean session, keepalive off (we write all the time)
        connect = _utf8("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 0) + _utf8(client_id)
        self._socket.sendall(_packet(_CONNECT, connect))
        connack = self._read_exactly(4)
        if connack[0] != _CONNACK or connack[3] != 0:
            self._socket.close()
            raise ConnectionError(f"broker {host}:{port} refused the connection: CONNACK {connack.hex()}")
        self._unacked = 0
        self._partial = b""

    def _read_exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self._socket.recv(size - len(data))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            data += chunk
        return data

    def _read_acks(self) -> None:
        """Block for at least one PUBACK, then count every one already received."""
        data = self._partial + self._socket.recv(256 * 1024)
        if len(data) == len(self._partial):
            raise ConnectionError("broker closed the connection")
        whole = len(data) - len(data) % _PUBACK_SIZE
        if data[0:whole:_PUBACK_SIZE].count(_PUBACK) != whole // _PUBACK_SIZE:
            raise ConnectionError(f"expected only PUBACKs from the broker, got {data[:16].hex()}...")
        self._unacked -= whole // _PUBACK_SIZE
        self._partial = data[whole:]

    def publish_all(self, messages: Iterable[tuple[str, bytes]], *, immediate: bool = False) -> int:
        """Publish every (topic, payload) in order; returns how many, once the broker acked them all.

        Packets are written in chunks of ~64 KiB; ``immediate`` writes each at once (paced traffic).
        """
        published, mid, pending = 0, 0, []
        pending_bytes = 0
        for topic, payload in messages:
            mid = mid % 65_535 + 1
            packet = publish_packet(topic, payload, mid)
            pending.append(packet)
            pending_bytes += len(packet)
            published += 1
            self._unacked += 1
            if immediate or pending_bytes >= _WRITE_CHUNK or self._unacked >= self._window:
                self._socket.sendall(b"".join(pending))
                pending, pending_bytes = [], 0
            while self._unacked >= self._window:
                self._read_acks()
        if pending:
            self._socket.sendall(b"".join(pending))
        while self._unacked > 0:
            self._read_acks()
        return published

    def close(self) -> None:
        try:
            self._socket.sendall(_packet(_DISCONNECT, b""))
        finally:
            self._socket.close()
