"""`ganlink collector deadletter list|replay` as a user runs them, and the metrics endpoint."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector.dead_letter import DeadLetter
from collector.dead_letter_store import DeadLetterStore
from collector.ledger import SequenceLedger
from collector.metrics import CollectorMetrics
from collector.metrics_http import serve_metrics
from ganlink.cli import main
from ganlink.servers import MosquittoServer, free_port
from ganlink.settings import get_settings

TOPIC = "ganlink/v1/p/a/l/d/telemetry"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GANLINK_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    store = DeadLetterStore(tmp_path / "deadletter.sqlite")
    store.add(
        [
            DeadLetter("not-json", "payload is not JSON", TOPIC, b"{oops", 1_800_000_000_000_000_000),
            DeadLetter("bad-reading", "value 'x' is not a number", TOPIC, b'{"v":1}', 1_800_000_000_000_000_001,
                       gateway="gw-1", seq=3),
            DeadLetter.of_message("too-large", "big", TOPIC, b"x" * 300_000, 1_800_000_000_000_000_002),
        ]
    )  # fmt: skip
    yield tmp_path
    get_settings.cache_clear()


def test_list_shows_every_dead_letter_with_its_reason(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["collector", "deadletter", "list", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["reason"] for r in rows] == ["not-json", "bad-reading", "too-large"]
    assert rows[1]["gateway"] == "gw-1"
    assert rows[0]["payload"] == "{oops"
    assert main(["collector", "deadletter", "list", "--reason", "bad-reading", "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


@pytest.mark.servers
def test_replay_publishes_original_payloads_to_their_topics(
    data_dir: Path, mosquitto: MosquittoServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GANLINK_MQTT_URL", mosquitto.url)
    get_settings.cache_clear()
    received: list[bytes] = []
    ready, got_two = threading.Event(), threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    client.on_connect = lambda c, *_a: c.subscribe(TOPIC, qos=1)
    client.on_subscribe = lambda *_a: ready.set()

    def on_message(_c: object, _u: object, message: paho.MQTTMessage) -> None:
        received.append(message.payload)
        if len(received) >= 2:
            got_two.set()

    client.on_message = on_message
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    assert ready.wait(10)
    assert main(["collector", "deadletter", "replay"]) == 0
    assert got_two.wait(10)
    client.disconnect()
    client.loop_stop()
    assert sorted(received) == [b'{"v":1}', b"{oops"]  # the truncated one is skipped
    assert "replayed 2" in capsys.readouterr().out
    pending = DeadLetterStore(data_dir / "deadletter.sqlite").list(include_replayed=False)
    assert [p.letter.reason for p in pending] == ["too-large"]


async def test_metrics_endpoint_serves_prometheus_text() -> None:
    metrics = CollectorMetrics(messages_received=7, readings_written=140)
    metrics.dead_lettered["not-json"] += 2
    sequences = SequenceLedger()
    sequences.observe("gw-1", 1)
    sequences.observe("gw-1", 1)
    port = free_port()
    stop = asyncio.Event()
    server = asyncio.create_task(serve_metrics(lambda: metrics.prometheus(sequences), "127.0.0.1", port, stop))
    for _ in range(100):
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            break
        except OSError:
            await asyncio.sleep(0.02)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    body = (await reader.read()).decode()
    writer.close()
    stop.set()
    await server
    assert body.startswith("HTTP/1.1 200 OK")
    assert "ganlink_collector_messages_received_total 7" in body
    assert "ganlink_collector_readings_written_total 140" in body
    assert 'ganlink_collector_dead_lettered_total{reason="not-json"} 2' in body
    assert "ganlink_collector_sequence_duplicates_total 1" in body
