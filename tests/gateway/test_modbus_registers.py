"""Pure Modbus decoding and read planning, checked against struct-packed reference bytes."""

from __future__ import annotations

import struct

import pytest

from gateway.connectors.modbus import ReportFilter, decode_block
from gateway.connectors.modbus_registers import (
    DataType,
    ReadBlock,
    Table,
    decode_registers,
    plan_reads,
    register_count,
    scaled,
)
from gateway.connectors.profile import ModbusPoint

FORMATS = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f", "float64": "d"}


def registers(value: float, data_type: str, word_order: str = "big", byte_order: str = "big") -> list[int]:
    """How a device lays ``value`` out: big-endian bytes, then words and bytes swapped as configured."""
    raw = struct.pack(f">{FORMATS[data_type]}", value)
    words = [raw[i : i + 2] for i in range(0, len(raw), 2)]
    if word_order == "little":
        words.reverse()
    if byte_order == "little":
        words = [w[::-1] for w in words]
    return [int.from_bytes(w, "big") for w in words]


@pytest.mark.parametrize(
    ("data_type", "value"),
    [("int16", -1234), ("uint16", 65000), ("int32", -2_000_000_000), ("uint32", 4_000_000_000),
     ("float32", 612.5), ("float64", -1.0e-7)],
)
@pytest.mark.parametrize("word_order", ["big", "little"])
@pytest.mark.parametrize("byte_order", ["big", "little"])
def test_every_type_decodes_in_every_word_and_byte_order(
    data_type: str, value: float, word_order: str, byte_order: str
) -> None:
    words = registers(value, data_type, word_order, byte_order)
    assert len(words) == register_count(DataType(data_type))
    decoded = decode_registers(words, DataType(data_type), word_order=word_order, byte_order=byte_order)  # type: ignore[arg-type]
    assert decoded == pytest.approx(value)


def test_word_swapped_float_reads_wrong_with_the_wrong_order() -> None:
    words = registers(612.5, "float32", word_order="little")
    assert decode_registers(words, DataType.FLOAT32, word_order="big") != pytest.approx(612.5)


def test_decoding_refuses_wrong_register_counts_and_values() -> None:
    with pytest.raises(ValueError, match="needs 2 registers"):
        decode_registers([1], DataType.FLOAT32)
    with pytest.raises(ValueError, match=r"0\.\.65535"):
        decode_registers([70000], DataType.UINT16)
    with pytest.raises(ValueError, match="coils"):
        decode_registers([1], DataType.BOOL)


def test_scale_and_offset_make_engineering_units() -> None:
    assert scaled(1234, scale=0.1) == pytest.approx(123.4)
    assert scaled(400, scale=0.25, offset=-20) == pytest.approx(80.0)
    with pytest.raises(ValueError, match="not finite"):
        scaled(float("nan"))


def test_plan_reads_merges_near_spans_and_respects_the_protocol_limit() -> None:
    spans = [(Table.HOLDING, 100, 2), (Table.HOLDING, 102, 1), (Table.HOLDING, 106, 2), (Table.HOLDING, 300, 4),
             (Table.INPUT, 0, 1), (Table.COIL, 5, 1), (Table.COIL, 0, 1)]
    assert plan_reads(spans) == [
        ReadBlock(Table.HOLDING, 100, 8),
        ReadBlock(Table.HOLDING, 300, 4),
        ReadBlock(Table.INPUT, 0, 1),
        ReadBlock(Table.COIL, 0, 6),
    ]
    many = [(Table.HOLDING, a, 2) for a in range(0, 400, 2)]
    blocks = plan_reads(many)
    assert all(b.count <= 125 for b in blocks)
    assert sum(b.count for b in blocks) == 400


def test_decode_block_picks_each_point_out_of_a_shared_read() -> None:
    current = ModbusPoint(id="motor-current", table=Table.HOLDING, address=100, type=DataType.FLOAT32, unit="A")
    speed = ModbusPoint(
        id="motor-speed", table=Table.HOLDING, address=102, type=DataType.UINT16, scale=0.1, unit="r/min"
    )
    block = ReadBlock(Table.HOLDING, 100, 3)
    words = [*registers(612.5, "float32"), 9875]
    assert decode_block(block, words, [current, speed]) == {"motor-current": 612.5, "motor-speed": pytest.approx(987.5)}


def test_report_filter_reports_changes_beyond_deadband_and_after_silence() -> None:
    s = 1_000_000_000
    report = ReportFilter(deadband=0.5, max_silence_ns=10 * s)
    decisions = [report.should_report(v, t * s) for t, v in [(0, 10.0), (1, 10.3), (2, 10.6), (3, 10.2), (13, 10.2)]]
    assert decisions == [True, False, True, False, True]
