"""Onboarding field devices: scan a Modbus register range for candidate values, and commission a
device profile against the live device (see :mod:`gateway.commissioning` for the verdicts)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from ganlink.errors import ConfigError
from ganlink.timestamps import now_ns
from gateway.commissioning import Sample, SensorExpectation, SensorReport, assess
from gateway.connectors.base import require_extra
from gateway.connectors.modbus_registers import MAX_READ_REGISTERS, Table
from gateway.connectors.profile import ModbusProfile, load_profile

__all__ = ["ScanRow", "candidates", "commission_profile", "scan_modbus"]


@dataclass(frozen=True, slots=True)
class ScanRow:
    """What one register could mean, read alone or as the first of a pair."""

    address: int
    raw: int
    int16: int
    float32: float | None
    float32_swapped: float | None
    int32: int | None
    int32_swapped: int | None


def _f32(high: int, low: int) -> float | None:
    value: float = struct.unpack(">f", struct.pack(">HH", high, low))[0]
    plausible = math.isfinite(value) and (value == 0 or 1e-6 < abs(value) < 1e9)
    return round(value, 6) if plausible else None


def candidates(registers: list[int], start: int) -> list[ScanRow]:
    """Interpretations of each register: 16-bit signed, and 32-bit float/int with the next one in
    both word orders (implausible floats left out, so real values stand out)."""
    rows = []
    for offset, raw in enumerate(registers):
        address = start + offset
        int16 = raw - 0x10000 if raw >= 0x8000 else raw
        pair = registers[offset + 1] if offset + 1 < len(registers) else None
        if pair is None:
            rows.append(ScanRow(address, raw, int16, None, None, None, None))
            continue
        rows.append(
            ScanRow(
                address,
                raw,
                int16,
                _f32(raw, pair),
                _f32(pair, raw),
                struct.unpack(">i", struct.pack(">HH", raw, pair))[0],
                struct.unpack(">i", struct.pack(">HH", pair, raw))[0],
            )
        )
    return rows


async def scan_modbus(host: str, port: int, *, unit: int, table: Table, start: int, count: int) -> list[ScanRow]:
    """Read ``count`` registers of ``table`` from ``start`` and interpret them."""
    if table.is_bits:
        raise ConfigError("scan reads registers (holding or input); coils are read by a profile")
    require_extra("modbus", "pymodbus", "modbus")
    from pymodbus.client import AsyncModbusTcpClient  # noqa: PLC0415 - optional extra

    client = AsyncModbusTcpClient(host, port=port, timeout=2, retries=1)
    if not await client.connect():
        raise ConnectionError(f"cannot connect to modbus://{host}:{port}")
    try:
        read = client.read_holding_registers if table is Table.HOLDING else client.read_input_registers
        registers: list[int] = []
        for block_start in range(start, start + count, MAX_READ_REGISTERS):
            block = min(MAX_READ_REGISTERS, start + count - block_start)
            response = await read(block_start, count=block, device_id=unit)
            if response.isError():
                raise ConnectionError(f"device refused {table.value} {block_start}+{block}: {response}")
            registers += list(response.registers)
    finally:
        client.close()
    return candidates(registers, start)


def _every_poll(profile: ModbusProfile) -> ModbusProfile:
    """The profile with deadbands off, so commissioning sees every sample."""
    sensors = [p.model_copy(update={"deadband": 0.0, "max_silence_s": 1e-9}) for p in profile.sensors]
    return profile.model_copy(update={"sensors": sensors})


async def commission_profile(path: Path, *, seconds: float) -> tuple[str, list[SensorReport]]:
    """Run the profile against its live device for ``seconds`` and judge every sensor."""
    profile = load_profile(path)
    require_extra("modbus", "pymodbus", "modbus")
    from gateway.connectors.modbus import ModbusConnector  # noqa: PLC0415 - optional extra

    samples: dict[str, list[Sample]] = {p.id: [] for p in profile.sensors}
    connector = ModbusConnector(_every_poll(profile))
    started = time.monotonic()
    async with connector:
        batches = connector.batches()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                async for batch in batches:
                    received = now_ns()
                    for reading in batch:
                        samples[reading.sensor].append(Sample(reading.time_ns, reading.value, received))
    elapsed = max(time.monotonic() - started, 1e-3)
    errors = connector.counters.per_point_errors
    polls = connector.counters.polls
    reports = [
        assess(
            SensorExpectation(
                p.id, p.unit, p.kind, p.poll_period_s or profile.poll_period_s, p.range, has_source_clock=False
            ),
            samples[p.id],
            seconds=elapsed,
            read_errors=errors.get(p.id, 0) + (0 if samples[p.id] else connector.counters.read_errors),
            polls=polls,
        )
        for p in profile.sensors
    ]
    return profile.device.path.sensor_id("*").removesuffix(".*"), reports
