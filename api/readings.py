"""Joining store values with registry metadata, shared by the plant and line routes."""

from __future__ import annotations

from collections.abc import Sequence

from api.deps import raw_values_allowed
from api.models import LatestReading
from ganlink.registry import ApiKey, SensorInfo
from ganlink.store import SensorSelector, TimeSeriesStore
from ganlink.timestamps import now_ns

__all__ = ["latest_readings", "latest_since_ns"]


# How far back a latest value is searched: 10 sample periods of the slowest sensor asked for, at least
# an hour. A sensor silent longer shows no value (it is stale); the bound keeps the store from
# searching the whole history.
LATEST_PERIODS = 10
LATEST_MIN_WINDOW_S = 3600.0


def latest_since_ns(sensors: Sequence[SensorInfo], now: int) -> int:
    """The oldest time a latest value of ``sensors`` may have to be shown as current."""
    slowest = max((info.sample_period_s for info in sensors), default=0.0)
    window_s = max(LATEST_MIN_WINDOW_S, LATEST_PERIODS * slowest)
    return now - int(window_s * 1_000_000_000)


async def latest_readings(
    store: TimeSeriesStore, selector: SensorSelector, sensors: Sequence[SensorInfo], user: ApiKey
) -> list[LatestReading]:
    """The newest value of each registered sensor in ``selector`` (None where the store has none in
    the window of :func:`latest_since_ns`, or where the value is withheld from this key: data class 3
    of a plant outside its scope)."""
    since = latest_since_ns(sensors, now_ns())
    newest = {v.device.sensor_id(v.sensor): v for v in await store.latest(selector, since_ns=since)}
    readings = []
    for info in sensors:
        restricted = not raw_values_allowed(user, info)
        value = None if restricted else newest.get(info.sensor_id)
        readings.append(
            LatestReading(
                sensor_id=info.sensor_id,
                area=info.area,
                line=info.line,
                device=info.device,
                sensor=info.id,
                name=info.name,
                unit=info.unit,
                kind=info.kind,
                range_min=info.range_min,
                range_max=info.range_max,
                key=info.key,
                time_ms=value.time_ns // 1_000_000 if value else None,
                value=value.value if value else None,
                quality=value.quality.label if value else None,
                restricted=restricted,
            )
        )
    return readings
