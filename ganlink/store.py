"""The time-series store contract: one interface, an InfluxDB (v1 HTTP API) and an embedded SQLite
implementation. Only the collector writes; the API and tools read.

Schema (DESIGN.md): measurement ``telemetry`` (tags plant, area, line, device, sensor; fields
value, quality), measurement ``anomaly`` (tags + detector; fields score, value, alarm_id).
Writes are idempotent: the same series and time overwrite, so replays never double-count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from ganlink.schema import AnomalyEvent, Quality, Reading
from ganlink.topics import DevicePath

__all__ = [
    "TELEMETRY_MEASUREMENT",
    "ANOMALY_MEASUREMENT",
    "Aggregate",
    "LatestValue",
    "SeriesPoint",
    "SensorKey",
    "SensorSelector",
    "TimeSeriesStore",
]

TELEMETRY_MEASUREMENT = "telemetry"
ANOMALY_MEASUREMENT = "anomaly"


class Aggregate(StrEnum):
    MEAN = "mean"
    MIN = "min"
    MAX = "max"
    LAST = "last"
    COUNT = "count"


@dataclass(frozen=True, slots=True)
class SensorSelector:
    """Which sensors a read covers: a plant and optionally narrower levels (None = all)."""

    plant: str
    area: str | None = None
    line: str | None = None
    device: str | None = None
    sensor: str | None = None


@dataclass(frozen=True, slots=True)
class SensorKey:
    """One telemetry series: a device path and a sensor of it (the five tags)."""

    device: DevicePath
    sensor: str

    @property
    def sensor_id(self) -> str:
        return self.device.sensor_id(self.sensor)


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One point of a range query; with buckets, ``time_ns`` is the bucket start."""

    time_ns: int
    value: float | None


@dataclass(frozen=True, slots=True)
class LatestValue:
    """The newest reading of one sensor."""

    device: DevicePath
    sensor: str
    time_ns: int
    value: float
    quality: Quality


@runtime_checkable
class TimeSeriesStore(Protocol):
    """What every time-series store offers. Implementations translate their own errors into
    ``ganlink.errors.StoreError`` subclasses at this boundary."""

    async def write_readings(self, readings: Sequence[Reading]) -> None:
        """Store readings (idempotent per series and time); raises StoreError on failure."""

    async def write_events(self, events: Sequence[AnomalyEvent]) -> None:
        """Store anomaly events (idempotent per series, detector and time)."""

    async def query_range(
        self,
        device: DevicePath,
        sensor: str,
        start_ns: int,
        end_ns: int,
        *,
        bucket_ns: int | None = None,
        aggregate: Aggregate = Aggregate.MEAN,
    ) -> list[SeriesPoint]:
        """Readings of one sensor in [start_ns, end_ns); with ``bucket_ns``, one aggregate per
        non-empty bucket aligned to multiples of ``bucket_ns`` since the epoch."""

    async def latest(self, selector: SensorSelector, *, since_ns: int | None = None) -> list[LatestValue]:
        """The newest reading of every sensor matching ``selector``; with ``since_ns``, only readings
        at or after it count (a sensor silent since then is left out), which bounds the search."""

    async def events(
        self, selector: SensorSelector, start_ns: int, end_ns: int, *, limit: int = 1000
    ) -> list[AnomalyEvent]:
        """Anomaly events in [start_ns, end_ns), newest first, at most ``limit``."""

    async def count_readings(self, selector: SensorSelector, start_ns: int, end_ns: int) -> int:
        """How many readings are stored for ``selector`` in [start_ns, end_ns)."""

    async def move_series(self, source: SensorKey, target: SensorKey, *, start_ns: int, end_ns: int) -> int:
        """Move the readings of ``source`` in [start_ns, end_ns) to ``target`` with their own times (a
        re-run overwrites, never doubles), a bounded chunk at a time; each chunk is deleted from
        ``source`` only after ``target`` holds at least as many readings over its span. Returns how
        many readings were moved."""

    async def close(self) -> None:
        """Release connections."""
