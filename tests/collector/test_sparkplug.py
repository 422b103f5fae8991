"""Sparkplug B input: births and aliases, seq gaps -> rebirth, mapped onto the same readings."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from collector.config import CollectorConfig
from collector.intake import read_message
from collector.loadgen import Publisher, forget_session
from collector.memory_store import MemoryStore
from collector.service import Collector
from collector.sparkplug import DeviceAreas, SparkplugState
from ganlink.servers import MosquittoServer
from ganlink.sparkplug import Metric, SparkplugPayload, decode_payload, encode_payload
from ganlink.topics import DevicePath

NOW_MS = 1_800_000_000_000
SKEW = 3600 * 10**9
DEVICE = DevicePath("guixi-smelter", "smelting", "flash-furnace-1", "feed-system")
BIRTH = "spBv1.0/guixi-smelter/DBIRTH/gw-guixi-1/feed-system"
DATA = "spBv1.0/guixi-smelter/DDATA/gw-guixi-1/feed-system"


def _state() -> SparkplugState:
    return SparkplugState(DeviceAreas({("guixi-smelter", "feed-system"): ("smelting", "flash-furnace-1")}))


def _read(state: SparkplugState, topic: str, payload: SparkplugPayload):  # type: ignore[no-untyped-def]
    return read_message(
        topic, encode_payload(payload), now_ns=NOW_MS * 10**6, max_skew_ns=SKEW, max_payload_bytes=1 << 20,
        sparkplug=state,
    )  # fmt: skip


def test_payload_round_trips_through_the_protobuf_codec() -> None:
    payload = SparkplugPayload(
        NOW_MS,
        [
            Metric("temp", 1, NOW_MS, 10, 1203.5),
            Metric("count", 2, NOW_MS, 3, -5),
            Metric("ratio", 3, NOW_MS, 9, 0.5),
            Metric("on", 4, NOW_MS, 11, True),
            Metric("label", 5, NOW_MS, 12, "text"),
        ],
        7,
    )
    assert decode_payload(encode_payload(payload)) == payload


def test_births_define_aliases_that_data_messages_use() -> None:
    state = _state()
    birth = SparkplugPayload(NOW_MS, [Metric("concentrate-feed", 1, NOW_MS, 10, 100.0)], 1)
    intake = _read(state, BIRTH, birth)
    assert [(r.device, r.sensor, r.value) for r in intake.readings] == [(DEVICE, "concentrate-feed", 100.0)]
    data = SparkplugPayload(NOW_MS + 1000, [Metric(None, 1, NOW_MS + 1000, 10, 101.5)], 2)
    intake = _read(state, DATA, data)
    assert [(r.sensor, r.time_ns, r.value) for r in intake.readings] == [
        ("concentrate-feed", (NOW_MS + 1000) * 10**6, 101.5)
    ]
    assert intake.gateway == "gw-guixi-1"
    assert intake.commands == []


def test_a_seq_gap_or_unknown_alias_asks_for_a_rebirth() -> None:
    state = _state()
    _read(state, BIRTH, SparkplugPayload(NOW_MS, [Metric("concentrate-feed", 1, NOW_MS, 10, 1.0)], 1))
    gap = _read(state, DATA, SparkplugPayload(NOW_MS, [Metric(None, 1, NOW_MS, 10, 2.0)], 5))
    assert [topic for topic, _ in gap.commands] == ["spBv1.0/guixi-smelter/NCMD/gw-guixi-1"]
    [metric] = decode_payload(gap.commands[0][1]).metrics
    assert (metric.name, metric.value) == ("Node Control/Rebirth", True)
    unknown = _read(state, DATA, SparkplugPayload(NOW_MS, [Metric(None, 9, NOW_MS, 10, 2.0)], 6))
    assert unknown.readings == []
    assert [d.reason for d in unknown.dead_letters] == ["bad-reading"]
    assert unknown.commands


def test_an_edge_node_birth_with_only_control_metrics_is_accepted_and_starts_the_seq() -> None:
    state = _state()
    node_birth = SparkplugPayload(
        NOW_MS,
        [Metric("bdSeq", None, NOW_MS, 8, 3), Metric("Node Control/Rebirth", None, NOW_MS, 11, False)],
        0,
    )
    intake = _read(state, "spBv1.0/guixi-smelter/NBIRTH/gw-guixi-1", node_birth)
    assert (intake.readings, intake.dead_letters, intake.commands) == ([], [], [])
    data = _read(state, BIRTH, SparkplugPayload(NOW_MS, [Metric("concentrate-feed", 1, NOW_MS, 10, 1.0)], 1))
    assert data.commands == []  # seq 1 follows the NBIRTH's 0: no gap
    stray = SparkplugPayload(NOW_MS, [Metric("node-temp", None, NOW_MS, 10, 40.0)], 2)
    refused = _read(state, "spBv1.0/guixi-smelter/NDATA/gw-guixi-1", stray)
    assert "edge node 'gw-guixi-1'" in refused.dead_letters[0].detail


def test_bad_sparkplug_input_is_dead_lettered_with_a_reason() -> None:
    state = _state()
    other = "spBv1.0/guixi-smelter/DBIRTH/gw-guixi-1/no-such-device"
    assert _read(state, other, SparkplugPayload(NOW_MS, [], 0)).dead_letters[0].reason == "unknown-device"
    broken = read_message(
        BIRTH, b"\x0a\xff\xff", now_ns=NOW_MS * 10**6, max_skew_ns=SKEW, max_payload_bytes=1 << 20, sparkplug=state
    )
    assert broken.dead_letters[0].reason == "not-sparkplug"
    strings = _read(state, BIRTH, SparkplugPayload(NOW_MS, [Metric("label", 1, NOW_MS, 12, "x")], 0))
    assert "not numeric" in strings.dead_letters[0].detail


@pytest.mark.servers
async def test_sparkplug_readings_land_in_the_store(mosquitto: MosquittoServer, tmp_path: Path) -> None:
    store = MemoryStore()
    config = CollectorConfig(
        mqtt_port=mosquitto.port, client_id="sparkplug-collector", share_group=None, flush_interval_s=0.05,
        data_dir=tmp_path,
    )  # fmt: skip
    now_ms = time.time_ns() // 1_000_000
    birth = SparkplugPayload(now_ms, [Metric("concentrate-feed", 1, now_ms, 10, 1.0)], 0)
    data = [SparkplugPayload(now_ms + i, [Metric(None, 1, now_ms + i, 10, float(i))], i) for i in range(1, 50)]
    stop = asyncio.Event()
    async with Collector(config, store) as collector:
        running = asyncio.create_task(collector.run(stop))
        publisher = Publisher("127.0.0.1", mosquitto.port)
        messages = [(BIRTH, encode_payload(birth))] + [(DATA, encode_payload(d)) for d in data]
        await asyncio.to_thread(publisher.publish_all, messages)
        publisher.close()
        for _ in range(200):
            if len(store.readings) == 50:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await running
    forget_session("127.0.0.1", mosquitto.port, "sparkplug-collector")
    assert len(store.readings) == 50
    assert {key[0] for key in store.readings} == {DEVICE}
