"""The demo's in-process MQTT broker (amqtt, MQTT 3.1.1), so `ganlink demo` needs no server.

Production uses Mosquitto (or an EMQX/HiveMQ cluster); this broker is sized for a demo
(~1.3k QoS 1 messages/s measured here with paho clients).
"""

from __future__ import annotations

import logging
from types import TracebackType

from amqtt.broker import Broker

__all__ = ["EmbeddedBroker"]


class EmbeddedBroker:
    """``async with EmbeddedBroker(port) as broker:`` serves MQTT on 127.0.0.1:port."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self._broker: Broker | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    async def __aenter__(self) -> EmbeddedBroker:
        # amqtt logs every connection and packet at INFO; the demo's console is for the user.
        for noisy in ("amqtt", "transitions"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}", "max_connections": 100}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        self._broker = Broker(config)
        await self._broker.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
