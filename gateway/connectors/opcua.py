"""OPC UA connector (asyncua, the ``opcua`` extra): monitored items on a subscription, polling as
the fallback, the source timestamp and status code carried into each reading's time and quality.

asyncua calls the data-change handler on our event loop; values go through a queue to
:meth:`OpcUaConnector.batches`. A lost session is reopened with capped backoff and resubscribed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from ganlink.schema import Quality, Reading
from ganlink.timestamps import now_ns
from gateway.connectors.base import require_extra
from gateway.connectors.modbus import ReportFilter
from gateway.connectors.profile import OpcUaPoint, OpcUaProfile

__all__ = ["OpcUaConnector", "quality_of", "to_reading_value"]

log = logging.getLogger(__name__)


def quality_of(status_code: int) -> Quality:
    """OPC UA status severity (top two bits): 00 good, 01 uncertain, 1x bad."""
    severity = (status_code >> 30) & 0b11
    if severity == 0:
        return Quality.GOOD
    return Quality.UNCERTAIN if severity == 1 else Quality.BAD


def to_reading_value(value: object) -> float | None:
    """A number a reading can carry (bools as 0/1), or None for strings, arrays, NaN and the like."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _stamp_ns(stamp: datetime | None) -> int | None:
    if stamp is None:
        return None
    return int(stamp.timestamp()) * 1_000_000_000 + stamp.microsecond * 1000


@dataclass(slots=True)
class _Counters:
    notifications: int = 0
    polls: int = 0
    read_errors: int = 0
    reconnects: int = 0
    last_error: str = ""
    per_point_errors: dict[str, int] = field(default_factory=dict)


class _DataChanges:
    """asyncua subscription handler: hands every change to the connector's queue."""

    def __init__(self, queue: asyncio.Queue[tuple[str, Any]], point_by_node: dict[str, str]) -> None:
        self._queue = queue
        self._point_by_node = point_by_node

    def datachange_notification(self, node: Any, value: Any, data: Any) -> None:
        sensor = self._point_by_node.get(node.nodeid.to_string())
        if sensor is not None:
            self._queue.put_nowait((sensor, data.monitored_item.Value))


