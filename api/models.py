"""Response bodies of the API (the registry's records are returned as they are)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ganlink.registry import Role

__all__ = [
    "AlarmComment",
    "AlarmView",
    "Anomaly",
    "AuditRecord",
    "ErrorBody",
    "Health",
    "LatestReading",
    "Me",
    "PlantSummary",
    "RangeResult",
]


class ErrorBody(BaseModel):
    """Every error: ``detail`` is a message (or, for validation and import errors, a structure)."""

    detail: Any


class Health(BaseModel):
    status: str
    version: str


class Me(BaseModel):
    name: str
    role: Role
    plants: list[str]


class PlantSummary(BaseModel):
    id: str
    name: str
    industry: str
    timezone: str
    nameplate_value: float
    nameplate_unit: str


class LatestReading(BaseModel):
    """A sensor's newest value with what a chart needs to show it; ``value`` is None without data."""

    sensor_id: str
    area: str
    line: str
    device: str
    sensor: str
    name: str
    unit: str
    kind: str
    range_min: float
    range_max: float
    key: bool
    time_ms: int | None
    value: float | None
    quality: str | None
    restricted: bool = False  # data class 3 of a plant outside the key's scope: value withheld


class RangeResult(BaseModel):
    """Points as ``[epoch_ms, value]``; with a bucket, the time is the bucket start."""

    sensor_id: str
    unit: str
    range_min: float
    range_max: float
    start_ms: int
    end_ms: int
    bucket_s: float | None
    aggregate: str | None
    points: list[tuple[int, float | None]]


class Anomaly(BaseModel):
    sensor_id: str
    detector: str
    time_ms: int
    score: float
    value: float | None  # None when withheld (data class 3 of a plant outside the key's scope)
    alarm_id: str
    details: dict[str, Any]


class AlarmComment(BaseModel):
    user: str
    time_ms: int
    text: str


class AlarmView(BaseModel):
    """An alarm with its lifecycle state (ISA-18.2 style) and who did what."""

    id: str
    sensor_id: str
    detector: str
    model_version: str
    severity: str
    status: str
    active: bool
    acknowledged: bool
    shelved: bool
    raised_ms: int
    cleared_ms: int | None
    acknowledged_ms: int | None
    acknowledged_by: str | None
    shelved_until_ms: int | None
    shelved_by: str | None
    label: str | None
    labeled_by: str | None
    details: dict[str, Any]
    comments: list[AlarmComment]


class AuditRecord(BaseModel):
    id: int
    time_ms: int
    actor: str
    action: str
    target: str
    source: str
    result: str
    detail: dict[str, Any]
