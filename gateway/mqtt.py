"""The gateway's one MQTT connection (paho-mqtt 2.x lives only in this module).

paho runs its network loop in its own thread and reconnects by itself with capped backoff;
this module turns its callbacks into plain calls the owner hands in, and keeps the Will and
the retained status in one place.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from ganlink.errors import ConfigError

__all__ = ["MqttLink", "MqttSubscriber", "MqttUrl", "RetainedStatus", "SessionLink", "parse_mqtt_url"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MqttUrl:
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:  # never shows the password
        user = f"{self.username}@" if self.username else ""
        return f"mqtt://{user}{self.host}:{self.port}"


def parse_mqtt_url(url: str) -> MqttUrl:
    """Read ``mqtt://[user:pass@]host[:port]``; raises ConfigError naming what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise ConfigError(f"MQTT URL {url!r} must look like mqtt://host:port")
    try:
        port = parts.port or 1883
    except ValueError:
        raise ConfigError(f"MQTT URL {url!r} has an invalid port") from None
    return MqttUrl(
        parts.hostname,
        port,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
    )


@dataclass(frozen=True, slots=True)
class RetainedStatus:
    """The gateway's retained status topic: ``online()`` is built fresh on every connect."""

    topic: str
    online: Callable[[], bytes]
    offline: bytes


