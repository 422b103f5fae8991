"""Range queries shared by the sensor, plant-series and export routes: the time window, the bucket
choice (raw when it fits in MAX_POINTS, else an aggregate per bucket) and the data class 3 rule."""

from __future__ import annotations

from fastapi import HTTPException, status

from api.deps import raw_values_allowed
from api.models import RangeResult
from api.timerange import MAX_POINTS, NS_PER_S, choose_bucket_ns, parse_duration_ns, parse_time_ns
from ganlink.registry import ApiKey, SensorInfo
from ganlink.store import Aggregate, TimeSeriesStore
from ganlink.timestamps import now_ns

__all__ = ["MAX_RANGE_NS", "MIN_RESTRICTED_BUCKET_NS", "sensor_series", "time_window", "unprocessable"]

MAX_RANGE_NS = 400 * 86400 * NS_PER_S
MIN_RESTRICTED_BUCKET_NS = 60 * NS_PER_S


def unprocessable(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


def time_window(start: str, end: str, *, max_span_ns: int = MAX_RANGE_NS) -> tuple[int, int]:
    """Parse a query's [start, end) and check it is ordered and not longer than ``max_span_ns``."""
    now = now_ns()
    try:
        start_ns, end_ns = parse_time_ns(start, now_ns=now), parse_time_ns(end, now_ns=now)
    except ValueError as exc:
        raise unprocessable(str(exc)) from None
    if end_ns <= start_ns:
        raise unprocessable("start must be before end")
    if end_ns - start_ns > max_span_ns:
        raise unprocessable(f"range is longer than {max_span_ns / (86400 * NS_PER_S):g} days")
    return start_ns, end_ns


async def sensor_series(
    store: TimeSeriesStore,
    info: SensorInfo,
    user: ApiKey,
    window: tuple[int, int],
    *,
    bucket: str = "auto",
    aggregate: Aggregate = Aggregate.MEAN,
) -> RangeResult:
    """One sensor's points in ``window``: raw when they fit in MAX_POINTS, else bucketed."""
    start_ns, end_ns = window
    span = end_ns - start_ns
    if bucket == "auto":
        bucket_ns = choose_bucket_ns(span, info.sample_period_s)
    elif bucket == "raw":
        bucket_ns = None
    else:
        try:
            bucket_ns = parse_duration_ns(bucket)
        except ValueError as exc:
            raise unprocessable(str(exc)) from None
        if span / bucket_ns > MAX_POINTS:
            raise unprocessable(f"bucket {bucket} gives more than {MAX_POINTS} points; widen it or use auto")
    if not raw_values_allowed(user, info):
        # Data class 3 of a plant outside the key's scope: aggregates only, never raw points.
        if bucket == "raw":
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"{info.sensor_id} is data class 3: raw values only "
                                "for keys scoped to its plant; ask for a bucket")  # fmt: skip
        bucket_ns = max(bucket_ns or 0, MIN_RESTRICTED_BUCKET_NS)
    device = info.device_path
    points = await store.query_range(device, info.id, start_ns, end_ns, bucket_ns=bucket_ns, aggregate=aggregate)
    if bucket_ns is None and len(points) > MAX_POINTS:
        if bucket == "raw":
            raise unprocessable(f"more than {MAX_POINTS} raw points; narrow the range or use a bucket")
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
