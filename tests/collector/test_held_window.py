"""The collector never holds more unacknowledged messages than its in-flight window, with a real
Mosquitto, even though Mosquitto 2.0.11 sends past the MQTT v5 Receive Maximum once it has a
backlog for the session (each in-order PUBACK moves up to a whole window of queued messages into
flight). Counted, not timed: the ledger's peak of held messages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from collector.config import CollectorConfig
from collector.loadgen import Publisher, TrafficPlan, forget_session, telemetry_messages
from collector.memory_store import MemoryStore
from collector.service import Collector
from ganlink.schema import Reading
from ganlink.servers import MosquittoServer

pytestmark = pytest.mark.servers

WINDOW = 50


class SlowStore(MemoryStore):
    """Takes a while per write, so the broker builds up a backlog for the collector."""

    async def write_readings(self, readings: Sequence[Reading]) -> None:
        await asyncio.sleep(0.01)
        await super().write_readings(readings)


def _config(broker: MosquittoServer, tmp_path: Path) -> CollectorConfig:
    return CollectorConfig(
        mqtt_port=broker.port,
        client_id=f"held-{tmp_path.name}"[:60],
        share_group=None,
        inflight_window=WINDOW,
        batch_size=100,
        flush_interval_s=0.02,
        data_dir=tmp_path,
        use_registry=False,
        sparkplug=False,  # no Sparkplug STATE publish: while our own PUBACK is pending, reading goes on
    )


def _publish(broker: MosquittoServer, plan: TrafficPlan) -> None:
    publisher = Publisher("127.0.0.1", broker.port, max_inflight=200)
    try:
        publisher.publish_all(telemetry_messages(plan))
    finally:
        publisher.close()


async def _collect_until_landed(collector: Collector, store: MemoryStore, readings: int) -> None:
    stop = asyncio.Event()
    running = asyncio.create_task(collector.run(stop))
    for _ in range(600):
        if len(store.readings) >= readings:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await running


@pytest.mark.parametrize("session", ["fresh", "resumed"])
async def test_held_unacknowledged_messages_never_exceed_the_window(
    mosquitto: MosquittoServer, tmp_path: Path, session: str
) -> None:
    plan = TrafficPlan(messages=3000, readings_per_message=4, devices=6, plant=f"plant-held-{session}")
    config = _config(mosquitto, tmp_path)
    store = SlowStore()
    try:
        if session == "resumed":
            # The session exists, the collector is away: the whole burst waits at the broker.
            async with Collector(config, store, use_spool=False):
                pass
            await asyncio.to_thread(_publish, mosquitto, plan)
            async with Collector(config, store, use_spool=False) as collector:
                await _collect_until_landed(collector, store, plan.readings)
        else:
            async with Collector(config, store, use_spool=False) as collector:
                publishing = asyncio.create_task(asyncio.to_thread(_publish, mosquitto, plan))
                await _collect_until_landed(collector, store, plan.readings)
                await publishing
    finally:
        forget_session("127.0.0.1", mosquitto.port, config.client_id)
    assert len(store.readings) == plan.readings
    assert collector.acks.peak == WINDOW  # the window filled up (the broker had a backlog) ...
    assert collector.metrics.messages_received >= plan.messages  # ... every message came ...
    assert len(collector.acks) == 0  # ... and was acknowledged


async def test_dead_letters_are_published_while_the_window_is_full(mosquitto: MosquittoServer, tmp_path: Path) -> None:
    # Every message carries one unreadable reading: each batch publishes dead letters and waits for
    # their PUBACKs, which come on the stream the full window stops reading. Reading must go on then.
    plan = TrafficPlan(messages=1000, readings_per_message=4, devices=5, plant="plant-held-dead")
    messages = []
    for topic, payload in telemetry_messages(plan):
        body = json.loads(payload)
        body["readings"].append({"sensor": "sensor-x", "ts": body["readings"][0]["ts"], "value": "not a number"})
        messages.append((topic, json.dumps(body).encode()))
    config = _config(mosquitto, tmp_path)
    store = SlowStore()
    try:
        async with Collector(config, store, use_spool=False) as collector:
            stop = asyncio.Event()
            running = asyncio.create_task(collector.run(stop))
            publisher = Publisher("127.0.0.1", mosquitto.port, max_inflight=200)
            await asyncio.to_thread(publisher.publish_all, messages)
            publisher.close()
            for _ in range(600):
                if collector.metrics.dead_lettered["bad-reading"] >= plan.messages:
                    break
                await asyncio.sleep(0.05)
            stop.set()
            await running
    finally:
        forget_session("127.0.0.1", mosquitto.port, config.client_id)
    assert len(store.readings) == plan.readings
    assert collector.metrics.dead_lettered["bad-reading"] == plan.messages
    assert collector.acks.peak >= WINDOW  # the window did fill up
    assert len(collector.acks) == 0
