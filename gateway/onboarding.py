"""Onboarding field devices: scan a Modbus register range for candidate values, and commission a
device profile against the live device (see :mod:`gateway.commissioning` for the verdicts)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganlink.errors import ConfigError
from ganlink.timestamps import now_ns
from gateway.commissioning import Sample, SensorExpectation, SensorReport, assess
from gateway.connectors.base import require_extra
from gateway.connectors.modbus_registers import MAX_READ_REGISTERS, Table
from gateway.connectors.profile import DeviceProfile, ModbusProfile, MqttDeviceProfile, load_profile

if TYPE_CHECKING:
    from gateway.connectors.modbus import ModbusConnector
    from gateway.connectors.mqtt_device import MqttDeviceConnector
    from gateway.connectors.opcua import OpcUaConnector

__all__ = [
    "BrowsedVariable",
    "ScanRow",
    "browse_opcua",
    "candidates",
    "commission_profile",
    "draft_opcua_profile",
    "scan_modbus",
    "slug_of",
]


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


def _every_sample(profile: DeviceProfile) -> DeviceProfile:
    """The profile with deadbands off, so commissioning sees every sample."""
    if isinstance(profile, MqttDeviceProfile):
        return profile
    sensors = [p.model_copy(update={"deadband": 0.0, "max_silence_s": 1e-9}) for p in profile.sensors]
    return profile.model_copy(update={"sensors": sensors})


def _expectations(profile: DeviceProfile) -> list[SensorExpectation]:
    if isinstance(profile, ModbusProfile):
        return [
            SensorExpectation(p.id, p.unit, p.kind, p.poll_period_s or profile.poll_period_s, p.range)
            for p in profile.sensors
        ]
    if isinstance(profile, MqttDeviceProfile):
        return [
            SensorExpectation(
                p.id, p.unit, p.kind, p.sample_period_s, p.range, has_source_clock=profile.time_field is not None
            )
            for p in profile.sensors
        ]
    return [
        SensorExpectation(p.id, p.unit, p.kind, p.sample_period_s, p.range, has_source_clock=True)
        for p in profile.sensors
    ]


async def commission_profile(path: Path, *, seconds: float) -> tuple[str, list[SensorReport]]:
    """Run the profile against its live device for ``seconds`` and judge every sensor.

    Subscriptions report on change only, so an OPC UA profile is commissioned in poll mode, every
    poll counted; the source-clock skew then also shows values the server stopped refreshing."""
    profile = _every_sample(load_profile(path))
    connector: ModbusConnector | OpcUaConnector | MqttDeviceConnector
    if isinstance(profile, MqttDeviceProfile):
        from gateway.connectors.mqtt_device import MqttDeviceConnector  # noqa: PLC0415

        connector = MqttDeviceConnector(profile)
    elif isinstance(profile, ModbusProfile):
        require_extra("modbus", "pymodbus", "modbus")
        from gateway.connectors.modbus import ModbusConnector  # noqa: PLC0415 - optional extra

        connector = ModbusConnector(profile)
    else:
        require_extra("opcua", "asyncua", "opcua")
        from gateway.connectors.opcua import OpcUaConnector  # noqa: PLC0415 - optional extra

        connector = OpcUaConnector(profile.model_copy(update={"mode": "poll"}), report_every_poll=True)
    samples: dict[str, list[Sample]] = {p.id: [] for p in profile.sensors}
    started = time.monotonic()
    async with connector:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                async for batch in connector.batches():
                    received = now_ns()
                    for reading in batch:
                        samples[reading.sensor].append(Sample(reading.time_ns, reading.value, received))
    elapsed = max(time.monotonic() - started, 1e-3)
    counters = connector.counters
    reports = [
        assess(
            expect,
            samples[expect.sensor],
            seconds=elapsed,
            read_errors=counters.per_point_errors.get(expect.sensor, 0)
            + (0 if samples[expect.sensor] else counters.read_errors),
            polls=counters.polls,
        )
        for expect in _expectations(profile)
    ]
    return profile.device.path.sensor_id("*").removesuffix(".*"), reports


@dataclass(frozen=True, slots=True)
class BrowsedVariable:
    """A numeric variable node found on an OPC UA server."""

    node: str
    path: str
    data_type: str
    value: float | None
    unit: str


_NUMERIC_TYPES = {
    "Boolean",
    "SByte",
    "Byte",
    "Int16",
    "UInt16",
    "Int32",
    "UInt32",
    "Int64",
    "UInt64",
    "Float",
    "Double",
}


def slug_of(name: str) -> str:
    """A sensor id from a browse name: ``CrownTemp`` -> ``crown-temp``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name)
    slug = re.sub(r"[^a-z0-9]+", "-", spaced.lower()).strip("-")
    return (slug or "sensor")[:63]


