"""Write a simulated time range to disk for offline scoring: readings, one series per sensor,
and the ground truth of injected faults."""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganlink.assets import PlantFile
from ganlink.timestamps import format_rfc3339
from gateway.simulator import FaultSettings, simulate

__all__ = ["SimulationExport", "export_simulation"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SimulationExport:
    """What was written and where."""

    folder: Path
    readings: int
    sensors: int
    faults: int


def export_simulation(
    plant_file: PlantFile,
    start_ns: int,
    end_ns: int,
    seed: int,
    folder: Path,
    *,
    faults: FaultSettings | None = None,
    on_tick: Callable[[int], None] | None = None,
) -> SimulationExport:
    """Simulate [start_ns, end_ns) and write ``readings.csv`` (timestamp, sensor_id, value),
    ``series/<sensor_id>.csv`` (timestamp, value: the input form of ``ganlink analytics detect``)
    and ``ground_truth.csv`` / ``.json``. ``on_tick(ticks_done)`` reports progress."""
    run = simulate(plant_file, start_ns, end_ns, seed, faults=faults)
    series_folder = folder / "series"
    series_folder.mkdir(parents=True, exist_ok=True)
    count = 0
    with ExitStack() as files:
        readings_file = files.enter_context((folder / "readings.csv").open("w", newline="", encoding="utf-8"))
        readings_csv = csv.writer(readings_file, lineterminator="\n")
        readings_csv.writerow(["timestamp", "sensor_id", "value"])
        series: dict[str, Any] = {}
        ticks_done, last_tick = 0, None
        for batch in run:
            for reading in batch:
                sensor_id = reading.sensor_id
                writer = series.get(sensor_id)
                if writer is None:
                    handle = files.enter_context((series_folder / f"{sensor_id}.csv").open("w", encoding="utf-8"))
                    writer = series[sensor_id] = csv.writer(handle, lineterminator="\n")
                    writer.writerow(["timestamp", "value"])
                stamp = format_rfc3339(reading.time_ns)
                readings_csv.writerow([stamp, sensor_id, repr(reading.value)])
                writer.writerow([stamp, repr(reading.value)])
                count += 1
                if reading.time_ns != last_tick:
                    last_tick = reading.time_ns
                    ticks_done += 1
                    if on_tick is not None:
                        on_tick(ticks_done)
    run.ground_truth.write(folder)
    log.info("wrote %d readings of %d sensors and %d faults to %s", count, len(series), len(run.ground_truth), folder)
    return SimulationExport(folder, count, len(series), len(run.ground_truth))
