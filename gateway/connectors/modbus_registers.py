"""Pure Modbus register decoding and read planning (no I/O): data types, word and byte order,
scale and offset, and which contiguous blocks to read so a poll costs few requests."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

__all__ = [
    "MAX_READ_BITS",
    "MAX_READ_REGISTERS",
    "DataType",
    "ReadBlock",
    "Table",
    "decode_registers",
    "plan_reads",
    "register_count",
    "scaled",
]

MAX_READ_REGISTERS = 125  # Modbus limit for one read of holding/input registers
MAX_READ_BITS = 2000  # for coils / discrete inputs


class Table(StrEnum):
    HOLDING = "holding"
    INPUT = "input"
    COIL = "coil"
    DISCRETE = "discrete"

    @property
    def is_bits(self) -> bool:
        return self in (Table.COIL, Table.DISCRETE)


class DataType(StrEnum):
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    BOOL = "bool"


_FORMATS = {
    DataType.INT16: ("h", 1),
    DataType.UINT16: ("H", 1),
    DataType.INT32: ("i", 2),
    DataType.UINT32: ("I", 2),
    DataType.FLOAT32: ("f", 2),
    DataType.FLOAT64: ("d", 4),
}

Order = Literal["big", "little"]


def register_count(data_type: DataType) -> int:
    """How many 16-bit registers (or bits, for ``bool``) a value of ``data_type`` spans."""
    return 1 if data_type is DataType.BOOL else _FORMATS[data_type][1]


def decode_registers(
    registers: list[int], data_type: DataType, *, word_order: Order = "big", byte_order: Order = "big"
) -> float:
    """Decode raw 16-bit registers into a number.

    ``word_order`` says which register holds the most significant word (``big``: the first, the
    Modbus convention; ``little``: "word swapped" devices); ``byte_order`` says how the two bytes
    inside each register are ordered (``little`` = "byte swapped").
    """
    if data_type is DataType.BOOL:
        raise ValueError("bool values come from coils or discrete inputs, not registers")
    code, count = _FORMATS[data_type]
    if len(registers) != count:
        raise ValueError(f"{data_type} needs {count} registers, got {len(registers)}")
    if any(not 0 <= r <= 0xFFFF for r in registers):
        raise ValueError(f"registers must be 0..65535, got {registers}")
    words = registers if word_order == "big" else registers[::-1]
    raw = b"".join(w.to_bytes(2, "big") if byte_order == "big" else w.to_bytes(2, "little") for w in words)
    value = struct.unpack(f">{code}", raw)[0]
    return float(value)


def scaled(raw: float, *, scale: float = 1.0, offset: float = 0.0) -> float:
    """Engineering value = raw * scale + offset (e.g. tenths of an amp: scale 0.1)."""
    value = raw * scale + offset
    if not math.isfinite(value):
        raise ValueError(f"decoded value {raw!r} is not finite")
    return value


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One read request: ``count`` registers or bits of ``table`` from ``address``."""

    table: Table
    address: int
    count: int


def plan_reads(spans: list[tuple[Table, int, int]], *, max_gap: int = 8) -> list[ReadBlock]:
    """Group ``(table, address, count)`` spans into as few reads as the protocol allows; spans up
    to ``max_gap`` registers apart share a read (reading a few unused registers is cheaper than
    another round trip)."""
    blocks: list[ReadBlock] = []
    for table in Table:
        limit = MAX_READ_BITS if table.is_bits else MAX_READ_REGISTERS
        current: tuple[int, int] | None = None  # start, end (exclusive)
        for _, address, count in sorted(s for s in spans if s[0] is table):
            end = address + count
            if current is not None and address - current[1] <= max_gap and end - current[0] <= limit:
                current = (current[0], max(current[1], end))
                continue
            if current is not None:
                blocks.append(ReadBlock(table, current[0], current[1] - current[0]))
            current = (address, end)
        if current is not None:
            blocks.append(ReadBlock(table, current[0], current[1] - current[0]))
    return blocks
