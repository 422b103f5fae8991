"""The gateway speaking Sparkplug B 3.0 as an edge node instead of the ganlink/v1 topics.

NBIRTH (+ DBIRTH per known device) on every session, NDEATH as the Will with the session's bdSeq,
DDATA per device per batch with seq 0-255, and a full rebirth when a host sends NCMD
``Node Control/Rebirth``. Births and data go at QoS 0 as the specification asks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from threading import Lock

from ganlink.schema import Reading
from ganlink.timestamps import now_ns
from gateway.mqtt import SessionLink, parse_mqtt_url
from gateway.sparkplug import EdgeNodeState, topic

__all__ = ["SparkplugPublisher"]

log = logging.getLogger(__name__)


def _now_ms() -> int:
    return now_ns() // 1_000_000


class SparkplugPublisher:
    """Publishes readings of one plant as Sparkplug edge node ``gateway`` in group ``plant``."""

    def __init__(self, *, gateway: str, plant: str, mqtt_url: str, client_id: str | None = None) -> None:
        self.state = EdgeNodeState(group=plant, edge_node=gateway)
        # paho's thread (births, rebirths) and the event loop (data) both advance seq
        self._lock = Lock()
        self.rebirths = 0
        self.link = SessionLink(
            parse_mqtt_url(mqtt_url),
            client_id=client_id or f"ganlink-spb-{gateway}",
            will=self._ndeath,
            on_session=self._births,
            on_ended=self._session_ended,
            subscriptions=[topic(plant, "NCMD", gateway)],
            on_message=self._command,
        )

    def _ndeath(self) -> tuple[str, bytes]:
        with self._lock:
            return self.state.ndeath(_now_ms())

    def _births(self) -> list[tuple[str, bytes]]:
        with self._lock:
            return self.state.births(_now_ms())

    def _session_ended(self) -> None:
        with self._lock:
            self.state.bd_seq = (self.state.bd_seq + 1) % 256

    def _command(self, command_topic: str, payload: bytes) -> None:
        with self._lock:
            wanted = self.state.is_rebirth_request(payload)
            births = self.state.births(_now_ms()) if wanted else []
        if wanted:
            self.rebirths += 1
            log.info("Sparkplug host asked %s for a rebirth", self.state.edge_node)
            self.link.publish_now(births)

    async def start(self, *, timeout_s: float | None = 10.0) -> None:
        self.link.start()
        if timeout_s is not None and not await asyncio.to_thread(self.link.connected.wait, timeout_s):
            self.link.stop()
            raise ConnectionError(f"no MQTT connection to {self.link.url} within {timeout_s:.0f}s")

    def publish_nowait(self, readings: Iterable[Reading], *, historical: bool = False) -> int:
        """DDATA (and DBIRTH for new devices/metrics) for ``readings``; returns messages sent."""
        batch = list(readings)
        if not batch:
            return 0
        with self._lock:
            if not self.link.connected.is_set():  # births are not out yet: only remember the values
                self.state.remember(batch)
                return 0
            messages = self.state.data(batch, _now_ms(), historical=historical)
        self.link.publish_now(messages)
        return len(messages)

    async def stop(self) -> None:
        """Publish NDEATH (a clean exit sends no Will) and disconnect."""
        await asyncio.to_thread(self.link.stop, goodbye=self._ndeath())
