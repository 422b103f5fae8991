"""`ganlink analytics run` against a real Mosquitto: an injected fault gives one anomaly event on the
device's anomaly topic, and a restart from the checkpoint does not raise it again."""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path

import aiomqtt
import pytest

from analytics.checkpoint import ALARMS_NAME, CHECKPOINT_NAME
from analytics.service import ServiceTuning, run_analytics
from ganlink.assets import PlantFile, load_plant_file
from ganlink.schema import AnomalyEvent, Reading, encode_telemetry, parse_anomaly
from ganlink.servers import MosquittoServer
from ganlink.timestamps import now_ns
from ganlink.topics import ANOMALY_SUBSCRIPTION, DevicePath

pytestmark = pytest.mark.servers

S = 1_000_000_000
BURNER_1 = DevicePath("test-smelter", "smelting", "furnace-1", "burner-1")
BURNER_2 = DevicePath("test-smelter", "smelting", "furnace-1", "burner-2")
TUNING = ServiceTuning(tick_s=0.2, checkpoint_every_s=0.5)


def _plant() -> PlantFile:
    return load_plant_file(Path(__file__).with_name("analytics_test_plant.yaml"))


def _telemetry(start_ns: int, ticks: range, rng: random.Random, *, fault_from: int | None) -> list[tuple[str, bytes]]:
    """One message per device per tick; from ``fault_from`` on, burner-1's gas-temp reads 1750 Cel."""
    messages = []
    for i in ticks:
        time_ns = start_ns + i * S
        faulty = fault_from is not None and i >= fault_from
        burner_1 = [
            Reading(BURNER_1, "gas-temp", time_ns, 1750.0 if faulty else round(1200 + rng.gauss(0, 3), 2)),
            Reading(BURNER_1, "fan-current", time_ns, round(80 + rng.gauss(0, 1), 2)),
            Reading(BURNER_1, "state", time_ns, 1.0),
        ]
        burner_2 = [Reading(BURNER_2, "gas-temp", time_ns, round(1150 + rng.gauss(0, 3), 2))]
        messages.append((BURNER_1.telemetry_topic, encode_telemetry("gw-test", 2 * i, burner_1)))
        messages.append((BURNER_2.telemetry_topic, encode_telemetry("gw-test", 2 * i + 1, burner_2)))
    return messages


class _AnomalyListener:
    """Collects every event published on the plant's anomaly topics."""

    def __init__(self, url_port: int) -> None:
        self.port = url_port
        self.events: list[AnomalyEvent] = []
        self.ready = asyncio.Event()

    async def listen(self) -> None:
        async with aiomqtt.Client("127.0.0.1", self.port) as client:
            await client.subscribe(ANOMALY_SUBSCRIPTION, qos=1)
            self.ready.set()
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                self.events.append(parse_anomaly(message.topic.value, message.payload))


async def _publish(port: int, messages: list[tuple[str, bytes]]) -> None:
    async with aiomqtt.Client("127.0.0.1", port) as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1)


async def _wait_for(predicate: object, timeout_s: float) -> None:
    assert callable(predicate)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            while not predicate():
                await asyncio.sleep(0.05)


async def _start_service(url: str, state_dir: Path) -> tuple[asyncio.Task[None], asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_analytics(url, [_plant()], stop=stop, state_dir=state_dir, tuning=TUNING))
    await asyncio.sleep(0.5)  # connected and subscribed (persistent session thereafter)
    return task, stop


async def test_an_injected_fault_gives_exactly_one_anomaly_event(mosquitto: MosquittoServer, tmp_path: Path) -> None:
    listener = _AnomalyListener(mosquitto.port)
    listening = asyncio.create_task(listener.listen())
    await listener.ready.wait()
    service, stop = await _start_service(mosquitto.url, tmp_path)
    rng = random.Random(11)
    await _publish(mosquitto.port, _telemetry(now_ns() - 200 * S, range(200), rng, fault_from=180))

    await _wait_for(lambda: listener.events, timeout_s=10)
    await asyncio.sleep(1.0)  # a flood would show up by now
    stop.set()
    await service
    listening.cancel()

    assert len(listener.events) == 1, [(e.sensor, e.detector, e.details.get("state")) for e in listener.events]
    event = listener.events[0]
    assert (event.device, event.sensor, event.detector, event.value) == (BURNER_1, "gas-temp", "range", 1750.0)
    assert event.details["state"] == "raised"
    assert event.details["severity"] == "critical"
    assert event.details["expected_high"] == 1600


async def test_a_restart_does_not_re_alarm_what_was_already_alarmed(mosquitto: MosquittoServer, tmp_path: Path) -> None:
    listener = _AnomalyListener(mosquitto.port)
    listening = asyncio.create_task(listener.listen())
    await listener.ready.wait()
    rng = random.Random(12)
    start = now_ns() - 400 * S

    service, stop = await _start_service(mosquitto.url, tmp_path)
    await _publish(mosquitto.port, _telemetry(start, range(200), rng, fault_from=190))
    await _wait_for(lambda: listener.events, timeout_s=10)
    await asyncio.sleep(0.2)
    assert (tmp_path / ALARMS_NAME).exists(), "the open alarm is on disk as soon as it is raised"
    stop.set()
    await service
    assert [e.details["state"] for e in listener.events] == ["raised"]
    assert (tmp_path / CHECKPOINT_NAME).exists()

    # The fault goes on while the service is down and after it is back.
    await _publish(mosquitto.port, _telemetry(start, range(200, 230), rng, fault_from=190))
    service, stop = await _start_service(mosquitto.url, tmp_path)
    await _publish(mosquitto.port, _telemetry(start, range(230, 260), rng, fault_from=190))
    await asyncio.sleep(1.5)
    stop.set()
    await service
    listening.cancel()

    assert [e.details["state"] for e in listener.events] == ["raised"], "the open alarm was not raised again"


async def test_the_service_reconnects_after_the_broker_restarts(tmp_path: Path) -> None:
    broker = MosquittoServer(tmp_path / "broker")
    broker.start()
    try:
        service, stop = await _start_service(broker.url, tmp_path / "state")
        await asyncio.to_thread(broker.stop)
        await asyncio.sleep(1.0)  # the service notices and backs off
        await asyncio.to_thread(broker.start)  # same port, persistent session kept on disk
        listener = _AnomalyListener(broker.port)
        listening = asyncio.create_task(listener.listen())
        await listener.ready.wait()
        await _wait_for(lambda: False, timeout_s=2.0)  # give the service its reconnect
        rng = random.Random(13)
        await _publish(broker.port, _telemetry(now_ns() - 200 * S, range(200), rng, fault_from=190))
        await _wait_for(lambda: listener.events, timeout_s=10)
        stop.set()
        await service
        listening.cancel()
    finally:
        broker.stop()
    assert [(e.sensor, e.detector) for e in listener.events] == [("gas-temp", "range")]
