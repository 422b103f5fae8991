"""An in-memory TimeSeriesStore for tests and benchmarks: keeps points by series and time, and can
be told to fail the next writes the way a real store does (see :meth:`MemoryStore.fail_next`)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from ganlink.errors import StoreError, WriteRejected
from ganlink.schema import AnomalyEvent, Reading
from ganlink.store import Aggregate, LatestValue, SensorKey, SensorSelector, SeriesPoint
from ganlink.topics import DevicePath

__all__ = ["MemoryStore"]

ReadingKey = tuple[DevicePath, str, int]


def _matches(selector: SensorSelector, device: DevicePath, sensor: str) -> bool:
    wanted = (selector.plant, selector.area, selector.line, selector.device, selector.sensor)
    actual = (device.plant, device.area, device.line, device.device, sensor)
    return all(w is None or w == a for w, a in zip(wanted, actual, strict=True))


class MemoryStore:
    """Readings keyed by (device, sensor, time): a rewrite overwrites, as in InfluxDB."""

    def __init__(self) -> None:
        self.readings: dict[ReadingKey, Reading] = {}
        self.stored_events: dict[tuple[DevicePath, str, str, int], AnomalyEvent] = {}
        self.write_calls = 0
        self._failures: deque[StoreError] = deque()
        self.reject: Callable[[Reading], str | None] = lambda _reading: None

    def fail_next(self, *errors: StoreError) -> None:
        """The next writes raise these errors, one per write call, in order."""
        self._failures.extend(errors)

    async def write_readings(self, readings: Sequence[Reading]) -> None:
        self.write_calls += 1
        if self._failures:
            raise self._failures.popleft()
        refusals = [message for message in map(self.reject, readings) if message]
        if refusals:
            # InfluxDB writes the good points of a partial write and refuses the rest.
            for reading in readings:
                if not self.reject(reading):
                    self.readings[(reading.device, reading.sensor, reading.time_ns)] = reading
            raise WriteRejected(url="memory://", status=400, server_message=f"partial write: {refusals[0]}")
        for reading in readings:
            self.readings[(reading.device, reading.sensor, reading.time_ns)] = reading

    async def write_events(self, events: Sequence[AnomalyEvent]) -> None:
        self.write_calls += 1
        if self._failures:
            raise self._failures.popleft()
        for event in events:
            self.stored_events[(event.device, event.sensor, event.detector, event.time_ns)] = event

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
        points = sorted(
            (r.time_ns, r.value)
            for (d, s, t), r in self.readings.items()
            if d == device and s == sensor and start_ns <= t < end_ns
        )
        return [SeriesPoint(t, v) for t, v in points]

    async def latest(self, selector: SensorSelector, *, since_ns: int | None = None) -> list[LatestValue]:
        newest: dict[tuple[DevicePath, str], Reading] = {}
        for (device, sensor, time_ns), reading in self.readings.items():
            if (since_ns is None or time_ns >= since_ns) and _matches(selector, device, sensor):
                held = newest.get((device, sensor))
                if held is None or held.time_ns < time_ns:
                    newest[(device, sensor)] = reading
        return [LatestValue(r.device, r.sensor, r.time_ns, r.value, r.quality) for r in newest.values()]

    async def events(
        self, selector: SensorSelector, start_ns: int, end_ns: int, *, limit: int = 1000
    ) -> list[AnomalyEvent]:
        chosen = [
            e
            for e in self.stored_events.values()
            if _matches(selector, e.device, e.sensor) and start_ns <= e.time_ns < end_ns
        ]
        return sorted(chosen, key=lambda e: e.time_ns, reverse=True)[:limit]

    async def count_readings(self, selector: SensorSelector, start_ns: int, end_ns: int) -> int:
        return sum(1 for (d, s, t) in self.readings if _matches(selector, d, s) and start_ns <= t < end_ns)

    async def move_series(self, source: SensorKey, target: SensorKey, *, start_ns: int, end_ns: int) -> int:
        if source == target:
            raise ValueError(f"cannot move {source.sensor_id} onto itself")
        wanted = (source.device, source.sensor)
        keys = [k for k in self.readings if (k[0], k[1]) == wanted and start_ns <= k[2] < end_ns]
        for key in keys:
            r = self.readings.pop(key)
            self.readings[(target.device, target.sensor, r.time_ns)] = Reading(
                target.device, target.sensor, r.time_ns, r.value, r.quality
            )
        return len(keys)

    async def close(self) -> None:
        return None
