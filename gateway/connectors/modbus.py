"""Modbus TCP connector (pymodbus, the ``modbus`` extra): polls a device profile's registers in as
few block reads as possible, decodes them, applies deadband / report-on-change, and yields Readings.

Modbus carries no source time: a reading's time is when its block's response arrived. A failed
read yields nothing for that block, is counted in ``read_errors`` and retried next poll; a lost
connection is reopened with capped backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from ganlink.schema import Reading
from ganlink.timestamps import now_ns
from gateway.connectors.base import require_extra
from gateway.connectors.modbus_registers import ReadBlock, Table, decode_registers, plan_reads, scaled
from gateway.connectors.profile import ModbusPoint, ModbusProfile

__all__ = ["ModbusConnector", "ReportFilter", "decode_block"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ReportFilter:
    """Deadband / report-on-change for one point: report when the value moved more than
    ``deadband`` since the last report, or ``max_silence_s`` passed."""

    deadband: float
    max_silence_ns: int
    last_value: float | None = None
    last_ns: int = 0

    def should_report(self, value: float, time_ns: int) -> bool:
        if (
            self.last_value is None
            or abs(value - self.last_value) > self.deadband
            or time_ns - self.last_ns >= self.max_silence_ns
        ):
            self.last_value, self.last_ns = value, time_ns
            return True
        return False


def decode_block(block: ReadBlock, words: list[int] | list[bool], points: list[ModbusPoint]) -> dict[str, float]:
    """Decode the points that lie inside ``block`` from its raw registers / bits."""
    values: dict[str, float] = {}
    for point in points:
        table, address, count = point.span
        if table is not block.table or not block.address <= address < block.address + block.count:
            continue
        offset = address - block.address
        if table.is_bits:
            values[point.id] = 1.0 if words[offset] else 0.0
            continue
        raw = decode_registers(
            [int(w) for w in words[offset : offset + count]],
            point.type,
            word_order=point.word_order,
            byte_order=point.byte_order,
        )
        values[point.id] = scaled(raw, scale=point.scale, offset=point.offset)
    return values


@dataclass(slots=True)
class _Counters:
    polls: int = 0
    read_errors: int = 0
    last_error: str = ""
    per_point_errors: dict[str, int] = field(default_factory=dict)


class ModbusConnector:
    """Polls one Modbus TCP device described by a :class:`ModbusProfile`."""

    name = "modbus"

    def __init__(self, profile: ModbusProfile, *, clock: Callable[[], int] = now_ns) -> None:
        require_extra("modbus", "pymodbus", "modbus")
        self.profile = profile
        self._clock = clock
        self._device = profile.device.path
        self._client: Any = None
        self._closed = asyncio.Event()
        self.counters = _Counters()
        self._filters = {p.id: ReportFilter(p.deadband, int(p.max_silence_s * 1e9)) for p in profile.sensors}
        self._period_s = {p.id: p.poll_period_s or profile.poll_period_s for p in profile.sensors}

    @property
    def nominal_readings_per_s(self) -> float:
        """Readings per second when every point is reported at each poll (deadband off)."""
        return sum(1 / period for period in self._period_s.values())

    async def __aenter__(self) -> Self:
        from pymodbus.client import AsyncModbusTcpClient  # noqa: PLC0415 - optional extra

        connection = self.profile.connection
        self._client = AsyncModbusTcpClient(
            connection.host, port=connection.port, timeout=connection.timeout_s, retries=1, reconnect_delay=0
        )
        await self._connect()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._closed.set()
        if self._client is not None:
            self._client.close()

    def close(self) -> None:
        self._closed.set()

    async def _connect(self) -> bool:
        connection = self.profile.connection
        connected = bool(await self._client.connect())
        if not connected:
            self._error(f"cannot connect to modbus://{connection.host}:{connection.port}")
        return connected

    def _error(self, message: str) -> None:
        self.counters.read_errors += 1
        self.counters.last_error = message
        log.warning("%s: %s", self._device.sensor_id("*"), message)

    async def read_once(self, points: list[ModbusPoint]) -> tuple[dict[str, float], int]:
        """One poll of ``points``: decoded values by sensor id and the response time."""
        from pymodbus.exceptions import ModbusException  # noqa: PLC0415 - optional extra

        client = self._client
        if not client.connected and not await self._connect():
            return {}, self._clock()
        unit = self.profile.connection.unit
        readers = {
            Table.HOLDING: client.read_holding_registers,
            Table.INPUT: client.read_input_registers,
            Table.COIL: client.read_coils,
            Table.DISCRETE: client.read_discrete_inputs,
        }
        values: dict[str, float] = {}
        stamp = self._clock()
        for block in plan_reads([p.span for p in points]):
            try:
                response = await readers[block.table](block.address, count=block.count, device_id=unit)
            except ModbusException as exc:
                self._error(f"reading {block.table.value} {block.address}+{block.count}: {exc}")
                continue
            stamp = self._clock()
            if response.isError():
                self._error(f"device refused {block.table.value} {block.address}+{block.count}: {response}")
                for point in points:
                    if point.table is block.table and block.address <= point.address < block.address + block.count:
                        self.counters.per_point_errors[point.id] = self.counters.per_point_errors.get(point.id, 0) + 1
                continue
            words = response.bits if block.table.is_bits else response.registers
            try:
                values.update(decode_block(block, words, points))
            except ValueError as exc:
                self._error(f"decoding {block.table.value} {block.address}: {exc}")
        self.counters.polls += 1
        return values, stamp

    async def batches(self) -> AsyncIterator[list[Reading]]:
        base = min(self._period_s.values())
        next_due = dict.fromkeys(self._period_s, 0.0)
        backoff = 0.0
        while not self._closed.is_set():
            started = time.monotonic()
            due = [p for p in self.profile.sensors if next_due[p.id] <= started]
            for point in due:
                next_due[point.id] = started + self._period_s[point.id] - 1e-3
            values, stamp = await self.read_once(due)
            # nothing came back: back off (capped) instead of hammering a device that is down
            backoff = min(10.0, max(base, backoff * 2)) if due and not values else 0.0
            batch = [
                Reading(self._device, sensor, stamp, value)
                for sensor, value in values.items()
                if math.isfinite(value) and self._filters[sensor].should_report(value, stamp)
            ]
            if batch:
                yield batch
            wait = max(backoff, base - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), max(wait, 0.0))
