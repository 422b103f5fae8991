"""A sensor: its metadata and a range query with an automatic bucket."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api.deps import CurrentUser, RegistryDep, StoreDep, raw_values_allowed
from api.models import RangeResult
from api.permissions import API_PREFIX
from api.timerange import MAX_POINTS, NS_PER_S, choose_bucket_ns, parse_duration_ns, parse_time_ns
from ganlink.registry import Registry, SensorInfo
from ganlink.store import Aggregate
from ganlink.timestamps import now_ns

router = APIRouter(prefix=API_PREFIX + "/sensors/{sensor_id}", tags=["sensors"])

MAX_RANGE_NS = 400 * 86400 * NS_PER_S
MIN_RESTRICTED_BUCKET_NS = 60 * NS_PER_S


def _require_sensor(registry: Registry, sensor_id: str) -> SensorInfo:
    info = registry.sensor(sensor_id)
    if info is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no sensor {sensor_id!r}")
    return info


def _unprocessable(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


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
    start: Annotated[str, Query(description="RFC 3339, epoch ms, or now-1h")] = "now-1h",
    end: Annotated[str, Query(description="RFC 3339, epoch ms, or now")] = "now",
    bucket: Annotated[str, Query(description="auto, raw, or a width such as 30s, 5m, 1h")] = "auto",
    aggregate: Aggregate = Aggregate.MEAN,
) -> RangeResult:
    """Readings in [start, end): raw when they fit in 2000 points, else one aggregate per bucket."""
    info = _require_sensor(registry, sensor_id)
    now = now_ns()
    try:
        start_ns, end_ns = parse_time_ns(start, now_ns=now), parse_time_ns(end, now_ns=now)
    except ValueError as exc:
        raise _unprocessable(str(exc)) from None
    span = end_ns - start_ns
    if span <= 0:
        raise _unprocessable("start must be before end")
    if span > MAX_RANGE_NS:
        raise _unprocessable(f"range is longer than {MAX_RANGE_NS // (86400 * NS_PER_S)} days")
    if bucket == "auto":
        bucket_ns = choose_bucket_ns(span, info.sample_period_s)
    elif bucket == "raw":
        bucket_ns = None
    else:
        try:
            bucket_ns = parse_duration_ns(bucket)
        except ValueError as exc:
            raise _unprocessable(str(exc)) from None
        if span / bucket_ns > MAX_POINTS:
            raise _unprocessable(f"bucket {bucket} gives more than {MAX_POINTS} points; widen it or use auto")
    if not raw_values_allowed(user, info):
        # Data class 3 of a plant outside the key's scope: aggregates only, never raw points.
        if bucket == "raw":
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"{sensor_id} is data class 3: raw values only for "
                                "keys scoped to its plant; ask for a bucket")  # fmt: skip
        bucket_ns = max(bucket_ns or 0, MIN_RESTRICTED_BUCKET_NS)
    device = info.device_path
    points = await store.query_range(device, info.id, start_ns, end_ns, bucket_ns=bucket_ns, aggregate=aggregate)
    if bucket_ns is None and len(points) > MAX_POINTS:  # raw was allowed and chosen
        if bucket == "raw":
            raise _unprocessable(f"more than {MAX_POINTS} raw points; narrow the range or use a bucket")
        # The sensor reports faster than its registered period: bucket by what was actually found.
        bucket_ns = choose_bucket_ns(span, span / len(points) / NS_PER_S)
        points = await store.query_range(device, info.id, start_ns, end_ns, bucket_ns=bucket_ns, aggregate=aggregate)
    return RangeResult(
        sensor_id=info.sensor_id,
        unit=info.unit,
        range_min=info.range_min,
        range_max=info.range_max,
        start_ms=start_ns // 1_000_000,
        end_ms=end_ns // 1_000_000,
        bucket_s=bucket_ns / NS_PER_S if bucket_ns else None,
        aggregate=str(aggregate) if bucket_ns else None,
        points=[(p.time_ns // 1_000_000, p.value) for p in points],
    )
