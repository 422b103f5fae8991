"""A line: its devices and sensors, latest values and anomaly events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse

from api.deps import CurrentUser, RegistryDep, StoreDep, raw_values_allowed
from api.models import Anomaly, LatestReading
from api.permissions import API_PREFIX
from api.readings import latest_readings
from api.timerange import parse_time_ns
from ganlink.registry import ApiKey, LineNode, Registry
from ganlink.store import SensorSelector, TimeSeriesStore
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


async def _line_events(
    request: Request, registry: Registry, store: TimeSeriesStore, user: ApiKey, path: tuple[str, str, str], *,
    interval_s: float, duration_s: float,
) -> AsyncIterator[str]:  # fmt: skip
    """Server-Sent Events: ``readings`` with values newer than last sent, ``alarms`` when the line's
    active alarms change, a comment line as heartbeat."""
    plant, area, line = path
    sensors = registry.sensors_of(plant, area, line)
    selector = SensorSelector(plant, area, line)
    last_sent: dict[str, int] = {}
    last_alarms: list[tuple[str, str]] | None = None
    yield "retry: 2000\n\n"
    deadline = asyncio.get_running_loop().time() + duration_s
    while asyncio.get_running_loop().time() < deadline and not await request.is_disconnected():
        readings = await latest_readings(store, selector, sensors, user)
        fresh = [r for r in readings if r.time_ms is not None and r.time_ms > last_sent.get(r.sensor_id, -1)]
        for reading in fresh:
            last_sent[reading.sensor_id] = reading.time_ms or 0
        if fresh:
            yield f"event: readings\ndata: {json.dumps([r.model_dump() for r in fresh])}\n\n"
        active = registry.alarms(plant, area, line, active_only=True, limit=100)
        summary = [(a.id, str(a.status)) for a in active]
        if summary != last_alarms:
            last_alarms = summary
            yield f"event: alarms\ndata: {json.dumps([{'id': i, 'status': s} for i, s in summary])}\n\n"
        if not fresh:
            yield ": idle\n\n"
        await asyncio.sleep(interval_s)


@router.get(
    "/stream",
    response_model=None,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}},
)
async def line_stream(
    plant: str, area: str, line: str, *, request: Request, registry: RegistryDep, store: StoreDep, user: CurrentUser,
    interval_s: Annotated[float, Query(ge=0.5, le=60)] = 1.0,
    duration_s: Annotated[float, Query(ge=0, le=3600, description="the stream ends then; clients reconnect")] = 600,
) -> StreamingResponse:  # fmt: skip
    """Live readings and alarm changes of the line as Server-Sent Events (``text/event-stream``); the
    stream ends after ``duration_s`` and EventSource clients reconnect by themselves."""
    _require_line(registry, plant, area, line)
    path = (plant, area, line)
    events = _line_events(request, registry, store, user, path, interval_s=interval_s, duration_s=duration_s)
    return StreamingResponse(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
