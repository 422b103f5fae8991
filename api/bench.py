"""`ganlink bench api`: p95 latency of the two queries dashboards make most, over HTTP against the API
served by uvicorn, with InfluxDB behind it holding ``--days`` of 1 Hz history for ``--sensors`` sensors:

- ``p95_ms_range``: a 24 h range query for one sensor with 1-minute mean buckets;
- ``p95_ms_latest``: the latest values of one line (10 sensors).

InfluxDB is started on a free port via ganlink.servers unless ``--influx`` names one (whose ``ganlink``
database is then filled). Each phase runs ``--seconds`` of back-to-back requests.

Loading the full size (30 days x 200 sensors = 518 million points) takes about half an hour here, so
``--data-dir DIR`` keeps the started InfluxDB's files in DIR together with a note of what was loaded;
a later run with the same ``--days`` and ``--sensors`` measures again without loading.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

__all__ = ["run"]

SENSORS_PER_LINE = 10
WRITE_BATCH = 25_000
WRITERS = 3
_NS_PER_S = 1_000_000_000
PLANT = "bench-plant"
LOADED_NOTE = "bench-api-loaded.json"


def _line_protocol(sensor_index: int, start_s: int, count: int) -> list[str]:
    """``count`` 1 Hz readings of one bench sensor from ``start_s``: a slow sine plus a sawtooth."""
    line, device = divmod(sensor_index, SENSORS_PER_LINE)
    key = f"telemetry,plant={PLANT},area=area-1,line=line-{line:03d},device=dev-{device},sensor=s"
    phase = sensor_index * 0.7
    return [
        f"{key} value={500 + 100 * math.sin((start_s + k) / 3600 + phase) + (k % 60) / 10:.3f},quality=0i "
        f"{(start_s + k) * _NS_PER_S}"
        for k in range(count)
    ]


async def _load(store: Any, sensors: int, start_s: int, end_s: int) -> int:
    """Write [start_s, end_s) in batches with a few concurrent writers, showing progress; returns points written."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn  # noqa: PLC0415

    queue: asyncio.Queue[tuple[int, int, int] | None] = asyncio.Queue(maxsize=WRITERS * 2)
    written = 0
    columns = (TextColumn("loading"), BarColumn(), MofNCompleteColumn(), TextColumn("points"), TimeRemainingColumn())
    with Progress(*columns) as progress:
        bar = progress.add_task("load", total=sensors * (end_s - start_s))

        async def writer() -> None:
            nonlocal written
            while (job := await queue.get()) is not None:
                sensor, chunk_start, count = job
                await store.write_lines(_line_protocol(sensor, chunk_start, count))
                written += count
                progress.advance(bar, count)

        tasks = [asyncio.create_task(writer()) for _ in range(WRITERS)]
        for chunk_start in range(start_s, end_s, WRITE_BATCH):
            count = min(WRITE_BATCH, end_s - chunk_start)
            for sensor in range(sensors):
                await queue.put((sensor, chunk_start, count))
        for _ in tasks:
            await queue.put(None)
        await asyncio.gather(*tasks)
    return written


def _loaded_before(data_dir: Path | None, sensors: int, days: float) -> dict[str, Any] | None:
    """What an earlier run with ``--data-dir`` loaded there, if it was this same size."""
    if data_dir is None or not (data_dir / LOADED_NOTE).exists():
        return None
    note: dict[str, Any] = json.loads((data_dir / LOADED_NOTE).read_text())
    return note if note.get("sensors") == sensors and note.get("days") == days else None


def _registry(workdir: Path, sensors: int) -> tuple[Any, str]:
    from ganlink.registry import PlantInfo, Registry, Role, SensorSpec  # noqa: PLC0415
    from ganlink.topics import DevicePath  # noqa: PLC0415

    registry = Registry(f"sqlite:///{workdir / 'registry.sqlite'}")
    registry.create_schema()
    registry.upsert_plant(PlantInfo(id=PLANT, name="Bench plant", industry="nonferrous", timezone="UTC", shifts=[],
                                    nameplate_value=1.0, nameplate_unit="t/d", gateway="bench-gw"))  # fmt: skip
    spec = SensorSpec(unit="Cel", kind="temperature", range_min=0, range_max=1000, sample_period_s=1.0, key=True)
    specs = []
    for index in range(sensors):
        line, device = divmod(index, SENSORS_PER_LINE)
        specs.append((DevicePath(PLANT, "area-1", f"line-{line:03d}", f"dev-{device}"), "s", spec))
    registry.apply_sensor_specs(specs)
    _, token = registry.create_api_key(Role.VIEWER, [PLANT], name="bench")
    return registry, token


