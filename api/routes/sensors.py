"""A sensor: its metadata, a range query with an automatic bucket, and a streamed raw export."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse

from api.deps import CurrentUser, RegistryDep, StoreDep, actor_of, client_address, raw_values_allowed
from api.models import RangeResult
from api.permissions import API_PREFIX
from api.series import sensor_series, time_window
from api.timerange import NS_PER_S
from ganlink.registry import Registry, SensorInfo
from ganlink.store import Aggregate, TimeSeriesStore
from ganlink.timestamps import format_rfc3339

router = APIRouter(prefix=API_PREFIX + "/sensors/{sensor_id}", tags=["sensors"])

MAX_EXPORT_NS = 31 * 86400 * NS_PER_S
MAX_EXPORT_POINTS = 2_000_000
_EXPORT_CHUNK_NS = 6 * 3600 * NS_PER_S

Start = Annotated[str, Query(description="RFC 3339, epoch ms, or now-1h")]
End = Annotated[str, Query(description="RFC 3339, epoch ms, or now")]


def _require_sensor(registry: Registry, sensor_id: str) -> SensorInfo:
    info = registry.sensor(sensor_id)
    if info is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no sensor {sensor_id!r}")
    return info


@router.get("")
async def sensor_metadata(sensor_id: str, registry: RegistryDep) -> SensorInfo:
    return _require_sensor(registry, sensor_id)


@router.get("/range")
async def sensor_range(
    sensor_id: str,
    *,
    registry: RegistryDep,
    store: StoreDep,
    user: CurrentUser,
    start: Start = "now-1h",
    end: End = "now",
    bucket: Annotated[str, Query(description="auto, raw, or a width such as 30s, 5m, 1h")] = "auto",
    aggregate: Aggregate = Aggregate.MEAN,
) -> RangeResult:
    """Readings in [start, end): raw when they fit in 2000 points, else one aggregate per bucket."""
    info = _require_sensor(registry, sensor_id)
    window = time_window(start, end)
    return await sensor_series(store, info, user, window, bucket=bucket, aggregate=aggregate)


async def _export_rows(
    store: TimeSeriesStore, info: SensorInfo, window: tuple[int, int], fmt: str
) -> AsyncIterator[str]:
    """Raw readings in time order, fetched in 6 h chunks so memory stays flat; stops at MAX_EXPORT_POINTS."""
    sent = 0
    yield "time,value\n" if fmt == "csv" else '{"sensor_id":' + json.dumps(info.sensor_id) + ',"points":['
    chunk_start = window[0]
    while chunk_start < window[1] and sent < MAX_EXPORT_POINTS:
        chunk_end = min(chunk_start + _EXPORT_CHUNK_NS, window[1])
        points = await store.query_range(info.device_path, info.id, chunk_start, chunk_end)
        lines = []
        for point in points[: MAX_EXPORT_POINTS - sent]:
            if fmt == "csv":
                lines.append(f"{format_rfc3339(point.time_ns)},{point.value!r}\n")
            else:
                lines.append(("," if sent or lines else "") + f"[{point.time_ns // 1_000_000},{point.value!r}]")
        sent += len(lines)
        if lines:
            yield "".join(lines)
        chunk_start = chunk_end
    if fmt != "csv":
        yield f'],"truncated":{"true" if sent >= MAX_EXPORT_POINTS else "false"}}}'


@router.get(
    "/export",
    response_model=None,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}, "application/json": {}},
                     "description": "raw readings"}},
)
async def sensor_export(
    sensor_id: str,
    *,
    request: Request,
    registry: RegistryDep,
    store: StoreDep,
    user: CurrentUser,
    start: Start = "now-1h",
    end: End = "now",
    format: Literal["csv", "json"] = "csv",
) -> StreamingResponse:
    """Raw readings of [start, end) (at most 31 days and 2 000 000 points), streamed; audited."""
    info = _require_sensor(registry, sensor_id)
    if not raw_values_allowed(user, info):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{sensor_id} is data class 3: raw export only for keys "
                            "scoped to its plant")  # fmt: skip
    window = time_window(start, end, max_span_ns=MAX_EXPORT_NS)
    registry.audit(actor_of(user), "export-telemetry", f"sensor/{sensor_id}",
                   {"start_ms": window[0] // 1_000_000, "end_ms": window[1] // 1_000_000, "format": format},
                   source=client_address(request))  # fmt: skip
    media = "text/csv; charset=utf-8" if format == "csv" else "application/json"
    filename = f"{sensor_id}.{format}"
    return StreamingResponse(_export_rows(store, info, window, format), media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})  # fmt: skip
