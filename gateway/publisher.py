"""Publishing readings as telemetry messages: one message per device per batch, a per-gateway
``seq`` per message, QoS 1, and a way to wait until the broker has acknowledged everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ganlink import __version__
from ganlink.schema import PAYLOAD_VERSION, Reading, encode_telemetry
from ganlink.timestamps import format_rfc3339, now_ns
from ganlink.topics import DevicePath, gateway_status_topic, is_slug
from gateway.mqtt import MqttLink, RetainedStatus, parse_mqtt_url

__all__ = [
    "GatewayPublisher",
    "OutgoingMessage",
    "StatusFields",
    "group_by_device",
    "mark_historical",
    "status_payload",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One telemetry message ready to go: its seq, topic, payload and how many readings it carries."""

    seq: int
    topic: str
    payload: bytes
    reading_count: int
    oldest_ns: int = 0


def group_by_device(readings: Iterable[Reading], max_per_message: int) -> list[list[Reading]]:
    """Split readings into per-device chunks (order kept within a device, devices in order of
    first appearance), at most ``max_per_message`` readings each."""
    if max_per_message < 1:
        raise ValueError(f"max_per_message must be at least 1, got {max_per_message}")
    by_device: dict[DevicePath, list[Reading]] = {}
    for reading in readings:
        by_device.setdefault(reading.device, []).append(reading)
    return [
        device_readings[i : i + max_per_message]
        for device_readings in by_device.values()
        for i in range(0, len(device_readings), max_per_message)
    ]


_ENVELOPE_START = b'{"v":%d,' % PAYLOAD_VERSION


def mark_historical(message: OutgoingMessage) -> OutgoingMessage:
    """The same message flagged ``"historical": true`` (replayed from the outbox after an outage);
    collectors ignore the field, dashboards and ledgers may use it."""
    payload = message.payload
    if not payload.startswith(_ENVELOPE_START):
        raise ValueError(f"message seq {message.seq} does not start like an encoded telemetry payload")
    if payload.startswith(_ENVELOPE_START + b'"historical":true'):
        return message
    flagged = _ENVELOPE_START + b'"historical":true,' + payload[len(_ENVELOPE_START) :]
    return OutgoingMessage(message.seq, message.topic, flagged, message.reading_count, message.oldest_ns)


# Outbox fields of the status document: depth (readings buffered), oldest_age_s, hours_left (until
# the outbox is full at the current rate), backfilling (a backlog is being replayed), drops (readings
# dropped because the outbox was full, since it was created).
StatusFields = dict[str, float | int | bool | None]


def status_payload(
    gateway: str, plant: str, status: str, *, since_ns: int | None = None, outbox: StatusFields | None = None
) -> bytes:
    """The retained gateway status document (``online`` on connect and every ``status_every_s``,
    ``offline`` as the Will); ``outbox`` adds the outbox fields under ``"outbox"``."""
    body: dict[str, object] = {
        "v": PAYLOAD_VERSION,
        "gateway": gateway,
        "plant": plant,
        "status": status,
        "ts": format_rfc3339(now_ns()),
        "software": f"ganlink {__version__}",
    }
    if since_ns is not None:
        body["since"] = format_rfc3339(since_ns)
    if outbox is not None:
        body["outbox"] = outbox
    return json.dumps(body, separators=(",", ":")).encode()