class OpcUaConnector:
    """Reads one OPC UA server's variables described by an :class:`OpcUaProfile`."""

    name = "opcua"

    def __init__(self, profile: OpcUaProfile, *, report_every_poll: bool = False) -> None:
        require_extra("opcua", "asyncua", "opcua")
        self.profile = profile
        # commissioning wants every poll, even of a value whose source time did not move
        self._report_every_poll = report_every_poll
        self._device = profile.device.path
        self._points = {p.id: p for p in profile.sensors}
        self._filters = {p.id: ReportFilter(p.deadband, int(p.max_silence_s * 1e9)) for p in profile.sensors}
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._client: Any = None
        self._closed = asyncio.Event()
        self.mode = profile.mode
        self.counters = _Counters()

    @property
    def nominal_readings_per_s(self) -> float:
        return sum(1 / p.sample_period_s for p in self.profile.sensors)

    async def __aenter__(self) -> Self:
        await self._open()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._closed.set()
        await self._close_client()

    def close(self) -> None:
        self._closed.set()

    async def _close_client(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):  # the session may already be gone; nothing to save
                await self._client.disconnect()
            self._client = None

    async def _open(self) -> None:
        from asyncua import ua  # noqa: PLC0415 - optional extra
        from asyncua.client.client import Client  # noqa: PLC0415
        from asyncua.ua.uaerrors import UaError  # noqa: PLC0415

        connection = self.profile.connection
        client = Client(connection.url, timeout=connection.timeout_s)
        if connection.username:
            client.set_user(connection.username)
            if connection.password is not None:
                client.set_password(connection.password.get_secret_value())
        await client.connect()
        self._client = client
        if self.mode != "subscribe":
            return
        # keyed the way asyncua prints node ids ("ns=2;s=X")
        nodes = [client.get_node(p.node) for p in self.profile.sensors]
        point_by_node = {node.nodeid.to_string(): p.id for node, p in zip(nodes, self.profile.sensors, strict=True)}
        period_ms = 1000 * min(p.sample_period_s for p in self.profile.sensors)
        try:
            subscription = await client.create_subscription(period_ms, _DataChanges(self._queue, point_by_node))
            results = await subscription.subscribe_data_change(nodes)
        except (UaError, TimeoutError) as exc:
            log.warning("OPC UA %s refused a subscription (%s); polling instead", connection.url, exc)
            self.mode = "poll"
            return
        outcomes = results if isinstance(results, list) else [results]
        for point, result in zip(self.profile.sensors, outcomes, strict=False):
            if isinstance(result, ua.StatusCode) and not result.is_good():
                self._error(point.id, f"cannot monitor {point.node}: {result}")

    def _error(self, sensor: str | None, message: str) -> None:
        self.counters.read_errors += 1
        self.counters.last_error = message
        if sensor is not None:
            self.counters.per_point_errors[sensor] = self.counters.per_point_errors.get(sensor, 0) + 1
        log.warning("%s: %s", self._device.sensor_id(sensor or "*"), message)

    def _reading(self, sensor: str, data_value: Any, *, filtered: bool) -> Reading | None:
        value = to_reading_value(data_value.Value.Value if data_value.Value is not None else None)
        if value is None:
            self._error(sensor, f"value {data_value.Value!r} is not a number")
            return None
        time_ns = _stamp_ns(data_value.SourceTimestamp) or _stamp_ns(data_value.ServerTimestamp) or now_ns()
        quality = quality_of(int(data_value.StatusCode.value)) if data_value.StatusCode is not None else Quality.GOOD
        if filtered and not self._filters[sensor].should_report(value, time_ns):
            return None
        return Reading(self._device, sensor, time_ns, value, quality)

    async def _reconnect(self, backoff_s: float) -> float:
        from asyncua.ua.uaerrors import UaError  # noqa: PLC0415 - optional extra

        await self._close_client()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), backoff_s)
        if self._closed.is_set():
            return backoff_s
        try:
            await self._open()
        except (OSError, TimeoutError, UaError) as exc:
            self._error(None, f"cannot reconnect to {self.profile.connection.url}: {exc}")
            return min(10.0, backoff_s * 2)
        self.counters.reconnects += 1
        return 0.5

    async def batches(self) -> AsyncIterator[list[Reading]]:
        if self.mode == "subscribe":
            async for batch in self._subscribed():
                yield batch
        else:
            async for batch in self._polled():
                yield batch

    async def _subscribed(self) -> AsyncIterator[list[Reading]]:
        from asyncua.ua.uaerrors import UaError  # noqa: PLC0415 - optional extra

        backoff = 0.5
        while not self._closed.is_set():
            try:
                sensor, data_value = await asyncio.wait_for(self._queue.get(), 2.0)
            except TimeoutError:
                try:  # quiet: make sure the session is still there
                    await self._client.check_connection()
                except (OSError, UaError, AttributeError, ConnectionError) as exc:
                    self._error(None, f"lost {self.profile.connection.url}: {exc}")
                    backoff = await self._reconnect(backoff)
                continue
            pending = [(sensor, data_value)]
            while not self._queue.empty():
                pending.append(self._queue.get_nowait())
            self.counters.notifications += len(pending)
            batch = [r for s, dv in pending if (r := self._reading(s, dv, filtered=True)) is not None]
            if batch:
                yield batch

    async def _polled(self) -> AsyncIterator[list[Reading]]:
        from asyncua.ua.uaerrors import UaError  # noqa: PLC0415 - optional extra

        period = min(p.sample_period_s for p in self.profile.sensors)
        backoff = 0.5
        while not self._closed.is_set():
            started = time.monotonic()
            batch: list[Reading] = []
            if self._client is None:
                backoff = await self._reconnect(backoff)
                continue
            try:
                for point in self.profile.sensors:
                    data_value = await self._client.get_node(point.node).read_data_value()
                    reading = self._reading(point.id, data_value, filtered=not self._report_every_poll)
                    if reading is not None:
                        batch.append(reading)
            except (OSError, TimeoutError, UaError, ConnectionError) as exc:
                self._error(None, f"polling {self.profile.connection.url}: {exc}")
                backoff = await self._reconnect(backoff)
                continue
            self.counters.polls += 1
            if batch:
                yield batch
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), max(0.0, period - (time.monotonic() - started)))

    @property
    def points(self) -> dict[str, OpcUaPoint]:
        return dict(self._points)
