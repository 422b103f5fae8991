"""Store-and-forward against a real Mosquitto that dies, and a gateway process that is SIGKILLed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ganlink.schema import Reading, parse_telemetry
from ganlink.servers import MosquittoServer, free_port
from ganlink.timestamps import now_ns
from ganlink.topics import TELEMETRY_SUBSCRIPTION, DevicePath
from gateway.config import load_gateway_config
from gateway.forwarder import StoreAndForward
from gateway.outbox import Outbox, read_stats
from gateway.publisher import GatewayPublisher
from gateway.service import run_from_config

if TYPE_CHECKING:
    from tests.gateway.conftest import Listener, ThreadedModbusDevice

pytestmark = pytest.mark.servers
S = 1_000_000_000
REPO = Path(__file__).resolve().parents[2]


def synthetic_ticks(ticks: int, devices: int = 10, sensors: int = 10) -> list[list[Reading]]:
    start = (now_ns() // S - ticks - 10) * S
    paths = [DevicePath("liuzhou-auto", "stamping", "press-line-1", f"press-{d}") for d in range(devices)]
    return [
        [Reading(path, f"s-{s}", start + t * S, float(t * 1000 + s)) for path in paths for s in range(sensors)]
        for t in range(ticks)
    ]


def received_by_seq(listener: Listener, gateway: str) -> dict[int, list[bytes]]:
    by_seq: dict[int, list[bytes]] = {}
    for topic, payload, _ in listener.snapshot():
        if topic.endswith("/telemetry"):
            body = json.loads(payload)
            if body["gateway"] == gateway:
                by_seq.setdefault(body["seq"], []).append(payload)
    return by_seq


def readings_of(topic_payloads: list[tuple[str, bytes]]) -> set[tuple[str, int, float]]:
    out = set()
    for topic, payload in topic_payloads:
        body = parse_telemetry(topic, payload, now_ns=now_ns(), max_skew_ns=24 * 3600 * S)
        out |= {(r.sensor_id, r.time_ns, r.value) for r in body.readings}
    return out


def _strip_historical(payload: bytes) -> bytes:
    return payload.replace(b'"historical":true,', b"")


async def test_broker_killed_during_100k_readings_loses_none(
    tmp_path: Path, listen: Callable[..., Listener]
) -> None:
    broker = MosquittoServer(tmp_path / "broker")
    broker.start()
    try:
        listener = listen(broker.url, [TELEMETRY_SUBSCRIPTION], client_id="sf-collector")
        outbox = Outbox(tmp_path / "outbox.sqlite", max_readings=10_000_000)
        publisher = GatewayPublisher(gateway="gw-kill", plant="liuzhou-auto", mqtt_url=broker.url)
        forwarder = StoreAndForward(publisher, outbox, backfill_readings_per_s=100_000)
        await forwarder.start(connect_timeout_s=10)
        ticks = synthetic_ticks(1000)  # 1000 ticks x 100 readings
        for number, tick in enumerate(ticks):
            forwarder.submit(tick)
            if number == 300:
                # SIGTERM lets Mosquitto save the subscriber's queue; the gateway sees a dead link either way
                await asyncio.to_thread(broker.stop)
            if number == 600:
                await asyncio.to_thread(broker.start)
            await asyncio.sleep(0.001)
        await forwarder.wait_drained(timeout_s=60)
        assert forwarder.backfilled_messages > 0, "the outage should have left a backlog"
        await forwarder.stop()
        total_messages = sum(len({r.device for r in tick}) for tick in ticks)
        by_seq = await asyncio.to_thread(
            lambda: listener.wait_for(lambda _: len(received_by_seq(listener, "gw-kill")) >= total_messages, 30)
            and received_by_seq(listener, "gw-kill")
        )
    finally:
        broker.stop()
    assert sorted(by_seq) == list(range(total_messages))
    for seq, copies in by_seq.items():  # redeliveries are the same message, never a reused seq
        assert len({_strip_historical(c) for c in copies}) == 1, seq
    topic_payloads = [(t, p) for t, p, _ in listener.snapshot() if t.endswith("/telemetry")]
    expected = {(r.sensor_id, r.time_ns, r.value) for tick in ticks for r in tick}
    assert len(expected) == 100_000
    assert readings_of(topic_payloads) == expected


def _gateway_config(tmp_path: Path, url: str, outbox: Path) -> Path:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "version: 1\nplant: liuzhou-auto\ngateway: gw-crash\n"
        f"mqtt_url: {url}\nseed: 5\nspeed: 20\n"
        f"outbox: {{path: {outbox}, budget_hours: 1}}\n"
    )
    return config


def _start_gateway(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("GANLINK_MQTT_URL", None)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ganlink", "gateway", "run", str(config)], stdout=out, stderr=out, env=env
        )


async def test_gateway_sigkilled_mid_stream_resumes_without_loss_or_seq_reuse(
    tmp_path: Path, mosquitto: MosquittoServer, listen: Callable[..., Listener]
) -> None:
    listener = listen(mosquitto.url, [TELEMETRY_SUBSCRIPTION])
    outbox_path = tmp_path / "outbox" / "gw-crash.sqlite"
    config = _gateway_config(tmp_path, mosquitto.url, outbox_path)
    log = tmp_path / "gateway.log"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        first = _start_gateway(config, log)
        processes.append(first)
        await asyncio.to_thread(
            listener.wait_for, lambda _: len(received_by_seq(listener, "gw-crash")) >= 200, 30
        )
        # freeze the broker so acknowledgements stop and the outbox holds unacknowledged readings
        assert mosquitto.process is not None
        mosquitto.process.send_signal(signal.SIGSTOP)
        try:
            await asyncio.sleep(1.0)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            mosquitto.process.send_signal(signal.SIGCONT)
        committed = read_stats(outbox_path)
        assert committed.next_seq >= 200
        assert committed.messages > 0, "the kill should leave unacknowledged messages in the outbox"
        second = _start_gateway(config, log)
        processes.append(second)
        await asyncio.to_thread(
            listener.wait_for,
            lambda _: len([s for s in received_by_seq(listener, "gw-crash") if s >= committed.next_seq]) >= 100,
            30,
        )
        second.send_signal(signal.SIGTERM)
        assert second.wait(20) == 0, log.read_text()[-2000:]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
    after = read_stats(outbox_path)
    by_seq = received_by_seq(listener, "gw-crash")
    missing = [s for s in range(committed.next_seq) if s not in by_seq]
    assert not missing, f"{len(missing)} committed messages never arrived, first {missing[:5]}"
    for seq, copies in by_seq.items():
        assert len({_strip_historical(c) for c in copies}) == 1, f"seq {seq} was reused"
    assert max(by_seq) < after.next_seq
    assert after.dropped_readings == 0


async def test_full_outbox_during_outage_delivers_exactly_what_it_did_not_drop(
    tmp_path: Path, listen: Callable[..., Listener]
) -> None:
    broker = MosquittoServer(tmp_path / "broker", port=free_port())
    broker.start()
    listener = listen(broker.url, [TELEMETRY_SUBSCRIPTION], client_id="sf-full")
    await asyncio.to_thread(broker.stop)  # the collector's session waits in the broker's store
    try:
        outbox = Outbox(tmp_path / "outbox.sqlite", max_readings=5_000)
        publisher = GatewayPublisher(gateway="gw-full", plant="liuzhou-auto", mqtt_url=broker.url)
        forwarder = StoreAndForward(publisher, outbox, backfill_readings_per_s=50_000)
        await forwarder.start(connect_timeout_s=None)
        ticks = synthetic_ticks(120)  # 12,000 readings into room for 5,000
        for tick in ticks:
            forwarder.submit(tick)
        dropped = outbox.dropped_readings
        assert dropped == 12_000 - outbox.depth_readings
        assert dropped > 0
        kept_seqs = outbox.seqs()
        await asyncio.to_thread(broker.start)
        await forwarder.wait_drained(timeout_s=30)
        await forwarder.stop()
        await asyncio.to_thread(
            listener.wait_for, lambda _: len(received_by_seq(listener, "gw-full")) >= len(kept_seqs), 20
        )
        time.sleep(0.5)  # nothing more may arrive
    finally:
        broker.stop()
    by_seq = received_by_seq(listener, "gw-full")
    assert sorted(by_seq) == kept_seqs
    topic_payloads = [(t, p) for t, p, _ in listener.snapshot() if t.endswith("/telemetry")]
    assert len(readings_of(topic_payloads)) == 12_000 - dropped


async def test_live_readings_overtake_a_rate_limited_historical_backfill(
    tmp_path: Path, listen: Callable[..., Listener]
) -> None:
    broker = MosquittoServer(tmp_path / "broker", port=free_port())
    broker.start()
    listener = listen(broker.url, [TELEMETRY_SUBSCRIPTION], client_id="sf-live")
    await asyncio.to_thread(broker.stop)
    try:
        outbox = Outbox(tmp_path / "outbox.sqlite", max_readings=1_000_000)
        publisher = GatewayPublisher(gateway="gw-live", plant="liuzhou-auto", mqtt_url=broker.url)
        forwarder = StoreAndForward(publisher, outbox, backfill_readings_per_s=1_000)
        await forwarder.start(connect_timeout_s=None)
        backlog = synthetic_ticks(60)  # 6,000 readings while the broker is down: 6 s of backfill
        for tick in backlog:
            forwarder.submit(tick)
        backlog_seqs = set(outbox.seqs())
        await asyncio.to_thread(broker.start)
        for _ in range(200):
            if publisher.connected:
                break
            await asyncio.sleep(0.05)
        live = forwarder.submit(synthetic_ticks(1)[0])
        live_seqs = {m.seq for m in live}
        got = await asyncio.to_thread(
            listener.wait_for, lambda _: live_seqs <= set(received_by_seq(listener, "gw-live")), 10
        )
        arrived_backlog = {json.loads(p)["seq"] for t, p, _ in got if t.endswith("/telemetry")} & backlog_seqs
        assert len(arrived_backlog) < len(backlog_seqs) / 2, "live data should not wait for the backlog"
        await forwarder.wait_drained(timeout_s=30)
        await forwarder.stop()
        by_seq = await asyncio.to_thread(
            lambda: listener.wait_for(lambda _: len(received_by_seq(listener, "gw-live")) >= len(backlog_seqs) + 10)
            and received_by_seq(listener, "gw-live")
        )
    finally:
        broker.stop()
    historical = {s for s, copies in by_seq.items() if all(b'"historical":true' in c for c in copies)}
    assert historical == backlog_seqs
    assert not any(b'"historical":true' in c for s in live_seqs for c in by_seq[s])


async def test_gateway_yaml_with_a_modbus_device_publishes_its_readings(
    tmp_path: Path,
    mosquitto: MosquittoServer,
    listen: Callable[..., Listener],
    threaded_modbus: Callable[..., ThreadedModbusDevice],
) -> None:
    current = list(struct.unpack(">HH", struct.pack(">f", 612.5)))
    device = threaded_modbus(holding=current, inputs=[655], coils=[True])
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "plc.yaml").write_text(
        "version: 1\nconnector: modbus\n"
        "device: {plant: conch-cement, area: clinker, line: kiln-line-1, device: kiln-drive-plc}\n"
        f"connection: {{host: 127.0.0.1, port: {device.port}, unit: 1}}\n"
        "poll_period_s: 0.2\n"
        "sensors:\n"
        "  - {id: motor-current, table: holding, address: 100, type: float32, unit: A}\n"
        "  - {id: bearing-temp, table: input, address: 0, type: int16, scale: 0.1, unit: Cel}\n"
    )
    config_path = tmp_path / "gateway.yaml"
    config_path.write_text(
        f"version: 1\nplant: conch-cement\ngateway: gw-field\nmqtt_url: {mosquitto.url}\n"
        "simulate: false\ndevices: [profiles/plc.yaml]\noutbox: {path: outbox.sqlite}\n"
    )
    listener = listen(mosquitto.url, ["ganlink/v1/conch-cement/clinker/kiln-line-1/kiln-drive-plc/telemetry"])
    stop = asyncio.Event()
    config = load_gateway_config(config_path)
    task = asyncio.create_task(run_from_config(config, config_path, data_dir=tmp_path, stop=stop))
    got = await asyncio.to_thread(listener.wait_for, lambda got: len(got) >= 1, 15)
    stop.set()
    await asyncio.wait_for(task, 15)
    body = json.loads(got[0][1])
    assert body["gateway"] == "gw-field"
    assert {r["sensor"]: r["value"] for r in body["readings"]} == {"motor-current": 612.5, "bearing-temp": 65.5}
    assert read_stats(tmp_path / "outbox.sqlite").messages == 0  # acknowledged and deleted
