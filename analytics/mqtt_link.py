"""The analytics service's one MQTT connection (aiomqtt), and an in-memory fake with the same shape.

``MqttLink`` subscribes to the plants' telemetry and gateway status, yields inbound messages from an
async iterator and publishes anomaly events with QoS 1. aiomqtt's errors become :class:`LinkLost`
here, once, so the service's supervisor knows what to retry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, Self
from urllib.parse import unquote, urlsplit

import aiomqtt

from ganlink.errors import ConfigError, GanlinkError
from ganlink.topics import ROOT

__all__ = [
    "AnalyticsLink",
    "InboundMessage",
    "LinkLost",
    "MemoryLink",
    "MqttLink",
    "subscriptions_for",
]

logger = logging.getLogger(__name__)


class LinkLost(GanlinkError):
    """The broker connection failed or dropped; the supervisor reconnects with backoff."""

    def __init__(self, url: str, detail: str) -> None:
        self.url = url
        super().__init__(f"MQTT link to {url} lost: {detail}")


@dataclass(frozen=True, slots=True)
class InboundMessage:
    topic: str
    payload: bytes


class AnalyticsLink(Protocol):
    """What the service needs from a broker: inbound telemetry/status, and a way to publish."""

    def inbound(self) -> AsyncIterator[InboundMessage]: ...

    async def publish(self, topic: str, payload: bytes) -> None: ...


def subscriptions_for(plant_ids: Sequence[str]) -> list[str]:
    """Telemetry and gateway-status filters of the given plants."""
    topics = []
    for plant in plant_ids:
        topics.append(f"{ROOT}/{plant}/+/+/+/telemetry")
        topics.append(f"{ROOT}/{plant}/_gateway/+/status")
    return topics


@dataclass
class _BrokerAddress:
    host: str
    port: int
    username: str | None
    password: str | None


def _parse_url(url: str) -> _BrokerAddress:
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise ConfigError(f"MQTT URL {url!r} must look like mqtt://[user:pass@]host:port")
    try:
        port = parts.port or 1883
    except ValueError as exc:
        raise ConfigError(f"MQTT URL {url!r}: {exc}") from None
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return _BrokerAddress(parts.hostname, port, username, password)


class MqttLink:
    """``async with MqttLink(url, identifier=..., topics=...) as link`` owns the connection.

    The session is persistent (clean_session off) so telemetry published while the service
    restarts waits at the broker (QoS 1) instead of being lost.
    """

    def __init__(
        self, url: str, *, identifier: str, topics: Sequence[str], username: str | None = None,
        password: str | None = None,
    ) -> None:
        address = _parse_url(url)
        self.url = url
        self._topics = list(topics)
        self._client = aiomqtt.Client(
            address.host,
            address.port,
            username=username or address.username,
            password=password or address.password,
            identifier=identifier,
            clean_session=False,
            keepalive=30,
            protocol=aiomqtt.ProtocolVersion.V311,
        )
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Self:
        try:
            await self._stack.enter_async_context(self._client)
            for topic in self._topics:
                await self._client.subscribe(topic, qos=1)
        except aiomqtt.MqttError as exc:
            await self._stack.aclose()
            raise LinkLost(self.url, str(exc)) from exc
        logger.info("analytics connected to %s, %d subscription(s)", self.url, len(self._topics))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self._stack.aclose()
        except aiomqtt.MqttError as error:
            logger.warning("MQTT disconnect from %s was not clean: %s", self.url, error)

    async def inbound(self) -> AsyncIterator[InboundMessage]:
        try:
            async for message in self._client.messages:
                payload = message.payload
                if isinstance(payload, str):
                    payload = payload.encode()
                elif not isinstance(payload, (bytes, bytearray)):
                    payload = b""
                yield InboundMessage(message.topic.value, bytes(payload))
        except aiomqtt.MqttError as exc:
            raise LinkLost(self.url, str(exc)) from exc

    async def publish(self, topic: str, payload: bytes) -> None:
        try:
            await self._client.publish(topic, payload, qos=1)
        except aiomqtt.MqttError as exc:
            raise LinkLost(self.url, str(exc)) from exc


@dataclass
class MemoryLink:
    """In-memory fake: tests put inbound messages on ``incoming`` and read ``published``."""

    incoming: asyncio.Queue[InboundMessage] = field(default_factory=asyncio.Queue)
    published: list[InboundMessage] = field(default_factory=list)

    async def inbound(self) -> AsyncIterator[InboundMessage]:
        while True:
            yield await self.incoming.get()

    async def publish(self, topic: str, payload: bytes) -> None:
        self.published.append(InboundMessage(topic, payload))
