"""Browser-test fixtures: the three bundled plants with three simulated hours in an embedded store,
alarms from the simulator's labelled faults (some acknowledged, some labelled), a pending sensor,
and `ganlink api run` on a free port."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ganlink.alarms import Alarm, Label, Severity
from ganlink.assets import bundled_plant_files, load_plant_file
from ganlink.embedded_store import EmbeddedStore
from ganlink.registry import Registry, Role
from ganlink.schema import AnomalyEvent, Reading
from ganlink.servers import free_port, wait_for_port
from ganlink.topics import DevicePath
from gateway.simulator.plant import PlantSimulator

HOURS = 3
S = 1_000_000_000
NEW_PROBE = DevicePath("conch-cement", "clinker", "kiln-line-1", "rotary-kiln")
NEW_PROBE_ID = NEW_PROBE.sensor_id("shell-scanner-temp")


@dataclass(frozen=True)
class Served:
    url: str
    data_dir: Path
    tokens: dict[str, str]


async def _fill(data_dir: Path, registry: Registry) -> None:
    now = time.time_ns()
    start = now - HOURS * 3600 * S
    async with await EmbeddedStore.open(data_dir / "timeseries.sqlite") as store:
        for path in bundled_plant_files():
            simulator = PlantSimulator(load_plant_file(path), seed=11, start_ns=start)
            batch: list[Reading] = []
            for _, devices in simulator.run(now):
                for readings in devices:
                    batch.extend(readings)
                if len(batch) > 50_000:
                    await store.write_readings(batch)
                    batch = []
            await store.write_readings(batch)
            events = []
            for index, fault in enumerate(f for f in simulator.ground_truth if f.start_ns < now):
                plant, area, line, device, sensor = fault.sensor_id.split(".")
                path_ = DevicePath(plant, area, line, device)
                alarm_id = f"sim-{plant}-{index}"
                events.append(AnomalyEvent(path_, sensor, "robust-z", fault.start_ns, 0.9, 0.0, alarm_id))
                alarm = Alarm(alarm_id, fault.sensor_id, "robust-z", "1", Severity.MAJOR, fault.start_ns)
                if index % 3 != 2 and fault.start_ns + 240 * S < now:  # two in three acknowledged within minutes
                    alarm = alarm.acknowledge("shift lead", fault.start_ns + (60 + 90 * (index % 4)) * S)
                if index % 2 == 0:
                    alarm = alarm.set_label(Label.REAL, "shift lead")
                registry.open_alarm(alarm)
            await store.write_events(events)
        # a probe nobody registered yet: the collector stores its readings and reports it pending
        probe = [Reading(NEW_PROBE, "shell-scanner-temp", now - k * 5 * S, 310.0 + (k % 9) * 0.7) for k in range(120)]
        await store.write_readings(probe)
        registry.report_unknown_readings(probe)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data_dir = tmp_path_factory.mktemp("pages")
    registry = Registry(f"sqlite:///{data_dir / 'registry.sqlite'}")
    registry.create_schema()
    for path in bundled_plant_files():
        registry.load_plant_file(load_plant_file(path))
    asyncio.run(_fill(data_dir, registry))
    tokens = {role.value: registry.create_api_key(role, name=f"{role.value} (page test)")[1] for role in Role}
    registry.close()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GANLINK_")}
    env["GANLINK_DATA_DIR"] = str(data_dir)
    log = (data_dir / "api.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "ganlink", "api", "run", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    try:
        wait_for_port(port, timeout_s=30)
        yield Served(f"http://127.0.0.1:{port}", data_dir, tokens)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
