"""The collector against real Mosquitto and InfluxDB: exactly the valid readings land, the bad ones
are dead-lettered with a reason, and nothing is acknowledged before it is written."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector.config import CollectorConfig, MqttProtocol
from collector.dead_letter_store import DeadLetterStore
from collector.loadgen import Publisher, TrafficPlan, forget_session, telemetry_messages
from collector.service import Collector
from ganlink.influx import InfluxStore
from ganlink.servers import InfluxServer, MosquittoServer
from ganlink.topics import DEADLETTER_SUBSCRIPTION

from .conftest import plant_reading_count, wait_for

pytestmark = pytest.mark.servers


class DeadLetterWatcher:
    """Subscribes to the dead-letter topics and keeps every body it sees."""

    def __init__(self, broker: MosquittoServer) -> None:
        self.bodies: list[dict[str, Any]] = []
        self._ready = threading.Event()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
        self._client.on_connect = lambda client, *_a: client.subscribe(DEADLETTER_SUBSCRIPTION, qos=1)
        self._client.on_subscribe = lambda *_a: self._ready.set()
        self._client.on_message = lambda _c, _u, message: self.bodies.append(
            {**json.loads(message.payload), "_topic": message.topic}
        )
        self._client.connect("127.0.0.1", broker.port)
        self._client.loop_start()
        assert self._ready.wait(10)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
async def influx_store(influxdb: InfluxServer, request: pytest.FixtureRequest) -> AsyncIterator[InfluxStore]:
    name = "t_" + request.node.name.replace("[", "_").replace("]", "_").replace("-", "_")[:40]
    store = InfluxStore(influxdb.url, name)
    await store.ensure_database()
    yield store
    await store.drop_database()
    await store.close()


@pytest.fixture(autouse=True)
def forget_sessions(mosquitto: MosquittoServer, tmp_path: Path) -> Iterator[None]:
    yield
    for client_id in (f"collector-{tmp_path.name}"[:60], "shared-a", "shared-b"):
        forget_session("127.0.0.1", mosquitto.port, client_id)  # the shared broker stops queueing for it


def _config(broker: MosquittoServer, tmp_path: Path, **overrides: Any) -> CollectorConfig:
    settings: dict[str, Any] = {
        "mqtt_port": broker.port,
        "client_id": f"collector-{tmp_path.name}"[:60],
        "share_group": None,
        "batch_size": 500,
        "flush_interval_s": 0.05,
        "data_dir": tmp_path,
    }
    return CollectorConfig(**{**settings, **overrides})


@pytest.mark.parametrize("protocol", [MqttProtocol.V5, MqttProtocol.V311])
async def test_valid_readings_land_and_bad_ones_are_dead_lettered(
    mosquitto: MosquittoServer, influx_store: InfluxStore, tmp_path: Path, protocol: MqttProtocol
) -> None:
    plan = TrafficPlan(messages=200, readings_per_message=5, devices=4, plant=f"plant-{protocol.name.lower()}")
    messages = list(telemetry_messages(plan))
    topic = plan.device(0).telemetry_topic
    # A bad reading inside an otherwise good message, and messages that cannot be read at all.
    mixed = json.loads(messages[0][1])
    mixed["readings"].append({"sensor": "sensor-0", "ts": mixed["readings"][0]["ts"], "value": "NaN?"})
    messages[0] = (topic, json.dumps(mixed).encode())
    messages += [(topic, b"\xff\xfe not utf-8"), (topic, b"{not json"), (topic, b'{"v": 1, "gateway": "gw-0"}')]
    watcher = DeadLetterWatcher(mosquitto)
    stop = asyncio.Event()
    async with Collector(_config(mosquitto, tmp_path, protocol=protocol), influx_store) as collector:
        running = asyncio.create_task(collector.run(stop))
        publisher = Publisher("127.0.0.1", mosquitto.port)
        await asyncio.to_thread(publisher.publish_all, messages)
        publisher.close()

        async def landed() -> bool:
            return await plant_reading_count(influx_store, plan.plant) == plan.readings and len(watcher.bodies) >= 4

        await wait_for(landed)
        stop.set()
        await running
    watcher.close()
    assert await plant_reading_count(influx_store, plan.plant) == plan.readings
    reasons = sorted(body["reason"] for body in watcher.bodies)
    assert reasons == ["bad-envelope", "bad-reading", "not-json", "not-utf8"]
    assert all(body["topic"] == topic and body["detail"] for body in watcher.bodies)
    assert all(body["_topic"] == f"ganlink/v1/_deadletter/{body['reason']}" for body in watcher.bodies)
    assert DeadLetterStore(tmp_path / "deadletter.sqlite").counts() == {
        "bad-envelope": 1,
        "bad-reading": 1,
        "not-json": 1,
        "not-utf8": 1,
    }
    assert collector.metrics.readings_written == plan.readings
    assert collector.acks.connection >= 1
    assert len(collector.acks) == 0


async def test_nothing_is_acknowledged_before_it_is_written(
    mosquitto: MosquittoServer, influx_store: InfluxStore, tmp_path: Path
) -> None:
    from collector.memory_store import MemoryStore  # noqa: PLC0415
    from ganlink.errors import StoreUnavailable  # noqa: PLC0415

    plan = TrafficPlan(messages=100, readings_per_message=3, devices=2, plant="plant-unacked")
    broken = MemoryStore()
    broken.fail_next(*[StoreUnavailable("down", url="memory://")] * 1_000_000)
    config = _config(mosquitto, tmp_path, stop_grace_s=0.5)
    # First run: the store refuses everything and there is no spool, so nothing may be acknowledged.
    stop = asyncio.Event()
    async with Collector(config, broken, use_spool=False) as collector:
        running = asyncio.create_task(collector.run(stop))
        publisher = Publisher("127.0.0.1", mosquitto.port)
        await asyncio.to_thread(publisher.publish_all, telemetry_messages(plan))
        publisher.close()
        await wait_for(lambda: collector.metrics.messages_received >= 100)
        stop.set()
        await running
    assert broken.readings == {}
    # Second run, same persistent session: the broker re-sends every message and all of them land.
    stop = asyncio.Event()
    async with Collector(config, influx_store) as collector:
        running = asyncio.create_task(collector.run(stop))

        async def landed() -> bool:
            return await plant_reading_count(influx_store, plan.plant) == plan.readings

        await wait_for(landed)
        stop.set()
        await running


async def test_two_collectors_share_the_load_and_every_reading_lands_once(
    mosquitto: MosquittoServer, influx_store: InfluxStore, tmp_path: Path
) -> None:
    plan = TrafficPlan(messages=2000, readings_per_message=5, devices=8, plant="plant-shared")
    stop = asyncio.Event()
    first = _config(mosquitto, tmp_path / "a", share_group="collectors", client_id="shared-a")
    second = _config(mosquitto, tmp_path / "b", share_group="collectors", client_id="shared-b")
    async with Collector(first, influx_store) as one, Collector(second, influx_store) as two:
        runs = [asyncio.create_task(one.run(stop)), asyncio.create_task(two.run(stop))]
        publisher = Publisher("127.0.0.1", mosquitto.port)
        await asyncio.to_thread(publisher.publish_all, telemetry_messages(plan))
        publisher.close()

        async def landed() -> bool:
            return await plant_reading_count(influx_store, plan.plant) == plan.readings

        await wait_for(landed)
        stop.set()
        await asyncio.gather(*runs)
    received = (one.metrics.messages_received, two.metrics.messages_received)
    assert sum(received) == plan.messages  # each message went to exactly one collector
    assert min(received) > plan.messages // 4  # and the load really split
    assert one.metrics.readings_written + two.metrics.readings_written == plan.readings


async def test_the_in_flight_window_bounds_what_the_broker_hands_over(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    from collector.memory_store import MemoryStore  # noqa: PLC0415
    from ganlink.errors import StoreUnavailable  # noqa: PLC0415

    plan = TrafficPlan(messages=500, readings_per_message=2, devices=5, plant="plant-window")
    stuck = MemoryStore()
    stuck.fail_next(*[StoreUnavailable("down", url="memory://")] * 1_000_000)
    config = _config(mosquitto, tmp_path, inflight_window=40, stop_grace_s=0.2)
    stop = asyncio.Event()
    async with Collector(config, stuck, use_spool=False) as collector:
        running = asyncio.create_task(collector.run(stop))
        publisher = Publisher("127.0.0.1", mosquitto.port)
        await asyncio.to_thread(publisher.publish_all, telemetry_messages(plan))
        publisher.close()
        await asyncio.sleep(1.0)
        received = collector.metrics.messages_received
        stop.set()
        await running
    assert received == 40  # nothing written, nothing acked: the broker stops at the window


async def test_field_type_conflicts_are_isolated_and_dead_lettered_with_the_servers_message(
    mosquitto: MosquittoServer, influx_store: InfluxStore, tmp_path: Path
) -> None:
    from ganlink.schema import Reading, encode_telemetry  # noqa: PLC0415
    from ganlink.topics import DevicePath  # noqa: PLC0415

    device = DevicePath("plant-conflict", "area-1", "line-1", "device-1")
    now_ns = time.time_ns() // 1_000_000 * 1_000_000
    old_ns = now_ns - 21 * 24 * 3600 * 10**9  # another shard (InfluxDB groups shards by week)
    # Someone wrote `value` as a string in the old shard: every float there is now a type conflict.
    await influx_store.write_lines([f'telemetry,plant=other,area=a,line=l,device=d,sensor=s value="text" {old_ns}'])
    fresh = [Reading(device, f"s-{i}", now_ns - i * 1_000_000, float(i)) for i in range(20)]
    stale = [Reading(device, f"s-{i}", old_ns + i * 1_000_000, float(i)) for i in range(3)]
    messages = [
        (device.telemetry_topic, encode_telemetry("gw-conflict", 1, fresh[:10] + stale[:1])),
        (device.telemetry_topic, encode_telemetry("gw-conflict", 2, fresh[10:] + stale[1:])),
    ]
    watcher = DeadLetterWatcher(mosquitto)
    stop = asyncio.Event()
    async with Collector(_config(mosquitto, tmp_path, batch_size=100), influx_store) as collector:
        running = asyncio.create_task(collector.run(stop))
        publisher = Publisher("127.0.0.1", mosquitto.port)
        await asyncio.to_thread(publisher.publish_all, messages)
        publisher.close()

        async def settled() -> bool:
            return len(watcher.bodies) >= 3 and collector.metrics.readings_written >= 20

        await wait_for(settled)
        stop.set()
        await running
    watcher.close()
    rows = await influx_store.query("SELECT count(\"value\") FROM \"telemetry\" WHERE \"plant\" = 'plant-conflict'")
    assert rows[0]["values"][0][1] == 20  # every fresh reading landed
    assert sorted(body["reason"] for body in watcher.bodies) == ["write-rejected"] * 3
    assert all("field type conflict" in body["detail"] for body in watcher.bodies)
    assert sorted(body["seq"] for body in watcher.bodies) == [1, 2, 2]
    assert collector.metrics.readings_written == 20
    assert len(collector.acks) == 0  # settled and acknowledged, no endless retry