def _new_client(url: MqttUrl, client_id: str, *, clean_session: bool, max_in_flight: int = 20) -> paho.Client:
    """A paho client for ``url`` with the gateway's reconnect policy (1 s to 5 s)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session)
    if url.username:
        client.username_pw_set(url.username, url.password)
    client.max_inflight_messages_set(max_in_flight)
    client.reconnect_delay_set(min_delay=1, max_delay=5)
    return client


def _sever(client: paho.Client) -> None:
    """Cut the TCP connection without an MQTT DISCONNECT, as a crash or cable pull would."""
    sock = client.socket()
    if isinstance(sock, socket.socket):
        sock.shutdown(socket.SHUT_RDWR)


class MqttLink:
    """One persistent-session MQTT 3.1.1 connection publishing at QoS 1.

    ``on_ack(mid)`` runs in paho's thread when the broker acknowledges a publish (PUBACK);
    ``on_state(connected)`` runs there on every connect and disconnect.
    """

    def __init__(
        self,
        url: MqttUrl,
        *,
        client_id: str,
        status: RetainedStatus,
        on_ack: Callable[[int], None],
        on_state: Callable[[bool], None],
        max_in_flight: int = 1000,
        keepalive_s: int = 30,
    ) -> None:
        self.url = url
        self._status = status
        self._on_ack = on_ack
        self._on_state = on_state
        self._keepalive_s = keepalive_s
        self.connected = threading.Event()
        self._stopping = False
        client = _new_client(url, client_id, clean_session=False, max_in_flight=max_in_flight)
        client.will_set(status.topic, status.offline, qos=1, retain=True)
        client.max_queued_messages_set(0)
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_publish = self._published
        self._client = client

    def start(self) -> None:
        """Connect in the background; paho keeps reconnecting until :meth:`stop`."""
        self._client.connect_async(self.url.host, self.url.port, keepalive=self._keepalive_s)
        self._client.loop_start()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int:
        """Queue a QoS 1 publish (sent now if connected, else on reconnect); returns its message id."""
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN, paho.MQTT_ERR_QUEUE_SIZE):
            raise ConnectionError(f"MQTT publish to {self.url} failed: {paho.error_string(info.rc)}")
        return int(info.mid)

    def stop(self, *, offline_timeout_s: float = 2.0) -> None:
        """Publish the retained ``offline`` status (a clean exit sends no Will), then disconnect."""
        self._stopping = True
        if self.connected.is_set():
            info = self._client.publish(self._status.topic, self._status.offline, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=offline_timeout_s)
            except (RuntimeError, ValueError) as exc:
                log.warning("offline status not acknowledged by %s: %s", self.url, exc)
        self._client.disconnect()
        self._client.loop_stop()
        self.connected.clear()

    def sever(self) -> None:
        """Cut the TCP connection without an MQTT DISCONNECT, as a crash or cable pull would
        (the broker then publishes the Will); paho reconnects afterwards."""
        _sever(self._client)

    def _connected(
        self, client: paho.Client, userdata: object, flags: object, reason: object, properties: object
    ) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("MQTT broker %s refused the connection: %s", self.url, reason)
            return
        log.info("connected to MQTT broker %s", self.url)
        client.publish(self._status.topic, self._status.online(), qos=1, retain=True)
        self.connected.set()
        self._on_state(True)

    def _disconnected(
        self, client: paho.Client, userdata: object, flags: object, reason: object, properties: object
    ) -> None:
        if self.connected.is_set() and not self._stopping:
            log.warning("lost MQTT broker %s (%s); reconnecting", self.url, reason)
        self.connected.clear()
        self._on_state(False)

    def _published(self, client: paho.Client, userdata: object, mid: int, reason: object, properties: object) -> None:
        self._on_ack(mid)


class MqttSubscriber:
    """A plain subscriber (for MQTT field devices): each message's ``(topic, payload)`` goes to
    ``on_message`` from paho's thread; subscriptions are renewed on every reconnect."""

    def __init__(
        self,
        url: MqttUrl,
        *,
        client_id: str,
        topics: list[str],
        on_message: Callable[[str, bytes], None],
        qos: int = 1,
    ) -> None:
        self.url = url
        self._topics = topics
        self._qos = qos
        self._on_message = on_message
        self.connected = threading.Event()
        client = _new_client(url, client_id, clean_session=False)
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_message = self._message
        self._client = client

    def start(self) -> None:
        self._client.connect_async(self.url.host, self.url.port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _connected(
        self, client: paho.Client, userdata: object, flags: object, reason: object, properties: object
    ) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("MQTT broker %s refused the device subscriber: %s", self.url, reason)
            return
        client.subscribe([(topic, self._qos) for topic in self._topics])
        self.connected.set()

    def _disconnected(
        self, client: paho.Client, userdata: object, flags: object, reason: object, properties: object
    ) -> None:
        self.connected.clear()

    def _message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        self._on_message(message.topic, bytes(message.payload))


class SessionLink:
    """A connection whose Will and first messages are rebuilt for every session (Sparkplug B: the
    NDEATH Will and the NBIRTH carry the session's bdSeq). ``will()`` runs before each connect,
    ``on_session()`` right after it; ``on_message`` gets the subscribed topics' messages."""

    def __init__(
        self,
        url: MqttUrl,
        *,
        client_id: str,
        will: Callable[[], tuple[str, bytes]],
        on_session: Callable[[], list[tuple[str, bytes]]],
        on_ended: Callable[[], None],
        subscriptions: list[str],
        on_message: Callable[[str, bytes], None],
    ) -> None:
        self.url = url
        self._will = will
        self._on_session = on_session
        self._on_ended = on_ended
        self._subscriptions = subscriptions
        self._on_message = on_message
        self.connected = threading.Event()
        self._stopping = False
        client = _new_client(url, client_id, clean_session=True, max_in_flight=1000)
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_message = self._message
        self._client = client

    def _set_will(self) -> None:
        will_topic, payload = self._will()
        self._client.will_set(will_topic, payload, qos=1, retain=False)

    def start(self) -> None:
        self._set_will()
        self._client.connect_async(self.url.host, self.url.port, keepalive=30)
        self._client.loop_start()

    def publish(self, topic: str, payload: bytes, *, qos: int = 0) -> None:
        info = self._client.publish(topic, payload, qos=qos)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            raise ConnectionError(f"MQTT publish to {self.url} failed: {paho.error_string(info.rc)}")

    def publish_now(self, messages: list[tuple[str, bytes]]) -> None:
        for topic, payload in messages:
            self.publish(topic, payload)

    def stop(self, *, goodbye: tuple[str, bytes] | None = None) -> None:
        """Disconnect; ``goodbye`` (the NDEATH) is published first, since a clean exit sends no Will."""
        self._stopping = True
        if goodbye is not None and self.connected.is_set():
            info = self._client.publish(goodbye[0], goodbye[1], qos=1)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=2)
        self._client.disconnect()
        self._client.loop_stop()
        self.connected.clear()

    def sever(self) -> None:
        """Cut the TCP connection without DISCONNECT (the broker then publishes the Will)."""
        _sever(self._client)

    def _connected(
        self, client: paho.Client, userdata: object, flags: object, reason: object, properties: object
    ) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("MQTT broker %s refused the connection: %s", self.url, reason)
            return
        if self._subscriptions:
            client.subscribe([(topic, 1) for topic in self._subscriptions])
        for topic, payload in self._on_session():
            client.publish(topic, payload, qos=0)
        self.connected.set()

    def _disconnected(
        self, client: paho.Client, userdata: object, flags: object, reason: object, properties: object
    ) -> None:
        self.connected.clear()
        if not self._stopping:
            log.warning("lost MQTT broker %s (%s); reconnecting", self.url, reason)
            self._on_ended()
            self._set_will()  # the next session's Will

    def _message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        self._on_message(message.topic, bytes(message.payload))
