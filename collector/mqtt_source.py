"""The one place that owns the collector's MQTT connection (paho-mqtt 2.x).

paho's network thread reads each message, validates it and appends it to the open batch, with no
hop to asyncio per message; acknowledgements are sent only when the writer says a batch is settled.
The session is persistent (fixed client id, clean start off) and the broker's in-flight window is
bounded (MQTT v5 Receive Maximum; with 3.1.1 the broker's own ``max_inflight_messages`` applies).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
import threading
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from collector.attribution import GatewayPlants
from collector.batching import BatchBuilder
from collector.config import CollectorConfig, MqttProtocol
from collector.dead_letter import DeadLetter
from collector.intake import read_message
from collector.ledger import AckLedger, AckToken, SequenceLedger
from collector.metrics import CollectorMetrics
from collector.sparkplug import SPARKPLUG_ROOT, SPARKPLUG_SUBSCRIPTIONS, DeviceAreas, SparkplugState
from ganlink.assets import bundled_plant_files
from ganlink.errors import GanlinkError
from ganlink.timestamps import now_ns
from ganlink.topics import ANOMALY_SUBSCRIPTION, STATUS_SUBSCRIPTION, TELEMETRY_SUBSCRIPTION, shared_subscription

__all__ = ["BrokerUnavailable", "MqttSource", "PublishReceipt", "broker_acknowledged"]

logger = logging.getLogger(__name__)

_PUBACK_HEADER = struct.Struct("!BBH")  # packet type, remaining length 2, packet id
_PUBLISH_QOS1 = 0x32  # PUBLISH, QoS 1, not retained (the DUP bit is masked off)
_TELEMETRY_SUFFIX = b"/telemetry"


class BrokerUnavailable(GanlinkError):
    """The MQTT broker could not be reached or refused us."""

    def __init__(self, message: str, *, host: str, port: int) -> None:
        super().__init__(f"{message} (broker {host}:{port})")


def broker_acknowledged(info: paho.MQTTMessageInfo) -> bool:
    """True once the broker acknowledged this publish.

    Not ``is_published()``: it raises for a message published while disconnected, even after paho
    has re-sent it on reconnect and the broker has acknowledged it.
    """
    return bool(info._published)


class _ReadAheadSocket:
    """The broker connection, read in 64 KiB chunks.

    paho reads each packet in three calls (its type byte, its length, its body), each a system call
    on a plain socket; here they are served from one read. ``pending`` tells paho's loop that data
    is buffered, so it reads on without waiting in select (the hook paho has for TLS sockets).
    :meth:`next_packet` and :meth:`fill` let :class:`_Client` take whole packets off the buffer.
    """

    _CHUNK = 64 * 1024

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._data = bytearray()  # appended to in place: a large packet arriving in pieces is not recopied
        self._position = 0

    def recv(self, size: int) -> bytes:
        if self._position >= len(self._data) and not self.fill():  # BlockingIOError when empty, as paho expects
            return b""
        position = self._position
        chunk = bytes(self._data[position : position + size])
        self._position = position + len(chunk)
        return chunk

    def next_packet(self) -> tuple[int, bytes] | None:
        """The next whole packet in the buffer, (first byte, rest after the length), and past it;
        None while it is not all buffered. ValueError for a remaining length over four bytes."""
        data, start = self._data, self._position
        end = len(data)
        at, length, shift = start + 1, 0, 0
        while True:
            if at >= end:
                return None
            byte = data[at]
            at += 1
            length |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            shift += 7
            if shift > 21:
                raise ValueError("remaining length longer than four bytes")
        if at + length > end:
            return None
        self._position = at + length
        return data[start], bytes(data[at : at + length])

    def fill(self) -> bool:
        """Append what the socket holds now to the buffer; False at end of stream.

        Raises BlockingIOError when nothing is there (and OSError as the socket does)."""
        more = self._sock.recv(self._CHUNK)
        if not more:
            return False
        if self._position:
            del self._data[: self._position]  # what was read already
            self._position = 0
        self._data += more
        return True

    def pending(self) -> int:
        return len(self._data) - self._position

    def send(self, buffer: bytes | bytearray) -> int:
        return int(self._sock.send(buffer))

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def fileno(self) -> int:
        return int(self._sock.fileno())

    def close(self) -> None:
        self._sock.close()


def _fresh_in_packet() -> Any:
    # paho's own reset of its packet reader (paho.mqtt.client.Client._packet_read)
    return {
        "command": 0,
        "have_remaining": 0,
        "remaining_count": [],
        "remaining_mult": 1,
        "remaining_length": 0,
        "packet": bytearray(b""),
        "to_process": 0,
        "pos": 0,
    }


class _Client(paho.Client):
    """paho's client on a read-ahead socket, with a short path for telemetry and a bounded hold.

    - Reading: whole packets are taken off the buffer, many per loop turn; a QoS 1 telemetry
      PUBLISH without properties goes straight to ``on_telemetry(topic, mid, payload)`` (no
      MQTTMessage, no callback matching); every other packet goes to paho's own handlers.
    - Holding: while ``holding()`` is true (as many unacknowledged messages held as the window
      allows) nothing more is read from the socket, so what the collector holds stays bounded even
      when the broker sends past the Receive Maximum (Mosquitto 2.0.11 does, see docs). ``room`` is
      set when acknowledgements free room.
    - Acknowledging: a batch's PUBACKs are queued as one write (paho's ``ack`` queues, writes and
      wakes its loop once per message).
    """

    _BURST = 1000  # packets per loop turn before paho writes acks and checks keepalive
    _HOLD_WAIT_S = 0.05

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_telemetry: Callable[[str, int, bytes], None] | None = None
        self.holding: Callable[[], bool] = lambda: False
        self.room = threading.Event()

    def _create_socket(self) -> Any:
        return _ReadAheadSocket(super()._create_socket())

    def awaiting_pubacks(self) -> bool:
        """True while a publish of ours (a dead letter, the Sparkplug state) waits for the broker's PUBACK."""
        return bool(self._out_messages)

    def ack_all(self, mids: Sequence[int]) -> None:
        """PUBACK each of ``mids`` (QoS 1, manual acks): the same packets ``ack`` sends, queued as one."""
        if mids:
            pubacks = b"".join([_PUBACK_HEADER.pack(paho.PUBACK, 2, mid) for mid in mids])
            self._packet_queue(paho.PUBACK, pubacks, 0, 0)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        sock = self._sock
        if not isinstance(sock, _ReadAheadSocket) or self._in_packet["command"]:
            return super().loop_read(max_packets)
        for _ in range(self._BURST):
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            if self.holding():
                self.room.clear()
                if self.holding():  # no ack came in between: wait for one (briefly, so paho writes and pings)
                    self.room.wait(self._HOLD_WAIT_S)
                return MQTTErrorCode.MQTT_ERR_SUCCESS
            try:
                packet = sock.next_packet()
            except ValueError:
                return self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_PROTOCOL)
            if packet is None:
                try:
                    if not sock.fill():
                        return super().loop_read(max_packets)  # end of stream: paho reports the lost connection
                except BlockingIOError:
                    return MQTTErrorCode.MQTT_ERR_SUCCESS
                except OSError:
                    return self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_CONN_LOST)
                with self._msgtime_mutex:
                    self._last_bytes_received = paho.time_func()
                continue
            rc = self._handle_whole_packet(*packet)
            if rc:
                return self._loop_rc_handle(rc)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _handle_whole_packet(self, first: int, body: bytes) -> MQTTErrorCode:
        on_telemetry = self.on_telemetry
        if first & 0xF7 == _PUBLISH_QOS1 and on_telemetry is not None:
            publish = self._telemetry_publish(body)
            if publish is not None:
                on_telemetry(*publish)
                return MQTTErrorCode.MQTT_ERR_SUCCESS
        packet = _fresh_in_packet()
        packet.update(command=first, have_remaining=1, remaining_length=len(body), packet=bytearray(body))
        self._in_packet = packet
        try:
            rc = self._packet_handle()
        except MalformedPacket as exc:
            self._easy_log(paho.MQTT_LOG_DEBUG, "Received malformed packet: %s", exc)
            rc = MQTTErrorCode.MQTT_ERR_PROTOCOL
        self._in_packet = _fresh_in_packet()
        return rc

    def _telemetry_publish(self, body: bytes) -> tuple[str, int, bytes] | None:
        """(topic, mid, payload) of a QoS 1 PUBLISH on a telemetry topic without properties, else None."""
        topic_end = 2 + int.from_bytes(body[:2], "big")
        start = topic_end + 2
        topic = body[2:topic_end]
        if not topic.endswith(_TELEMETRY_SUFFIX) or len(body) < start:
            return None
        if self._protocol == paho.MQTTv5:
            if body[start : start + 1] != b"\x00":  # properties (or a short packet): paho reads them
                return None
            start += 1
        try:
            text = topic.decode()
        except UnicodeDecodeError:
            return None
        return text, int.from_bytes(body[topic_end : topic_end + 2], "big"), body[start:]


