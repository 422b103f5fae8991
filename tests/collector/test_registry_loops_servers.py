"""The collector and the registry through real Mosquitto: readings of unknown sensors are stored and
reported as pending (until approved), gateway statuses and sequence totals land in the registry."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector.config import CollectorConfig
from collector.loadgen import forget_session
from collector.memory_store import MemoryStore
from collector.service import Collector
from ganlink.assets import PlantFile
from ganlink.registry import Registry, SensorSpec
from ganlink.schema import Reading
from ganlink.servers import MosquittoServer
from ganlink.timestamps import format_rfc3339, now_ns
from ganlink.topics import DevicePath, gateway_status_topic

from .conftest import wait_for

pytestmark = pytest.mark.servers

PLANT, GATEWAY = "onboard-plant", "gw-onboard"
DEVICE = DevicePath(PLANT, "area-1", "line-1", "pump-1")
S = 1_000_000_000


def _plant_file() -> PlantFile:
    sensor = {"id": "temp", "name": "temp", "unit": "Cel", "kind": "temperature", "range": [0, 200],
              "sample_period_s": 1.0, "key": True, "data_class": 2}  # fmt: skip
    return PlantFile.model_validate({
        "version": 1,
        "plant": {
            "id": PLANT, "name": "Onboard plant", "industry": "nonferrous", "timezone": "UTC",
            "nameplate": {"value": 1.0, "unit": "t/d"}, "gateway": GATEWAY,
            "shifts": [{"name": "day", "start": "08:00", "hours": 12}],
            "areas": [{"id": "area-1", "lines": [
                {"id": "line-1", "devices": [{"id": "pump-1", "sensors": [sensor]}]},
            ]}],
        },
    })  # fmt: skip


class Publisher:
    """A plain MQTT 3.1.1 client publishing at QoS 1 and waiting for each PUBACK."""

    def __init__(self, port: int) -> None:
        self._client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def publish(self, topic: str, body: bytes, *, retain: bool = False) -> None:
        self._client.publish(topic, body, qos=1, retain=retain).wait_for_publish(10)

    def telemetry(self, seq: int, readings: list[tuple[str, int, float]]) -> None:
        body = {"v": 1, "gateway": GATEWAY, "seq": seq,
                "readings": [{"sensor": s, "ts": format_rfc3339(t), "value": v} for s, t, v in readings]}  # fmt: skip
        self.publish(DEVICE.telemetry_topic, json.dumps(body).encode())

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    reg = Registry(f"sqlite:///{tmp_path / 'registry.sqlite'}")
    reg.create_schema()
    reg.load_plant_file(_plant_file())
    yield reg
    reg.close()


@pytest.fixture
def publisher(mosquitto: MosquittoServer, tmp_path: Path) -> Iterator[Publisher]:
    client = Publisher(mosquitto.port)
    yield client
    client.close()
    forget_session("127.0.0.1", mosquitto.port, _client_id(tmp_path))


def _client_id(tmp_path: Path) -> str:
    return f"collector-{tmp_path.name}"[:60]


def _config(broker: MosquittoServer, tmp_path: Path, **overrides: Any) -> CollectorConfig:
    settings: dict[str, Any] = {
        "mqtt_port": broker.port,
        "client_id": _client_id(tmp_path),
        "share_group": None,
        "flush_interval_s": 0.05,
        "data_dir": tmp_path,
        "registry_refresh_s": 0.3,
        "onboarding_report_every_s": 0.1,
        "sequences_every_s": 0.2,
    }
    return CollectorConfig(**{**settings, **overrides})


def _stored(store: MemoryStore, sensor: str) -> list[Reading]:
    return sorted((r for r in store.readings.values() if r.device == DEVICE and r.sensor == sensor),
                  key=lambda r: r.time_ns)  # fmt: skip


async def test_unknown_sensor_is_stored_and_pending_until_approved_then_no_longer_reported(
    mosquitto: MosquittoServer, registry: Registry, publisher: Publisher, tmp_path: Path
) -> None:
    store = MemoryStore()
    stop = asyncio.Event()
    t0 = (now_ns() // S - 60) * S
    async with Collector(_config(mosquitto, tmp_path), store, registry=registry) as collector:
        running = asyncio.create_task(collector.run(stop))
        # newest first: first_seen must still be the oldest reading of the message
        publisher.telemetry(0, [("temp", t0, 20.0), ("new-probe", t0 + 2 * S, 7.0), ("new-probe", t0, 5.0),
                                ("new-probe", t0 + S, 6.0)])  # fmt: skip
        await wait_for(lambda: bool(registry.pending_sensors(PLANT)))
        [pending] = registry.pending_sensors(PLANT)
        assert (pending.sensor_id, pending.first_seen_ns, pending.last_seen_ns) == (DEVICE.sensor_id("new-probe"),
                                                                                    t0, t0 + 2 * S)  # fmt: skip
        assert (pending.seen_count, pending.last_value) == (3, 7.0)
        assert [r.value for r in _stored(store, "new-probe")] == [5.0, 6.0, 7.0]  # kept, not dropped
        assert len(_stored(store, "temp")) == 1

        registry.approve_pending(pending.sensor_id, SensorSpec(unit="bar", kind="pressure", range_min=0,
                                                               range_max=10, sample_period_s=1.0))  # fmt: skip
        approved_at = time.monotonic()
        onboarding = collector.onboarding
        assert onboarding is not None
        await wait_for(lambda: onboarding.refreshed_at > approved_at)
        reported = onboarding.sensors_reported
        publisher.telemetry(1, [("new-probe", t0 + 3 * S, 8.0)])
        await wait_for(lambda: len(_stored(store, "new-probe")) == 4)
        stop.set()
        await running
    assert onboarding.sensors_reported == reported  # the approved sensor is known now
    after = registry.pending_sensor(pending.sensor_id)
    assert after is not None
    assert (after.status, after.seen_count) == ("accepted", 3)
    [totals] = registry.gateway_sequences([GATEWAY])
    assert (totals.received, totals.gaps, totals.duplicates, totals.last_seq, totals.shared) == (2, 0, 0, 1, False)


async def test_sequence_totals_count_gaps_and_late_messages_per_gateway(
    mosquitto: MosquittoServer, registry: Registry, publisher: Publisher, tmp_path: Path
) -> None:
    stop = asyncio.Event()
    t0 = (now_ns() // S - 60) * S
    async with Collector(_config(mosquitto, tmp_path), MemoryStore(), registry=registry) as collector:
        running = asyncio.create_task(collector.run(stop))
        for seq in (10, 11, 14, 12, 12):  # 13 missing, 12 late, then 12 again
            publisher.telemetry(seq, [("temp", t0 + seq * S, 1.0)])

        def persisted() -> bool:
            rows = registry.gateway_sequences([GATEWAY])
            return bool(rows) and rows[0].received == 5

        await wait_for(persisted)  # written periodically while running
        stop.set()
        await running
    [totals] = registry.gateway_sequences([GATEWAY])
    assert (totals.gaps, totals.out_of_order, totals.duplicates, totals.last_seq) == (1, 1, 1, 14)
    assert totals.collector == _client_id(tmp_path)


async def test_gateway_status_retained_and_live_lands_in_the_registry(
    mosquitto: MosquittoServer, registry: Registry, publisher: Publisher, tmp_path: Path
) -> None:
    plant, gateway = f"status-{tmp_path.name[-20:]}".rstrip("-_").replace("_", "-"), "gw-status"
    topic = gateway_status_topic(plant, gateway)
    since = now_ns() - 3600 * S
    online = {"v": 1, "gateway": gateway, "plant": plant, "status": "online", "ts": format_rfc3339(now_ns()),
              "since": format_rfc3339(since),
              "outbox": {"depth": 1200, "oldest_age_s": 95.5, "hours_left": 70.25, "backfilling": True, "drops": 3}}
    publisher.publish(topic, json.dumps(online).encode(), retain=True)  # before the collector subscribes
    stop = asyncio.Event()
    try:
        async with Collector(_config(mosquitto, tmp_path), MemoryStore(), registry=registry) as collector:
            running = asyncio.create_task(collector.run(stop))
            await wait_for(lambda: bool(registry.gateway_statuses(plant)))
            [first] = registry.gateway_statuses(plant)
            assert (first.status, first.since_ns // S) == ("online", since // S)
            assert (first.outbox_depth, first.oldest_age_s, first.hours_left, first.backfilling, first.drops) == (
                1200, 95.5, 70.25, True, 3
            )
            before_offline = now_ns()
            publisher.publish(topic, b'{"v":1,"status":"offline"}', retain=True)
            await wait_for(lambda: registry.gateway_statuses(plant)[0].status == "offline")
            stop.set()
            await running
    finally:
        publisher.publish(topic, b"", retain=True)  # clear the retained status on the shared broker
    [offline] = registry.gateway_statuses(plant)
    assert offline.since_ns is not None
    assert offline.since_ns >= before_offline  # a live change without "since" starts when it arrived
    assert offline.outbox_depth is None