@contextlib.asynccontextmanager
async def _serve(app: Any) -> AsyncIterator[str]:
    import uvicorn  # noqa: PLC0415

    from ganlink.servers import free_port  # noqa: PLC0415

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve(), name="bench-api")
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes only this flag
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _measure(client: Any, paths: list[str], seconds: float) -> list[float]:
    """Back-to-back GETs of random paths for ``seconds``; latencies in ms (every answer must be 200)."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(latencies) < 20:
        path = random.choice(paths)
        started = time.perf_counter()
        response = await client.get(path)
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}: {response.text[:200]}")
    return latencies


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _settle(pid: int | None, *, idle_share: float = 0.2, timeout_s: float = 180.0) -> float:
    """Wait until influxd's post-load compactions quiet down (CPU share under ``idle_share`` for 3 s in
    a row), so the queries are measured on a steady database; returns the seconds waited."""
    started = time.monotonic()
    if pid is None:
        await asyncio.sleep(5.0)
        return time.monotonic() - started
    quiet = 0
    while quiet < 3 and time.monotonic() - started < timeout_s:
        before = _cpu_seconds(pid)
        await asyncio.sleep(1.0)
        quiet = quiet + 1 if _cpu_seconds(pid) - before < idle_share else 0
    return time.monotonic() - started


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[94]


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    import httpx  # noqa: PLC0415

    from api.app import create_app  # noqa: PLC0415
    from ganlink.influx import InfluxStore  # noqa: PLC0415
    from ganlink.servers import InfluxServer  # noqa: PLC0415
    from ganlink.settings import Settings  # noqa: PLC0415

    sensors, days = int(args.sensors), float(args.days)
    data_dir = Path(args.data_dir) if args.data_dir else None  # made absolute by run()
    with tempfile.TemporaryDirectory(prefix="ganlink-bench-api-") as tmp, contextlib.ExitStack() as servers:
        workdir = Path(tmp)
        influx_dir = (data_dir or workdir) / "influxdb"
        influx = None if args.influx else servers.enter_context(InfluxServer(influx_dir))
        influx_url = str(args.influx) if influx is None else influx.url
        settings = Settings(data_dir=workdir, influx_url=influx_url, api_rate_limit_per_s=1e6,
                            api_rate_limit_burst=1_000_000)  # fmt: skip
        registry, token = _registry(workdir, sensors)
        async with InfluxStore.from_settings(settings) as store:
            await store.ensure_database()
            loaded = None if args.influx else _loaded_before(data_dir, sensors, days)
            end_s = int(time.time())
            if loaded is not None:
                # Top the history up to now, so the latest values are current (they are searched back
                # an hour or ten sample periods only) and the queried day is the last full one.
                points, load_s = int(loaded["points"]), float(loaded["load_s"])
                start_s = int(loaded.get("start_s", loaded["end_s"] - int(days * 86400)))
                print(f"reusing {points} points loaded earlier into {influx_dir}; adding the time since")
                points += await _load(store, sensors, int(loaded["end_s"]), end_s)
            else:
                started = time.perf_counter()
                start_s = end_s - int(days * 86400)
                points = await _load(store, sensors, start_s, end_s)
                load_s = time.perf_counter() - started
                print(f"loaded {points} points ({sensors} sensors x {days:g} days) in {load_s:.0f} s")
            if data_dir is not None and not args.influx:
                note = {"sensors": sensors, "days": days, "start_s": start_s, "end_s": end_s, "points": points,
                        "load_s": load_s}  # fmt: skip
                (data_dir / LOADED_NOTE).write_text(json.dumps(note))
            pid = influx.process.pid if influx is not None and influx.process is not None else None
            print(f"waited {await _settle(pid):.0f} s for InfluxDB compactions to settle")
            app = create_app(settings, store=store, registry=registry, sync_alarms=False)
            lines = sorted({s.line for s in registry.sensors_of(PLANT)})
            # The last loaded day (not now-24h: loading takes minutes, and no data is written after it).
            day = f"start={(end_s - 86400) * 1000}&end={end_s * 1000}"
            range_paths = [f"/api/v1/sensors/{s.sensor_id}/range?{day}&bucket=1m" for s in registry.sensors_of(PLANT)]
            latest_paths = [f"/api/v1/plants/{PLANT}/areas/area-1/lines/{line}/latest" for line in lines]
            async with _serve(app) as url, httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            ) as client:
                check = (await client.get(range_paths[0])).json()
                buckets = min(end_s - start_s, 86400) / 60
                if not buckets - 2 <= len(check["points"]) <= buckets + 1 or check["bucket_s"] != 60:
                    raise RuntimeError(f"24 h / 1 min query returned {len(check['points'])} points, not {buckets:.0f}")
                latest = (await client.get(latest_paths[0])).json()
                if not latest or any(reading["value"] is None for reading in latest):
                    raise RuntimeError(f"a line's latest values are missing: {latest}")
                await _measure(client, range_paths, min(2.0, args.seconds))  # warm-up
                range_ms = await _measure(client, range_paths, args.seconds)
                latest_ms = await _measure(client, latest_paths, args.seconds)
        registry.close()
    return {
        "p95_ms_range": round(_p95(range_ms), 2),
        "p95_ms_latest": round(_p95(latest_ms), 2),
        "p50_ms_range": round(statistics.median(range_ms), 2),
        "p50_ms_latest": round(statistics.median(latest_ms), 2),
        "requests_range": len(range_ms),
        "requests_latest": len(latest_ms),
        "points_loaded": points,
        "sensors": sensors,
        "days": days,
        "load_points_per_s": round(points / load_s),
    }


def run(args: argparse.Namespace) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would drown the report
    args.data_dir = str(Path(args.data_dir).resolve()) if args.data_dir else ""
    result = asyncio.run(_bench(args))
    for name, value in result.items():
        print(f"{name:>20}: {value}")
    if args.json:
        print(json.dumps(result))
    return 0
