"""The demo's wiring: the collector on the embedded amqtt broker (MQTT 3.1.1, no shared
subscriptions) writing to the embedded SQLite store it is given."""

from __future__ import annotations

import asyncio
from pathlib import Path

from collector.config import MqttProtocol
from collector.loadgen import Publisher, TrafficPlan, telemetry_messages
from collector.service import run_collector
from ganlink.embedded_broker import EmbeddedBroker
from ganlink.embedded_store import EmbeddedStore
from ganlink.servers import free_port
from ganlink.settings import Settings
from ganlink.store import SensorSelector


async def test_collector_runs_on_the_embedded_broker_and_store(tmp_path: Path) -> None:
    port = free_port()
    plan = TrafficPlan(messages=200, readings_per_message=5, devices=4, plant="demo-plant")
    async with EmbeddedBroker(port) as broker:
        store = await EmbeddedStore.open(tmp_path / "timeseries.sqlite")
        settings = Settings(mqtt_url=broker.url, data_dir=tmp_path, collector_flush_interval_s=0.05)
        stop, ready = asyncio.Event(), asyncio.Event()
        running = asyncio.create_task(
            run_collector(settings, stop=stop, ready=ready, store=store, protocol=MqttProtocol.V311, share_group=None)
        )
        await asyncio.wait_for(ready.wait(), 15)

        def publish() -> int:
            publisher = Publisher("127.0.0.1", port)
            try:
                return publisher.publish_all(telemetry_messages(plan), timeout_s=60)
            finally:
                publisher.close()

        assert await asyncio.to_thread(publish) == plan.messages
        landed = 0
        for _ in range(200):
            landed = await store.count_readings(SensorSelector("demo-plant"), 0, 2**62)
            if landed == plan.readings:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await running
        await store.close()
    assert landed == plan.readings
