"""What the registry returns and takes: asset records, sensor specs, pending sensors, API keys and roles."""

from __future__ import annotations

import hashlib
import math
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ganlink.topics import SLUG_PATTERN, DevicePath

__all__ = [
    "ALL_PLANTS",
    "TOKEN_PREFIX",
    "ApiKey",
    "AreaNode",
    "AssetTree",
    "BackfillState",
    "DeviceNode",
    "LineNode",
    "PendingSensor",
    "PlantInfo",
    "Role",
    "SensorInfo",
    "SensorAlias",
    "SensorSpec",
    "SensorTarget",
    "hash_token",
]

ALL_PLANTS = "*"
TOKEN_PREFIX = "glk_"  # noqa: S105 - a visible prefix, not a secret


class Role(StrEnum):
    VIEWER = "viewer"
    ENGINEER = "engineer"
    INTEGRATOR = "integrator"
    MANAGER = "manager"
    ADMIN = "admin"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class SensorInfo(_Record):
    """A sensor's registry metadata with its ISA-95 path."""

    sensor_id: str
    plant: str
    area: str
    line: str
    device: str
    id: str
    name: str
    unit: str
    kind: str
    range_min: float
    range_max: float
    sample_period_s: float
    data_class: int
    description: str
    key: bool

    @property
    def device_path(self) -> DevicePath:
        return DevicePath(self.plant, self.area, self.line, self.device)


class DeviceNode(_Record):
    id: str
    name: str
    sensors: list[SensorInfo]


class LineNode(_Record):
    id: str
    name: str
    kind: str
    devices: list[DeviceNode]


class AreaNode(_Record):
    id: str
    name: str
    lines: list[LineNode]


class PlantInfo(_Record):
    id: str
    name: str
    industry: str
    timezone: str
    shifts: list[dict[str, Any]]
    nameplate_value: float
    nameplate_unit: str
    gateway: str


class AssetTree(PlantInfo):
    """A plant with its areas, lines, devices and sensors."""

    areas: list[AreaNode]


class SensorSpec(_Record):
    """What a person sets when creating or onboarding a sensor (the path comes separately)."""

    name: str = Field("", max_length=200)
    unit: str = Field(min_length=1, max_length=40)
    kind: str = Field(min_length=1, max_length=40)
    range_min: float
    range_max: float
    sample_period_s: float = Field(gt=0, le=86400)
    data_class: int = Field(2, ge=1, le=3)
    description: str = Field("", max_length=2000)
    key: bool = False

    @model_validator(mode="after")
    def _range_ordered(self) -> SensorSpec:
        if not (math.isfinite(self.range_min) and math.isfinite(self.range_max)):
            raise ValueError("range_min and range_max must be finite")
        if self.range_min >= self.range_max:
            raise ValueError(f"range_min {self.range_min} must be below range_max {self.range_max}")
        return self


_SLUG = f"^{SLUG_PATTERN.pattern}$"  # pydantic searches; the id rule is the whole string


class SensorTarget(_Record):
    """Where an approved sensor goes in its plant's asset tree (the plant is always the one it was seen in)."""

    area: str = Field(pattern=_SLUG)
    line: str = Field(pattern=_SLUG)
    device: str = Field(pattern=_SLUG)
    sensor: str = Field(pattern=_SLUG)

    def device_path(self, plant: str) -> DevicePath:
        return DevicePath(plant, self.area, self.line, self.device)


class BackfillState(_Record):
    """How far moving a mapped sensor's kept readings to its registered series has come."""

    status: str  # queued | running | done | failed (failed ones are retried)
    moved: int  # readings moved so far, over all passes
    passes: int  # passes finished (another runs when readings still arrive under the wire path)
    attempts: int  # failed attempts since the last success
    error: str | None
    updated_ns: int
    retry_at_ns: int | None = None  # failed: when the next attempt may start


class SensorAlias(_Record):
    """A mapping from the path readings arrive under to the registered sensor they are stored as."""

    wire_sensor_id: str
    sensor_id: str
    plant: str
    approved_ns: int
    backfill: BackfillState

    @property
    def wire_key(self) -> tuple[DevicePath, str]:
        *levels, sensor = self.wire_sensor_id.split(".")
        return DevicePath(*levels), sensor

    @property
    def target_key(self) -> tuple[DevicePath, str]:
        *levels, sensor = self.sensor_id.split(".")
        return DevicePath(*levels), sensor


class PendingSensor(_Record):
    """A sensor seen on the wire but not in the registry; its readings are stored as they arrive.
    Approved with a mapping, ``target_sensor_id`` is what it became and ``backfill`` how its move goes."""

    sensor_id: str
    plant: str
    area: str
    line: str
    device: str
    sensor: str
    first_seen_ns: int
    last_seen_ns: int
    seen_count: int
    last_value: float | None
    status: str
    target_sensor_id: str | None = None
    backfill: BackfillState | None = None


class ApiKey(_Record):
    """An API key as stored (never the token itself)."""

    id: int
    name: str
    role: Role
    plants: list[str]
    created_ns: int

    def can_see_plant(self, plant: str) -> bool:
        return ALL_PLANTS in self.plants or plant in self.plants


def hash_token(token: str) -> str:
    """The stored form of a token: sha256 hex (tokens are 256-bit random, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()