class PublishReceipt:
    """Completion of a batch of QoS 1 publishes (dead letters)."""

    def __init__(self, infos: Sequence[paho.MQTTMessageInfo]) -> None:
        self._infos = list(infos)

    def done(self) -> bool:
        return all(map(broker_acknowledged, self._infos))

    async def wait(self, poll_s: float = 0.005) -> None:
        # paho offers no awaitable completion; polling a flag costs nothing next to a store write.
        while not self.done():  # noqa: ASYNC110
            await asyncio.sleep(poll_s)


class MqttSource:
    """Subscribes to telemetry and anomalies, feeds the batch builder, acks on request."""

    def __init__(
        self,
        config: CollectorConfig,
        *,
        builder: BatchBuilder,
        acks: AckLedger,
        sequences: SequenceLedger,
        metrics: CollectorMetrics,
        clock_ns: Callable[[], int] = now_ns,
        on_gateway_status: Callable[[str, bytes, bool], None] | None = None,
        gateway_plants: GatewayPlants | None = None,
    ) -> None:
        self._config = config
        # (topic, payload, retained) of gateway status messages, from paho's thread; None: not subscribed.
        self._on_gateway_status = on_gateway_status
        self._builder = builder
        self._acks = acks
        self._sequences = sequences
        self._metrics = metrics
        self._clock_ns = clock_ns
        self._connected = threading.Event()
        # Held while acking and while the connection changes, so no ack crosses onto a new connection.
        self._ack_lock = threading.Lock()
        self._subscribed = threading.Event()
        self._accepting = True
        plant_files = config.plant_files if config.plant_files is not None else tuple(bundled_plant_files())
        self._gateway_plants = gateway_plants or GatewayPlants.from_plant_files(plant_files)
        self._sparkplug = SparkplugState(DeviceAreas.from_plant_files(plant_files)) if config.sparkplug else None
        self._client = self._build_client()

    def _build_client(self) -> _Client:
        config = self._config
        v5 = config.protocol is MqttProtocol.V5
        client = _Client(
            CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        if config.mqtt_username:
            client.username_pw_set(config.mqtt_username, config.mqtt_password)
        if config.sparkplug:
            client.will_set(self._state_topic, self._state_body(online=False), qos=1, retain=True)
        client.max_inflight_messages_set(max(20, config.inflight_window // 10))
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_telemetry = self._on_telemetry
        client.holding = self._holding
        if self._on_gateway_status is not None:
            client.message_callback_add(STATUS_SUBSCRIPTION, self._on_status_message)
        return client

    @property
    def _state_topic(self) -> str:
        return f"{SPARKPLUG_ROOT}/STATE/{self._config.sparkplug_host_id}"

    @staticmethod
    def _state_body(*, online: bool) -> bytes:
        return json.dumps({"online": online, "timestamp": now_ns() // 1_000_000}).encode()

    @property
    def subscriptions(self) -> list[str]:
        filters = [TELEMETRY_SUBSCRIPTION]
        if self._config.subscribe_anomalies:
            filters.append(ANOMALY_SUBSCRIPTION)
        group = self._config.share_group
        shared = [shared_subscription(f, group) if group else f for f in filters]
        # Sparkplug births and aliases are per-collector state: never split across a share group.
        sparkplug = list(SPARKPLUG_SUBSCRIPTIONS) if self._config.sparkplug else []
        # Retained statuses are not delivered on shared subscriptions: each collector reads them all.
        status = [STATUS_SUBSCRIPTION] if self._on_gateway_status is not None else []
        return shared + sparkplug + status

    async def open(self, timeout_s: float = 15.0) -> None:
        """Connect, subscribe and start the network thread; raises BrokerUnavailable."""
        config = self._config
        properties = None
        if config.protocol is MqttProtocol.V5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.ReceiveMaximum = config.inflight_window
            properties.SessionExpiryInterval = config.session_expiry_s
        try:
            if config.protocol is MqttProtocol.V5:
                self._client.connect_async(
                    config.mqtt_host, config.mqtt_port, keepalive=30, clean_start=False, properties=properties
                )
            else:
                self._client.connect_async(config.mqtt_host, config.mqtt_port, keepalive=30)
        except (OSError, ValueError) as exc:
            raise BrokerUnavailable(str(exc), host=config.mqtt_host, port=config.mqtt_port) from exc
        self._client.loop_start()
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not self._subscribed.is_set():
            if asyncio.get_running_loop().time() > deadline:
                self._client.loop_stop()
                raise BrokerUnavailable(
                    f"not connected and subscribed after {timeout_s:.0f}s", host=config.mqtt_host, port=config.mqtt_port
                )
            await asyncio.sleep(0.02)
        logger.info("collector %s subscribed to %s", config.client_id, ", ".join(self.subscriptions))

    def stop_accepting(self) -> None:
        """Stop taking new messages; those arriving later stay unacknowledged and are re-sent."""
        self._accepting = False

    async def close(self) -> None:
        self._accepting = False
        if self._config.sparkplug and self._connected.is_set():
            # A graceful Sparkplug host says it is offline itself (the Will covers the rest).
            info = self._client.publish(self._state_topic, self._state_body(online=False), qos=1, retain=True)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(PublishReceipt([info]).wait(), 2.0)
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # -- paho network thread -------------------------------------------------------------------

    def _on_connect(self, client: paho.Client, _userdata: Any, flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            logger.warning("broker refused the connection: %s", reason)
            return
        with self._ack_lock:
            connection = self._acks.new_connection()
        self._connected.set()
        session = getattr(flags, "session_present", False)
        logger.info("connected to the broker (connection %d, session present: %s)", connection, session)
        if self._config.sparkplug:
            client.publish(self._state_topic, self._state_body(online=True), qos=1, retain=True)
        if session:
            # The broker kept our subscriptions and re-sends held messages ahead of the SUBACK; the
            # writer must run to take them (the window stops reading), so don't wait for the SUBACK.
            self._subscribed.set()
        # Statuses at QoS 0: the retained copy is re-sent on every subscribe, nothing to acknowledge.
        client.subscribe([(topic, 0 if topic == STATUS_SUBSCRIPTION else 1) for topic in self.subscriptions])

    def _on_subscribe(self, _client: paho.Client, _userdata: Any, _mid: int, reasons: Any, _props: Any) -> None:
        failures = [r for r in reasons if r.is_failure]
        if failures:
            logger.error("broker refused subscriptions %s: %s", self.subscriptions, failures)
            return
        self._subscribed.set()

    def _on_disconnect(self, _client: paho.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self._connected.clear()
        with self._ack_lock:
            # Messages of the lost connection are re-sent by the broker; none of them is acked now.
            self._acks.new_connection()
        self._client.room.set()
        if self._accepting:
            logger.warning("disconnected from the broker (%s); reconnecting", reason)

    def _holding(self) -> bool:
        """True while as many unacknowledged messages are held as the window allows: read no more.

        Except while a publish of ours waits for its PUBACK: that can only be read off the same
        stream, and the writer waits for it (dead letters) before it acknowledges anything.
        """
        return len(self._acks) >= self._config.inflight_window and not self._client.awaiting_pubacks()

    def _on_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        self._take(message.topic, bytes(message.payload), message.mid if message.qos > 0 else None)

    def _on_telemetry(self, topic: str, mid: int, payload: bytes) -> None:
        self._take(topic, payload, mid)

    def _take(self, topic: str, payload: bytes, mid: int | None) -> None:
        """Validate one message and add it to the open batch; ``mid`` None for QoS 0 (nothing to ack)."""
        if not self._accepting:
            return
        received = self._clock_ns()
        config = self._config
        intake = read_message(
            topic,
            payload,
            now_ns=received,
            max_skew_ns=config.max_skew_ns,
            max_payload_bytes=config.max_payload_bytes,
            gateway_plants=self._gateway_plants,
            sparkplug=self._sparkplug,
        )
        for command_topic, body in intake.commands:
            self._client.publish(command_topic, body, qos=0)
        metrics = self._metrics
        metrics.messages_received += 1
        metrics.readings_received += len(intake.readings)
        if intake.gateway is not None and intake.seq is not None:
            self._sequences.observe(intake.gateway, intake.seq)
        token = None
        if mid is not None:
            token = AckToken(self._acks.connection, mid)
            self._acks.register(token)
        self._builder.add(intake, token)

    def _on_status_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        if self._on_gateway_status is not None and self._accepting:
            self._on_gateway_status(message.topic, bytes(message.payload), bool(message.retain))

    # -- writer side ---------------------------------------------------------------------------

    def publish_dead_letters(self, dead_letters: Sequence[DeadLetter]) -> PublishReceipt:
        infos = [self._client.publish(d.publish_topic, d.encode(), qos=1) for d in dead_letters]
        return PublishReceipt(infos)

    def ack(self, tokens: Sequence[AckToken]) -> None:
        """Acknowledge settled messages; tokens of an earlier connection are skipped (re-sent anyway)."""
        with self._ack_lock:
            current = self._acks.connection
            self._client.ack_all([token.mid for token in tokens if token.connection == current])
        self._client.room.set()
