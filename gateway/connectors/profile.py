"""Device profiles: one YAML per field device mapping its points to ganlink sensors.

Errors (unknown register type, overlapping addresses, a missing unit, ...) are reported with the
file, the line and what to fix, before anything connects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, ValidationError, model_validator

from ganlink.errors import ConfigError
from ganlink.topics import DevicePath
from gateway.connectors.modbus_registers import DataType, Table, register_count
from gateway.yaml_errors import line_of

__all__ = [
    "DeviceProfile",
    "DeviceTarget",
    "ModbusConnection",
    "ModbusPoint",
    "ModbusProfile",
    "MqttDeviceConnection",
    "MqttDeviceProfile",
    "MqttField",
    "OpcUaConnection",
    "OpcUaPoint",
    "OpcUaProfile",
    "load_modbus_profile",
    "load_profile",
]

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceTarget(_Model):
    """Where the device's readings go in the asset tree."""

    plant: Slug
    area: Slug
    line: Slug
    device: Slug

    @property
    def path(self) -> DevicePath:
        return DevicePath(self.plant, self.area, self.line, self.device)


class ModbusConnection(_Model):
    host: str = Field(min_length=1)
    port: int = Field(502, ge=1, le=65535)
    unit: int = Field(1, ge=0, le=247, description="Modbus unit (slave) id")
    timeout_s: float = Field(2.0, gt=0)


class ModbusPoint(_Model):
    """One sensor read from one register range (or one coil / discrete input)."""

    id: Slug
    table: Table
    address: int = Field(ge=0, le=65535)
    type: DataType
    word_order: Literal["big", "little"] = "big"
    byte_order: Literal["big", "little"] = "big"
    scale: float = 1.0
    offset: float = 0.0
    unit: str = Field(min_length=1, description="UCUM-style unit of the scaled value")
    kind: str = "value"
    range: tuple[float, float] | None = None
    poll_period_s: float | None = Field(None, gt=0)
    deadband: float = Field(0.0, ge=0, description="report only changes larger than this")
    max_silence_s: float = Field(60.0, gt=0, description="report at least this often, changed or not")

    @model_validator(mode="after")
    def _type_fits_table(self) -> ModbusPoint:
        if self.table.is_bits != (self.type is DataType.BOOL):
            raise ValueError(
                f"type {self.type.value} cannot be read from {self.table.value}: coils and discrete inputs are bool,"
                " holding and input registers are numbers"
            )
        if self.address + register_count(self.type) > 65536:
            raise ValueError(f"{self.type.value} at {self.address} runs past register 65535")
        return self

    @property
    def span(self) -> tuple[Table, int, int]:
        return (self.table, self.address, register_count(self.type))


class ModbusProfile(_Model):
    version: Literal[1]
    connector: Literal["modbus"]
    device: DeviceTarget
    connection: ModbusConnection
    poll_period_s: float = Field(1.0, gt=0)
    sensors: list[ModbusPoint] = Field(min_length=1)


class OpcUaConnection(_Model):
    url: str = Field(pattern=r"^opc\.tcp://", description="opc.tcp://host:port/path")
    timeout_s: float = Field(4.0, gt=0)
    username: str | None = None
    password: SecretStr | None = None


class OpcUaPoint(_Model):
    """One sensor from one OPC UA variable node."""

    id: Slug
    node: str = Field(pattern=r"^(ns=\d+;)?[isgb]=.+$", description="NodeId, e.g. ns=2;s=Furnace.CrownTemp")
    unit: str = Field(min_length=1, description="UCUM-style unit of the value")
    kind: str = "value"
    range: tuple[float, float] | None = None
    sample_period_s: float = Field(1.0, gt=0, description="sampling interval asked of the server")
    deadband: float = Field(0.0, ge=0, description="report only changes larger than this")
    max_silence_s: float = Field(60.0, gt=0, description="poll mode: report at least this often")


class OpcUaProfile(_Model):
    version: Literal[1]
    connector: Literal["opcua"]
    device: DeviceTarget
    connection: OpcUaConnection
    mode: Literal["subscribe", "poll"] = Field("subscribe", description="monitored items, or polling as a fallback")
    sensors: list[OpcUaPoint] = Field(min_length=1)


class MqttDeviceConnection(_Model):
    url: str = Field(pattern=r"^mqtt://", description="the broker the device publishes to")
    topic: str = Field(min_length=1, description="the device's topic (MQTT wildcards allowed)")
    qos: Literal[0, 1] = 1