class GatewayPublisher:
    """Publishes readings for one gateway of one plant and tracks the broker's acknowledgements.

    Use as ``async with GatewayPublisher(...) as publisher: await publisher.publish(readings)``;
    ``publish`` returns once every message it sent has been acknowledged (PUBACK).
    """

    def __init__(
        self,
        *,
        gateway: str,
        plant: str,
        mqtt_url: str,
        client_id: str | None = None,
        first_seq: int = 0,
        max_readings_per_message: int = 500,
        max_in_flight: int = 1000,
        on_acked: Callable[[OutgoingMessage], None] | None = None,
        on_connection: Callable[[bool], None] | None = None,
        status_every_s: float = 15.0,
    ) -> None:
        if not (is_slug(gateway) and is_slug(plant)):
            raise ValueError(f"gateway {gateway!r} and plant {plant!r} must be slug ids")
        if first_seq < 0:
            raise ValueError(f"first_seq must be non-negative, got {first_seq}")
        self.gateway = gateway
        self.plant = plant
        self.max_readings_per_message = max_readings_per_message
        self._next_seq = first_seq
        self._started_ns = now_ns()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[int, OutgoingMessage] = {}
        self.in_flight_seqs: set[int] = set()
        self._acks_lock = threading.Lock()
        self._acks_waiting: list[int] = []
        self._acks_scheduled = False
        self.on_acked = on_acked
        self.on_connection = on_connection
        self._all_acked = asyncio.Event()
        self._all_acked.set()
        self._connected = asyncio.Event()
        self._acked_some = asyncio.Event()
        self.messages_sent = 0
        self.messages_acked = 0
        self.readings_acked = 0
        self.last_acked_seq: int | None = None
        # Set by the store-and-forward driver; read on the event loop only (the outbox is not thread-safe).
        self.status_fields: Callable[[], StatusFields] | None = None
        self.status_every_s = status_every_s
        self._status_outbox: StatusFields | None = None  # the last fields read, also used on reconnect
        self._status_task: asyncio.Task[None] | None = None
        self.status_topic = gateway_status_topic(plant, gateway)
        status = RetainedStatus(
            self.status_topic,
            online=self._online_status,
            offline=status_payload(gateway, plant, "offline"),
        )
        self.link = MqttLink(
            parse_mqtt_url(mqtt_url),
            client_id=client_id or f"ganlink-{gateway}",
            status=status,
            on_ack=self._ack_from_network,
            on_state=self._state_from_network,
            max_in_flight=max_in_flight,
        )

    @property
    def next_seq(self) -> int:
        return self._next_seq

    @next_seq.setter
    def next_seq(self, value: int) -> None:
        if value < self._next_seq:
            raise ValueError(f"seq never goes back: {value} < {self._next_seq}")
        self._next_seq = value

    @property
    def in_flight(self) -> int:
        """Messages sent (or queued for sending) and not yet acknowledged."""
        return len(self._pending)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def _online_status(self) -> bytes:
        return status_payload(self.gateway, self.plant, "online", since_ns=self._started_ns, outbox=self._status_outbox)

    def read_status_fields(self) -> bool:
        """Read the outbox fields (when there is an outbox); True when what the dashboard shows as the
        gateway's state (backfilling, drops) changed since the last read."""
        if self.status_fields is None:
            return False
        fields, before = self.status_fields(), self._status_outbox or {}
        self._status_outbox = fields
        return any(fields.get(key) != before.get(key) for key in ("backfilling", "drops"))

    def publish_status(self) -> None:
        """Publish the retained ``online`` status now (when connected), with the last outbox fields."""
        if self.connected:
            self.link.publish(self.status_topic, self._online_status(), retain=True)

    async def _republish_status(self, poll_s: float = 1.0) -> None:
        """Keep the retained status fresh: every ``status_every_s``, and within ``poll_s`` of a change."""
        loop = asyncio.get_running_loop()
        due = loop.time() + self.status_every_s
        while True:
            await asyncio.sleep(poll_s)
            changed = self.read_status_fields()
            if changed or loop.time() >= due:
                self.publish_status()
                due = loop.time() + self.status_every_s

    async def start(self, *, timeout_s: float | None = 10.0) -> None:
        """Connect; waits for the first CONNACK unless ``timeout_s`` is None (then publishes queue)."""
        self._loop = asyncio.get_running_loop()
        self.read_status_fields()
        self.link.start()
        self._status_task = asyncio.create_task(self._republish_status(), name=f"status-{self.gateway}")
        if timeout_s is not None:
            try:
                await asyncio.wait_for(self._connected.wait(), timeout_s)
            except TimeoutError:
                self._status_task.cancel()
                self.link.stop()
                raise ConnectionError(f"no MQTT connection to {self.link.url} within {timeout_s:.0f}s") from None

    async def stop(self) -> None:
        """Publish ``offline``, disconnect, stop paho's thread; unacknowledged messages are dropped
        here (the outbox, not this class, keeps them across restarts)."""
        if self._status_task is not None:
            self._status_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._status_task
            self._status_task = None
        await asyncio.to_thread(self.link.stop)

    async def __aenter__(self) -> GatewayPublisher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def build_messages(self, readings: Iterable[Reading]) -> list[OutgoingMessage]:
        """Turn readings into telemetry messages, taking the next seq numbers."""
        messages = []
        for chunk in group_by_device(readings, self.max_readings_per_message):
            payload = encode_telemetry(self.gateway, self._next_seq, chunk)
            topic = chunk[0].device.telemetry_topic
            oldest = min(r.time_ns for r in chunk)
            messages.append(OutgoingMessage(self._next_seq, topic, payload, len(chunk), oldest))
            self._next_seq += 1
        return messages

    def send(self, messages: Sequence[OutgoingMessage]) -> None:
        """Hand messages to the MQTT link (QoS 1) in order; acknowledgements arrive later."""
        if self._loop is None:
            raise RuntimeError("GatewayPublisher.start() must run before publishing")
        for message in messages:
            mid = self.link.publish(message.topic, message.payload)
            self._pending[mid] = message
            self.in_flight_seqs.add(message.seq)
            self.messages_sent += 1
        if self._pending:
            self._all_acked.clear()

    def publish_nowait(self, readings: Iterable[Reading]) -> list[OutgoingMessage]:
        """Build and send messages for ``readings`` without waiting for acknowledgement."""
        messages = self.build_messages(readings)
        self.send(messages)
        return messages

    async def publish(self, readings: Iterable[Reading], *, timeout_s: float | None = None) -> list[OutgoingMessage]:
        """Publish readings and return once the broker acknowledged every message in flight."""
        messages = self.publish_nowait(readings)
        await self.wait_acked(timeout_s=timeout_s)
        return messages

    async def wait_in_flight_at_most(self, limit: int) -> None:
        """Back-pressure for producers that can wait: until at most ``limit`` messages are in flight."""
        while len(self._pending) > limit:
            self._acked_some.clear()
            await self._acked_some.wait()

    async def wait_acked(self, *, timeout_s: float | None = None) -> None:
        """Wait until nothing is in flight; raises TimeoutError after ``timeout_s``."""
        await asyncio.wait_for(self._all_acked.wait(), timeout_s)

    def _ack_from_network(self, mid: int) -> None:
        # batch acknowledgements: one loop wake-up per burst instead of one per PUBACK
        with self._acks_lock:
            self._acks_waiting.append(mid)
            if self._acks_scheduled:
                return
            self._acks_scheduled = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._drain_acks)

    def _drain_acks(self) -> None:
        with self._acks_lock:
            mids, self._acks_waiting = self._acks_waiting, []
            self._acks_scheduled = False
        for mid in mids:
            self._ack(mid)

    def _state_from_network(self, connected: bool) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._connection_changed, connected)

    def _connection_changed(self, connected: bool) -> None:
        if connected:
            self._connected.set()
        else:
            self._connected.clear()
        if self.on_connection is not None:
            self.on_connection(connected)

    def _ack(self, mid: int) -> None:
        message = self._pending.pop(mid, None)
        if message is None:  # the retained status, or a late duplicate
            return
        self.messages_acked += 1
        self._acked_some.set()
        self.readings_acked += message.reading_count
        self.last_acked_seq = message.seq
        self.in_flight_seqs.discard(message.seq)
        if self.on_acked is not None:
            self.on_acked(message)
        if not self._pending:
            self._all_acked.set()
