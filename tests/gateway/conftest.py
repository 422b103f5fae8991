"""Gateway test helpers: a plain paho subscriber that records what the broker delivers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion


class Listener:
    """A plain paho subscriber collecting every message it gets."""

    def __init__(self, url: str, topics: list[str], client_id: str | None = None) -> None:
        host, port = url.removeprefix("mqtt://").split(":")
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        # a named client keeps a persistent session (QoS 1 messages wait for it across broker restarts)
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"listener-{time.monotonic_ns()}",
            clean_session=client_id is None,
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.on_connect = lambda c, *_: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(host, int(port))
        self.client.loop_start()
        assert self._subscribed.wait(5)

    def _on_message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, message.payload, bool(message.retain)))

    def snapshot(self) -> list[tuple[str, bytes, bool]]:
        with self._lock:
            return list(self.messages)

    def wait_for(self, predicate: object, timeout_s: float = 10.0) -> list[tuple[str, bytes, bool]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            got = self.snapshot()
            if predicate(got):  # type: ignore[operator]
                return got
            time.sleep(0.02)
        raise AssertionError(f"condition not met in {timeout_s}s; got {len(self.snapshot())} messages")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def listen() -> Iterator[Callable[..., Listener]]:
    """Make subscribers (``listen(url, topics, client_id=None)``), all closed after the test."""
    made: list[Listener] = []

    def make(url: str, topics: list[str], client_id: str | None = None) -> Listener:
        made.append(Listener(url, topics, client_id=client_id))
        return made[-1]

    yield make
    for listener in made:
        listener.close()
