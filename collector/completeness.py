"""Completeness per sensor: readings received vs expected from the sensor's sample period.

Counted by source-time window (default one minute). A window is reported once it is closed (its
end is ``grace_s`` in the past by the wall clock) and kept in a small SQLite table the API can read::

    completeness(plant, area, line, device, sensor, window_start_ns, window_s, received, expected)

``expected`` is NULL for sensors no plant file declares (received is still counted).
"""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from ganlink.assets import load_plant_file
from ganlink.schema import Reading
from ganlink.topics import DevicePath

__all__ = ["CompletenessStore", "CompletenessTracker", "WindowCompleteness"]

_NS_PER_S = 1_000_000_000
SensorKey = tuple[DevicePath, str]


@dataclass(frozen=True, slots=True)
class WindowCompleteness:
    """One sensor in one closed window."""

    device: DevicePath
    sensor: str
    window_start_ns: int
    window_s: float
    received: int
    expected: float | None

    @property
    def ratio(self) -> float | None:
        return None if not self.expected else min(1.0, self.received / self.expected)


class CompletenessTracker:
    """Counts readings per sensor and source-time window; thread-safe."""

    def __init__(self, sample_periods: dict[SensorKey, float], *, window_s: float = 60.0, grace_s: float = 30.0):
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        self._periods = sample_periods
        self._window_ns = int(window_s * _NS_PER_S)
        self._grace_ns = int(grace_s * _NS_PER_S)
        self._counts: Counter[tuple[DevicePath, str, int]] = Counter()
        self._lock = threading.Lock()

    @classmethod
    def from_plant_files(cls, paths: Iterable[Path], **kwargs: float) -> CompletenessTracker:
        periods = {
            (ref.device, ref.sensor.id): ref.sensor.sample_period_s
            for path in paths
            for ref in load_plant_file(path).sensors()
        }
        return cls(periods, **kwargs)

    def observe(self, readings: Sequence[Reading]) -> None:
        window = self._window_ns
        per_device: dict[DevicePath, dict[tuple[str, int], int]] = {}
        device: DevicePath | None = None
        counts: dict[tuple[str, int], int] = {}
        last_time: int | None = None
        start = 0
        for reading in readings:
            # A message's readings share one DevicePath object: hash the dataclass once per run of them.
            if reading.device is not device:
                device = reading.device
                counts = per_device.setdefault(device, {})
            time_ns = reading.time_ns
            if time_ns != last_time:  # and usually one source time: its window is found once
                last_time, start = time_ns, time_ns - time_ns % window
            key = (reading.sensor, start)
            counts[key] = counts.get(key, 0) + 1
        with self._lock:
            for path, sensor_counts in per_device.items():
                for (sensor, start), count in sensor_counts.items():
                    self._counts[(path, sensor, start)] += count

    def closed(self, now_ns: int) -> list[WindowCompleteness]:
        """Windows that ended at least ``grace_s`` ago; they are forgotten once returned."""
        horizon = now_ns - self._grace_ns - self._window_ns
        with self._lock:
            done = [key for key in self._counts if key[2] <= horizon]
            taken = [(key, self._counts.pop(key)) for key in done]
        window_s = self._window_ns / _NS_PER_S
        result = []
        for (device, sensor, start), received in taken:
            period = self._periods.get((device, sensor))
            expected = window_s / period if period else None
            result.append(WindowCompleteness(device, sensor, start, window_s, received, expected))
        return result


_SCHEMA = """
CREATE TABLE IF NOT EXISTS completeness (
    plant TEXT NOT NULL, area TEXT NOT NULL, line TEXT NOT NULL, device TEXT NOT NULL, sensor TEXT NOT NULL,
    window_start_ns INTEGER NOT NULL, window_s REAL NOT NULL, received INTEGER NOT NULL, expected REAL,
    PRIMARY KEY (plant, area, line, device, sensor, window_start_ns)
)
"""


class CompletenessStore:
    """Closed windows in SQLite; a late reading of an already reported window adds to its count."""

    def __init__(self, path: Path) -> None:
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(path, timeout=30)) as db, db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    def add(self, windows: Sequence[WindowCompleteness]) -> None:
        rows = [
            (w.device.plant, w.device.area, w.device.line, w.device.device, w.sensor, w.window_start_ns, w.window_s,
             w.received, w.expected)
            for w in windows
        ]  # fmt: skip
        with closing(sqlite3.connect(self._path, timeout=30)) as db, db:
            db.executemany(
                "INSERT INTO completeness VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (plant, area, line, device, sensor, window_start_ns)"
                " DO UPDATE SET received = received + excluded.received",
                rows,
            )

    def windows(self, plant: str, start_ns: int, end_ns: int) -> list[WindowCompleteness]:
        with closing(sqlite3.connect(self._path, timeout=30)) as db:
            rows = db.execute(
                "SELECT plant, area, line, device, sensor, window_start_ns, window_s, received, expected"
                " FROM completeness WHERE plant = ? AND window_start_ns >= ? AND window_start_ns < ?"
                " ORDER BY window_start_ns, device, sensor",
                (plant, start_ns, end_ns),
            ).fetchall()
        return [WindowCompleteness(DevicePath(p, a, ln, d), s, t, w, r, e) for p, a, ln, d, s, t, w, r, e in rows]
