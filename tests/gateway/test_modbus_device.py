"""The Modbus connector against a real pymodbus TCP server serving known values."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import pytest
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from ganlink.servers import free_port
from gateway.connectors.modbus import ModbusConnector
from gateway.connectors.profile import ModbusProfile


def words(fmt: str, value: float, *, swap_words: bool = False) -> list[int]:
    raw = struct.pack(f">{fmt}", value)
    out = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    return out[::-1] if swap_words else out


HOLDING = words("f", 612.5) + words("H", 9875) + [0] + words("i", 2_345_678, swap_words=True) + words("d", -3.25)
INPUT = words("h", -125)


@pytest.fixture
async def modbus_port() -> AsyncIterator[int]:
    port = free_port()
    device = SimDevice(
        id=1,
        simdata=(
            [SimData(0, values=[True, False, True, False], datatype=DataType.BITS)],
            [SimData(0, values=[False] * 8, datatype=DataType.BITS)],
            [SimData(100, values=HOLDING, datatype=DataType.REGISTERS)],
            [SimData(0, values=INPUT, datatype=DataType.REGISTERS)],
        ),
    )
    server = ModbusTcpServer(device, address=("127.0.0.1", port))
    task = asyncio.create_task(server.serve_forever())
    await asyncio.sleep(0.2)
    yield port
    await server.shutdown()
    task.cancel()


def profile(port: int, **extra: object) -> ModbusProfile:
    return ModbusProfile.model_validate(
        {
            "version": 1,
            "connector": "modbus",
            "device": {"plant": "conch-cement", "area": "clinker", "line": "kiln-line-1", "device": "kiln-drive-plc"},
            "connection": {"host": "127.0.0.1", "port": port, "unit": 1, "timeout_s": 1},
            "poll_period_s": 0.1,
            "sensors": [
                {"id": "motor-current", "table": "holding", "address": 100, "type": "float32", "unit": "A"},
                {"id": "motor-speed", "table": "holding", "address": 102, "type": "uint16", "scale": 0.1,
                 "unit": "r/min"},
                {"id": "drive-energy", "table": "holding", "address": 104, "type": "int32", "word_order": "little",
                 "unit": "kWh"},
                {"id": "torque-ref", "table": "holding", "address": 106, "type": "float64", "unit": "%"},
                {"id": "bearing-temp", "table": "input", "address": 0, "type": "int16", "scale": 0.1, "unit": "Cel"},
                {"id": "drive-running", "table": "coil", "address": 0, "type": "bool", "unit": "1"},
                {"id": "lube-pump", "table": "coil", "address": 1, "type": "bool", "unit": "1"},
            ],
            **extra,
        }
    )


async def test_connector_reads_and_decodes_every_point_of_a_real_device(modbus_port: int) -> None:
    async with ModbusConnector(profile(modbus_port)) as connector:
        batch = await anext(connector.batches())
    values = {r.sensor: r.value for r in batch}
    assert values == {
        "motor-current": 612.5,
        "motor-speed": pytest.approx(987.5),
        "drive-energy": 2_345_678.0,
        "torque-ref": -3.25,
        "bearing-temp": pytest.approx(-12.5),
        "drive-running": 1.0,
        "lube-pump": 0.0,
    }
    assert {r.device.device for r in batch} == {"kiln-drive-plc"}
    assert connector.counters.read_errors == 0


async def test_unchanged_values_are_polled_but_not_reported_again_within_the_deadband(modbus_port: int) -> None:
    async with ModbusConnector(profile(modbus_port)) as connector:
        batches = connector.batches()
        first = await anext(batches)
        with pytest.raises(TimeoutError):  # values do not change: nothing to report
            await asyncio.wait_for(anext(batches), 0.6)
        assert connector.counters.polls >= 3
    assert len(first) == 7


async def test_a_register_the_device_lacks_is_counted_and_the_rest_still_arrive(modbus_port: int) -> None:
    bad = profile(modbus_port).model_dump()
    bad["sensors"].append({"id": "ghost", "table": "holding", "address": 900, "type": "uint16", "unit": "1"})
    async with ModbusConnector(ModbusProfile.model_validate(bad)) as connector:
        batch = await anext(connector.batches())
    assert "ghost" not in {r.sensor for r in batch}
    assert len(batch) == 7
    assert connector.counters.read_errors == 1
    assert connector.counters.per_point_errors == {"ghost": 1}


async def test_an_unreachable_device_is_counted_not_fatal() -> None:
    async with ModbusConnector(profile(free_port())) as connector:
        values, _ = await connector.read_once(list(connector.profile.sensors))
    assert values == {}
    assert connector.counters.read_errors >= 1
    assert "cannot connect" in connector.counters.last_error