class MqttField(_Model):
    """One sensor taken from one field of the device's JSON payload."""

    id: Slug
    field: str = Field(min_length=1, description="dotted path into the JSON object, e.g. data.tonnage")
    unit: str = Field(min_length=1)
    kind: str = "value"
    range: tuple[float, float] | None = None
    scale: float = 1.0
    offset: float = 0.0
    sample_period_s: float = Field(1.0, gt=0, description="how often the device is expected to publish")


class MqttDeviceProfile(_Model):
    version: Literal[1]
    connector: Literal["mqtt"]
    device: DeviceTarget
    connection: MqttDeviceConnection
    time_field: str | None = Field(None, description="field with the source time (RFC 3339 or epoch ms)")
    sensors: list[MqttField] = Field(min_length=1)


DeviceProfile = ModbusProfile | OpcUaProfile | MqttDeviceProfile
_PROFILE_MODELS: dict[str, type[ModbusProfile] | type[OpcUaProfile] | type[MqttDeviceProfile]] = {
    "modbus": ModbusProfile,
    "opcua": OpcUaProfile,
    "mqtt": MqttDeviceProfile,
}


def _duplicate_node(points: list[OpcUaPoint]) -> tuple[int, str] | None:
    ids: set[str] = set()
    nodes: dict[str, str] = {}
    for index, point in enumerate(points):
        if point.id in ids:
            return index, f"sensor id {point.id!r} is used twice"
        if point.node in nodes:
            return index, f"{point.id} reads node {point.node}, which {nodes[point.node]} already reads"
        ids.add(point.id)
        nodes[point.node] = point.id
    return None


def _duplicate_id(ids: list[str]) -> tuple[int, str] | None:
    seen: set[str] = set()
    for index, sensor in enumerate(ids):
        if sensor in seen:
            return index, f"sensor id {sensor!r} is used twice"
        seen.add(sensor)
    return None


def _overlap(points: list[ModbusPoint]) -> tuple[int, str] | None:
    """Index and description of the first point sharing registers with an earlier one."""
    claimed: dict[tuple[Table, int], str] = {}
    ids: set[str] = set()
    for index, point in enumerate(points):
        if point.id in ids:
            return index, f"sensor id {point.id!r} is used twice"
        ids.add(point.id)
        table, address, count = point.span
        for register in range(address, address + count):
            owner = claimed.get((table, register))
            if owner is not None:
                return index, (
                    f"{point.id} ({point.type.value} at {table.value} {address}) overlaps {owner} at register"
                    f" {register}; move one of them"
                )
            claimed[(table, register)] = point.id
    return None


def load_profile(path: Path) -> DeviceProfile:
    """Read and check a device profile of any kind; ConfigError names file, line and what to fix."""
    try:
        document = path.read_text(encoding="utf-8")
        raw: Any = yaml.safe_load(document)
    except OSError as exc:
        raise ConfigError(f"cannot read device profile: {exc.strerror}", path=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"not valid YAML: {exc}", path=str(path), line=mark.line + 1 if mark else None) from None
    kind = raw.get("connector") if isinstance(raw, dict) else None
    model = _PROFILE_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ConfigError(
            f"connector {kind!r} is not a known profile kind (expected: {', '.join(_PROFILE_MODELS)})",
            path=str(path),
            line=line_of(document, ("connector",)),
        )
    try:
        profile = model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        where = ".".join(str(p) for p in location)
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "missing":
            message = f"{location[-1]} is missing"
            location = location[:-1]
        raise ConfigError(
            f"{where}: {message} ({len(exc.errors())} problem(s) in all)",
            path=str(path),
            line=line_of(document, location),
        ) from None
    if isinstance(profile, ModbusProfile):
        clash = _overlap(profile.sensors)
    elif isinstance(profile, OpcUaProfile):
        clash = _duplicate_node(profile.sensors)
    else:
        clash = _duplicate_id([p.id for p in profile.sensors])
    if clash is not None:
        index, what = clash
        raise ConfigError(f"sensors.{index}: {what}", path=str(path), line=line_of(document, ("sensors", index)))
    return profile


def load_modbus_profile(path: Path) -> ModbusProfile:
    """A Modbus device profile; ConfigError when the file describes another kind."""
    profile = load_profile(path)
    if not isinstance(profile, ModbusProfile):
        raise ConfigError(f"this is a {profile.connector} profile, a Modbus one is needed here", path=str(path))
    return profile
