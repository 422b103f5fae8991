"""Sparkplug B end to end: the gateway as an edge node -> Mosquitto -> the collector's Sparkplug
input. Every reading lands under its plant device; nothing of the edge node is dead-lettered."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from collector.config import CollectorConfig
from collector.loadgen import forget_session
from collector.memory_store import MemoryStore
from collector.service import Collector
from ganlink.assets import bundled_plant_files, load_plant_file
from ganlink.schema import Reading
from ganlink.servers import MosquittoServer
from ganlink.timestamps import now_ns
from gateway.sparkplug_publisher import SparkplugPublisher

pytestmark = pytest.mark.servers


async def test_gateway_sparkplug_output_lands_through_the_collector(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    plant = next(load_plant_file(p) for p in bundled_plant_files() if p.stem == "guixi-smelter")
    refs = list(plant.sensors())[:4]
    start = now_ns() // 1_000_000 * 1_000_000 - 600 * 10**9
    batches = [[Reading(r.device, r.sensor.id, start + i * 10**9, 100.0 + i + k) for k, r in enumerate(refs)]
               for i in range(50)]
    config = CollectorConfig(
        mqtt_port=mosquitto.port, client_id="spb-e2e-collector", share_group=None, flush_interval_s=0.05,
        data_dir=tmp_path,
    )  # fmt: skip
    store = MemoryStore()
    stop = asyncio.Event()
    async with Collector(config, store) as collector:
        running = asyncio.create_task(collector.run(stop))
        edge = SparkplugPublisher(gateway="gw-spb-e2e", plant=plant.plant.id, mqtt_url=mosquitto.url)
        await edge.start()
        await asyncio.sleep(0.3)  # births go out on connect
        for batch in batches:
            edge.publish_nowait(batch)
        for _ in range(200):
            if len(store.readings) >= 200:
                break
            await asyncio.sleep(0.05)
        await edge.stop()
        stop.set()
        await running
    forget_session("127.0.0.1", mosquitto.port, "spb-e2e-collector")
    assert len(store.readings) == 200
    assert dict(collector.metrics.dead_lettered) == {}
    assert collector.sequences.totals().gaps == 0
