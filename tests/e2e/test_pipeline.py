"""End to end on real parts: gateway publisher -> Mosquitto -> collector -> InfluxDB -> API.

Exactly the readings published come back from the API: same count, same values, no loss, no
duplicates.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from collector.config import CollectorConfig
from collector.service import Collector
from ganlink.assets import PlantFile, bundled_plant_files, load_plant_file
from ganlink.influx import InfluxStore
from ganlink.registry import ALL_PLANTS, Registry, Role
from ganlink.schema import Reading
from ganlink.servers import InfluxServer, MosquittoServer
from ganlink.settings import Settings
from ganlink.store import SensorSelector
from ganlink.timestamps import now_ns
from gateway.publisher import GatewayPublisher

pytestmark = pytest.mark.servers

TIMESTAMPS = 2000  # one raw API window per sensor (the API returns at most 2000 raw points)
NS_PER_S = 1_000_000_000


def smelter() -> PlantFile:
    return next(load_plant_file(p) for p in bundled_plant_files() if p.stem == "guixi-smelter")


def known_readings(plant: PlantFile, start_ns: int) -> list[Reading]:
    """6 sensors x 2000 seconds of distinct, exactly representable values."""
    refs = list(plant.sensors())[:6]
    return [
        Reading(ref.device, ref.sensor.id, start_ns + i * NS_PER_S, float(k * 100_000 + i) + 0.125)
        for i in range(TIMESTAMPS)
        for k, ref in enumerate(refs)
    ]


@pytest.fixture
async def influx_store(influxdb: InfluxServer) -> AsyncIterator[InfluxStore]:
    settings = Settings(influx_url=influxdb.url, influx_db="e2e_pipeline")
    store = InfluxStore.from_settings(settings)
    await store.drop_database()
    await store.ensure_database()
    yield store
    await store.close()


async def wait_for_count(store: InfluxStore, plant: str, start_ns: int, end_ns: int, expected: int) -> int:
    count = -1
    for _ in range(300):
        count = await store.count_readings(SensorSelector(plant=plant), start_ns, end_ns)
        if count >= expected:
            return count
        await asyncio.sleep(0.1)
    return count


async def test_published_readings_come_back_from_the_api_exactly_once(
    mosquitto: MosquittoServer, influx_store: InfluxStore, tmp_path: Path
) -> None:
    plant = smelter()
    start_ns = (now_ns() // NS_PER_S - 3 * 3600) * NS_PER_S
    readings = known_readings(plant, start_ns)
    assert len(readings) >= 10_000

    config = CollectorConfig(
        mqtt_port=int(mosquitto.url.rsplit(":", 1)[1]),
        client_id="e2e-collector",
        share_group=None,
        data_dir=tmp_path / "collector",
        flush_interval_s=0.05,
    )
    stop = asyncio.Event()
    async with Collector(config, influx_store) as collector:
        collecting = asyncio.create_task(collector.run(stop))
        async with asyncio.timeout(60):
            publisher = GatewayPublisher(
                gateway="gw-e2e", plant=plant.plant.id, mqtt_url=mosquitto.url, max_readings_per_message=20
            )
            await publisher.start()
            try:
                for chunk in range(0, len(readings), 1200):
                    await publisher.publish(readings[chunk : chunk + 1200])
            finally:
                await publisher.stop()
        end_ns = start_ns + TIMESTAMPS * NS_PER_S
        stored = await wait_for_count(influx_store, plant.plant.id, start_ns, end_ns, len(readings))
        stop.set()
        await collecting
    assert publisher.readings_acked == len(readings)
    assert stored == len(readings)

    registry = Registry(f"sqlite:///{tmp_path / 'registry.sqlite'}")
    registry.create_schema()
    registry.load_plant_file(plant)
    _key, token = registry.create_api_key(Role.VIEWER, [ALL_PLANTS], name="e2e")
    app = create_app(Settings(data_dir=tmp_path), store=influx_store, registry=registry)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://e2e", headers={"Authorization": f"Bearer {token}"}
    ) as api:
        for ref in list(plant.sensors())[:6]:
            response = await api.get(
                f"/api/v1/sensors/{ref.sensor_id}/range",
                params={"start": str(start_ns // 1_000_000), "end": str(end_ns // 1_000_000), "bucket": "raw"},
            )
            assert response.status_code == 200, response.text
            got = [(t, v) for t, v in response.json()["points"]]
            want = [(r.time_ns // 1_000_000, r.value) for r in readings if r.sensor_id == ref.sensor_id]
            assert got == want
    registry.close()
