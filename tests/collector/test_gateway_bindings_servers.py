"""Gateway bindings survive a collector restart (real Mosquitto and InfluxDB): a gateway bound on first
sight to one plant is refused for another plant after the collector restarts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.config import CollectorConfig
from collector.dead_letter_store import DeadLetterStore
from collector.loadgen import Publisher, forget_session
from collector.service import Collector
from ganlink.influx import InfluxStore
from ganlink.registry import Registry
from ganlink.servers import InfluxServer, MosquittoServer
from ganlink.timestamps import now_ns
from ganlink.topics import DevicePath

from .conftest import plant_reading_count, wait_for

pytestmark = pytest.mark.servers

GATEWAY = "gw-binding-x"
PLANT_A, PLANT_B = "binding-plant-a", "binding-plant-b"


def _telemetry(plant: str, seq: int) -> tuple[str, bytes]:
    device = DevicePath(plant, "area-1", "line-1", "pump-1")
    reading = {"sensor": "temp", "ts": now_ns() // 1_000_000, "value": float(seq)}
    return device.telemetry_topic, json.dumps({"v": 1, "gateway": GATEWAY, "seq": seq, "readings": [reading]}).encode()


@pytest.fixture
async def influx_store(influxdb: InfluxServer) -> AsyncIterator[InfluxStore]:
    store = InfluxStore(influxdb.url, "t_gateway_bindings")
    await store.ensure_database()
    yield store
    await store.drop_database()
    await store.close()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    reg = Registry(f"sqlite:///{tmp_path / 'registry.sqlite'}")
    reg.create_schema()
    yield reg
    reg.close()


@pytest.fixture
def config(mosquitto: MosquittoServer, tmp_path: Path) -> Iterator[CollectorConfig]:
    client_id = f"collector-{tmp_path.name}"[:60]
    yield CollectorConfig(
        mqtt_port=mosquitto.port,
        client_id=client_id,
        share_group=None,
        flush_interval_s=0.05,
        data_dir=tmp_path,
        registry_refresh_s=0.3,
        onboarding_report_every_s=0.1,
    )
    forget_session("127.0.0.1", mosquitto.port, client_id)  # the shared broker stops queueing for it


async def _collect(config: CollectorConfig, store: InfluxStore, registry: Registry, *, until: Any,
                   messages: list[tuple[str, bytes]]) -> None:  # fmt: skip
    """Run one collector (start to stop) while ``messages`` are published, until ``until()`` holds."""
    stop = asyncio.Event()
    async with Collector(config, store, registry=registry) as collector:
        running = asyncio.create_task(collector.run(stop))
        publisher = Publisher("127.0.0.1", config.mqtt_port)
        await asyncio.to_thread(publisher.publish_all, messages)
        publisher.close()
        try:
            await wait_for(until)
        finally:
            stop.set()
            await running


async def test_a_learned_binding_survives_a_restart_and_the_other_plant_is_dead_lettered(
    config: CollectorConfig, influx_store: InfluxStore, registry: Registry, tmp_path: Path
) -> None:
    async def first_landed() -> bool:
        return await plant_reading_count(influx_store, PLANT_A) == 1

    await _collect(config, influx_store, registry, until=first_landed, messages=[_telemetry(PLANT_A, 1)])
    assert registry.gateway_bindings() == {GATEWAY: PLANT_A}

    dead_letters = DeadLetterStore(tmp_path / "deadletter.sqlite")

    async def both_handled() -> bool:
        stored = await plant_reading_count(influx_store, PLANT_A) - 1 + await plant_reading_count(influx_store, PLANT_B)
        return stored + sum(dead_letters.counts().values()) == 2

    # Restarted: the gateway now publishes for plant B first, then again for plant A.
    restarted = [_telemetry(PLANT_B, 2), _telemetry(PLANT_A, 3)]
    await _collect(config, influx_store, registry, until=both_handled, messages=restarted)
    assert await plant_reading_count(influx_store, PLANT_B) == 0
    assert await plant_reading_count(influx_store, PLANT_A) == 2
    assert dead_letters.counts() == {"wrong-plant": 1}
    [stored] = dead_letters.list(reason="wrong-plant")
    letter = stored.letter
    assert PLANT_B in letter.topic
    assert PLANT_A in letter.detail
    assert (letter.gateway, letter.seq) == (GATEWAY, 2)  # listed by gateway/seq, like a refused reading
    assert registry.gateway_bindings() == {GATEWAY: PLANT_A}
