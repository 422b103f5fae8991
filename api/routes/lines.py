"""A line: its devices and sensors, latest values and anomaly events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api.deps import CurrentUser, RegistryDep, StoreDep, raw_values_allowed
from api.models import Anomaly, LatestReading
from api.permissions import API_PREFIX
from api.readings import latest_readings
from api.timerange import parse_time_ns
from ganlink.registry import LineNode, Registry
from ganlink.store import SensorSelector
from ganlink.timestamps import now_ns

router = APIRouter(prefix=API_PREFIX + "/plants/{plant}/areas/{area}/lines/{line}", tags=["lines"])


def _require_line(registry: Registry, plant: str, area: str, line: str) -> LineNode:
    node = registry.line(plant, area, line)
    if node is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no line {plant}/{area}/{line}")
    return node


@router.get("")
async def line_view(plant: str, area: str, line: str, registry: RegistryDep) -> LineNode:
    return _require_line(registry, plant, area, line)


@router.get("/latest")
async def line_latest(
    plant: str, area: str, line: str, *, registry: RegistryDep, store: StoreDep, user: CurrentUser, key: bool = False
) -> list[LatestReading]:
    """Newest value of every sensor of the line (only key sensors with ``key=true``)."""
    _require_line(registry, plant, area, line)
    sensors = registry.sensors_of(plant, area, line, key_only=key)
    return await latest_readings(store, SensorSelector(plant, area, line), sensors, user)


@router.get("/anomalies")
async def line_anomalies(
    plant: str,
    area: str,
    line: str,
    *,
    registry: RegistryDep,
    store: StoreDep,
    user: CurrentUser,
    start: Annotated[str, Query(description="RFC 3339, epoch ms, or now-24h")] = "now-24h",
    end: Annotated[str, Query(description="RFC 3339, epoch ms, or now")] = "now",
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[Anomaly]:
    """Anomaly events of the line, newest first."""
    _require_line(registry, plant, area, line)
    now = now_ns()
    try:
        start_ns, end_ns = parse_time_ns(start, now_ns=now), parse_time_ns(end, now_ns=now)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    events = await store.events(SensorSelector(plant, area, line), start_ns, end_ns, limit=limit)
    withheld = {s.sensor_id for s in registry.sensors_of(plant, area, line) if not raw_values_allowed(user, s)}
    return [
        Anomaly(
            sensor_id=e.device.sensor_id(e.sensor),
            detector=e.detector,
            time_ms=e.time_ns // 1_000_000,
            score=e.score,
            value=None if e.device.sensor_id(e.sensor) in withheld else e.value,
            alarm_id=e.alarm_id,
            details={} if e.device.sensor_id(e.sensor) in withheld else e.details,
        )
        for e in events
    ]
