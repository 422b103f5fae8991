"""A disk spool for batches the store could not take for a long time; replayed in arrival order.

One file per batch (JSON), written to a temp name, fsynced and renamed, so a crash leaves either
the whole batch or nothing. Files are named by a rising counter; the oldest is replayed first.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from collector.batching import Origin
from ganlink.schema import AnomalyEvent, Quality, Reading
from ganlink.topics import DevicePath

__all__ = ["DiskSpool", "SpooledBatch"]

_SUFFIX = ".batch.json"


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    """A batch read back from the spool; ``path`` is removed once it is written."""

    path: Path
    readings: list[Reading]
    events: list[AnomalyEvent]
    origins: list[Origin]


def _reading_row(r: Reading) -> list[object]:
    d = r.device
    return [d.plant, d.area, d.line, d.device, r.sensor, r.time_ns, r.value, int(r.quality)]


def _event_row(e: AnomalyEvent) -> list[object]:
    d = e.device
    return [d.plant, d.area, d.line, d.device, e.sensor, e.detector, e.time_ns, e.score, e.value, e.alarm_id]


class DiskSpool:
    """Batches kept on disk in ``directory`` until the store takes them."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        for leftover in directory.glob("*.tmp"):
            leftover.unlink()
        names = sorted(directory.glob(f"*{_SUFFIX}"))
        self._next = int(names[-1].name.split(".")[0]) + 1 if names else 0

    @property
    def directory(self) -> Path:
        return self._directory

    def __len__(self) -> int:
        return sum(1 for _ in self._directory.glob(f"*{_SUFFIX}"))

    def put(self, readings: list[Reading], events: list[AnomalyEvent], origins: list[Origin]) -> Path:
        """Persist one batch durably (fsync) and return its file."""
        body = {
            "readings": [_reading_row(r) for r in readings],
            "events": [_event_row(e) for e in events],
            "origins": origins,
        }
        path = self._directory / f"{self._next:016d}{_SUFFIX}"
        self._next += 1
        temp = path.with_suffix(".tmp")
        with temp.open("w", encoding="utf-8") as file:
            json.dump(body, file, separators=(",", ":"))
            file.flush()
            os.fsync(file.fileno())
        temp.rename(path)
        directory_fd = os.open(self._directory, os.O_RDONLY)
        try:
            os.fsync(directory_fd)
        finally:
            os.close(directory_fd)
        return path

    def oldest(self) -> SpooledBatch | None:
        """The oldest spooled batch, or None when the spool is empty."""
        names = sorted(self._directory.glob(f"*{_SUFFIX}"))
        if not names:
            return None
        path = names[0]
        body = json.loads(path.read_text(encoding="utf-8"))
        readings = [
            Reading(DevicePath(p, a, ln, dv), s, t, float(v), Quality(q))
            for p, a, ln, dv, s, t, v, q in body["readings"]
        ]
        events = [
            AnomalyEvent(DevicePath(p, a, ln, dv), s, det, t, float(sc), float(v), aid)
            for p, a, ln, dv, s, det, t, sc, v, aid in body["events"]
        ]
        origins: list[Origin] = [(int(i), g, q) for i, g, q in body["origins"]]
        return SpooledBatch(path, readings, events, origins)

    def remove(self, batch: SpooledBatch) -> None:
        batch.path.unlink(missing_ok=True)
