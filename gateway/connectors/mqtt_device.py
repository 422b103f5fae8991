"""MQTT device input: a device that publishes plain JSON to its own topic, mapped to sensors by a
small field mapping in its profile. A message that is not a JSON object, or a field that is not a
number, is counted and skipped (nothing is guessed)."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from ganlink.schema import Reading
from ganlink.timestamps import now_ns, parse_source_time
from gateway.connectors.profile import MqttDeviceProfile
from gateway.mqtt import MqttSubscriber, parse_mqtt_url

__all__ = ["MqttDeviceConnector", "readings_from_json"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Counters:
    messages: int = 0
    read_errors: int = 0
    polls: int = 0
    last_error: str = ""
    per_point_errors: dict[str, int] = field(default_factory=dict)


def _dig(body: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(body, dict) or key not in body:
            return None
        body = body[key]
    return body


def readings_from_json(
    profile: MqttDeviceProfile, payload: bytes, received_ns: int
) -> tuple[list[Reading], list[tuple[str | None, str]]]:
    """Readings a device message carries, and ``(sensor, problem)`` for what could not be read."""
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [], [(None, f"payload is not JSON: {exc}")]
    if not isinstance(body, dict):
        return [], [(None, f"payload is JSON {type(body).__name__}, expected an object")]
    time_ns = received_ns
    if profile.time_field is not None:
        try:
            time_ns = parse_source_time(_dig(body, profile.time_field))
        except ValueError as exc:
            return [], [(None, f"{profile.time_field}: {exc}")]
    device = profile.device.path
    readings: list[Reading] = []
    problems: list[tuple[str | None, str]] = []
    for point in profile.sensors:
        raw = _dig(body, point.field)
        if raw is None:
            continue  # devices often send partial updates
        if isinstance(raw, bool):
            raw = 1.0 if raw else 0.0
        if not isinstance(raw, int | float) or not math.isfinite(raw):
            problems.append((point.id, f"{point.field} is {raw!r}, not a finite number"))
            continue
        readings.append(Reading(device, point.id, time_ns, raw * point.scale + point.offset))
    return readings, problems


class MqttDeviceConnector:
    """Subscribes to one device's topic and turns each JSON message into readings."""

    name = "mqtt"

    def __init__(self, profile: MqttDeviceProfile, *, client_id: str | None = None) -> None:
        self.profile = profile
        self._queue: asyncio.Queue[tuple[bytes, int]] = asyncio.Queue(maxsize=100_000)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = asyncio.Event()
        self.counters = _Counters()
        device = profile.device
        self._subscriber = MqttSubscriber(
            parse_mqtt_url(profile.connection.url),
            client_id=client_id or f"ganlink-dev-{device.plant}-{device.device}"[:64],
            topics=[profile.connection.topic],
            on_message=self._from_network,
            qos=profile.connection.qos,
        )

    @property
    def nominal_readings_per_s(self) -> float:
        return sum(1 / p.sample_period_s for p in self.profile.sensors)

    @property
    def subscribed(self) -> bool:
        return self._subscriber.connected.is_set()

    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        self._subscriber.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._closed.set()
        await asyncio.to_thread(self._subscriber.stop)

    def close(self) -> None:
        self._closed.set()

    def _from_network(self, topic: str, payload: bytes) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._queue.put_nowait, (payload, now_ns()))

    async def batches(self) -> AsyncIterator[list[Reading]]:
        while not self._closed.is_set():
            try:
                payload, received = await asyncio.wait_for(self._queue.get(), 1.0)
            except TimeoutError:
                continue
            self.counters.messages += 1
            self.counters.polls += 1
            readings, problems = readings_from_json(self.profile, payload, received)
            for sensor, problem in problems:
                self.counters.read_errors += 1
                self.counters.last_error = problem
                if sensor is not None:
                    self.counters.per_point_errors[sensor] = self.counters.per_point_errors.get(sensor, 0) + 1
                log.warning("device %s: %s", self.profile.device.path.sensor_id(sensor or "*"), problem)
            if readings:
                yield readings