async def browse_opcua(url: str, *, max_depth: int = 6) -> list[BrowsedVariable]:
    """Every numeric variable below the server's Objects folder, namespace 0 (the standard's) left out."""
    require_extra("opcua", "asyncua", "opcua")
    from asyncua import ua  # noqa: PLC0415 - optional extra
    from asyncua.client.client import Client  # noqa: PLC0415
    from asyncua.ua.uaerrors import UaError  # noqa: PLC0415

    found: list[BrowsedVariable] = []
    async with Client(url, timeout=4) as client:

        async def walk(node: Any, path: str, depth: int) -> None:
            for child in await node.get_children():
                if child.nodeid.NamespaceIndex == 0:  # the standard's own nodes (Server, Aliases, ...)
                    continue
                name = (await child.read_browse_name()).Name
                child_path = f"{path}/{name}" if path else name
                node_class = await child.read_node_class()
                if node_class == ua.NodeClass.Variable:
                    found.append(await describe(child, child_path))
                elif node_class == ua.NodeClass.Object and depth < max_depth:
                    await walk(child, child_path, depth + 1)

        async def describe(node: Any, path: str) -> BrowsedVariable:
            data_type = await node.read_data_type_as_variant_type()
            value = None
            with contextlib.suppress(UaError, ValueError, TypeError):
                raw = await node.read_value()
                value = float(raw) if isinstance(raw, int | float) else None
            unit = ""
            with contextlib.suppress(UaError, AttributeError):
                units = await node.get_child("0:EngineeringUnits")
                unit = (await units.read_value()).DisplayName.Text or ""
            return BrowsedVariable(node.nodeid.to_string(), path, data_type.name, value, unit)

        await walk(client.nodes.objects, "", 0)
    return [v for v in found if v.data_type in _NUMERIC_TYPES]


def draft_opcua_profile(url: str, variables: list[BrowsedVariable], device: tuple[str, str, str, str]) -> str:
    """A draft device profile for the browsed variables; units the server did not state are left
    empty on purpose, so loading the draft says which ones to fill in."""
    plant, area, line, device_id = device
    lines = [
        f"# Draft OPC UA device profile from {url}: check each sensor's unit, kind and range, then",
        "# run: ganlink gateway commission THIS_FILE --seconds 60",
        "version: 1",
        "connector: opcua",
        f"device: {{plant: {plant}, area: {area}, line: {line}, device: {device_id}}}",
        f"connection: {{url: '{url}', timeout_s: 4}}",
        "mode: subscribe",
        "sensors:",
    ]
    used: set[str] = set()
    for variable in variables:
        sensor = slug_of(variable.path.rsplit("/", 1)[-1])
        while sensor in used:
            sensor = f"{sensor}-{len(used)}"[:63]
        used.add(sensor)
        seen = "" if variable.value is None else f"  # {variable.data_type}, now {variable.value:g}"
        lines.append(
            f"  - {{id: {sensor}, node: '{variable.node}', unit: '{variable.unit}', kind: value,"
            f" sample_period_s: 1}}{seen}"
        )
    return "\n".join(lines) + "\n"
