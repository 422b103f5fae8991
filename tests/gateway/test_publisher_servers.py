"""Against a real Mosquitto: exact delivery with consecutive seq, retained status and the Will."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from ganlink.assets import bundled_plant_files, load_plant_file
from ganlink.schema import Reading, parse_telemetry
from ganlink.servers import MosquittoServer
from ganlink.timestamps import now_ns
from ganlink.topics import STATUS_SUBSCRIPTION, TELEMETRY_SUBSCRIPTION
from gateway.publisher import GatewayPublisher
from gateway.service import run_simulated_gateway
from gateway.simulator import FaultSettings, simulate
from gateway.simulator.plant import PlantSimulator

if TYPE_CHECKING:
    from tests.gateway.conftest import Listener

pytestmark = pytest.mark.servers
S = 1_000_000_000


@pytest.fixture
def listener(mosquitto: MosquittoServer, listen: Callable[..., Listener]) -> Listener:
    return listen(mosquitto.url, [TELEMETRY_SUBSCRIPTION, STATUS_SUBSCRIPTION])


def _known_readings(n_seconds: int) -> list[Reading]:
    plant_file = next(load_plant_file(p) for p in bundled_plant_files() if p.stem == "liuzhou-auto")
    start = (now_ns() // S - n_seconds - 60) * S
    run = simulate(plant_file, start, start + n_seconds * S, seed=1, faults=FaultSettings())
    return [r for batch in run for r in batch]


async def test_subscriber_receives_exactly_the_published_readings_with_consecutive_seq(
    mosquitto: MosquittoServer, listener: Listener
) -> None:
    source = _known_readings(800)
    assert len(source) > 10_000
    async with GatewayPublisher(
        gateway="gw-exact", plant="liuzhou-auto", mqtt_url=mosquitto.url, first_seq=100, max_readings_per_message=50
    ) as publisher:
        messages = await publisher.publish(source, timeout_s=30)
        assert publisher.messages_acked == len(messages)
        assert publisher.readings_acked == len(source)
    telemetry = listener.wait_for(lambda got: sum(1 for t, _, _ in got if t.endswith("/telemetry")) >= len(messages))
    received: list[Reading] = []
    seqs = []
    for topic, payload, _ in telemetry:
        if not topic.endswith("/telemetry"):
            continue
        body = parse_telemetry(topic, payload, now_ns=now_ns(), max_skew_ns=3600 * S)
        assert body.gateway == "gw-exact"
        assert not body.rejected
        seqs.append(body.seq)
        received.extend(body.readings)
    assert sorted(seqs) == list(range(100, 100 + len(messages)))
    key = lambda r: (r.sensor_id, r.time_ns)  # noqa: E731
    assert sorted(received, key=key) == sorted(source, key=key)


async def test_status_is_retained_online_and_the_will_says_offline_when_the_link_dies(
    mosquitto: MosquittoServer, listener: Listener, listen: Callable[..., Listener]
) -> None:
    status_topic = "ganlink/v1/guixi-smelter/_gateway/gw-will/status"

    def statuses(got: list[tuple[str, bytes, bool]]) -> list[str]:
        return [json.loads(p)["status"] for t, p, _ in got if t == status_topic]

    publisher = GatewayPublisher(gateway="gw-will", plant="guixi-smelter", mqtt_url=mosquitto.url)
    await publisher.start()
    try:
        listener.wait_for(lambda got: statuses(got) == ["online"])
        late = listen(mosquitto.url, [status_topic])  # a newcomer sees the retained status
        got = late.wait_for(lambda got: len(got) == 1)
        assert got[0][2] is True
        assert json.loads(got[0][1])["status"] == "online"
        publisher.link.sever()
        listener.wait_for(lambda got: statuses(got)[:2] == ["online", "offline"])
        # paho reconnects by itself and says online again
        listener.wait_for(lambda got: statuses(got)[:3] == ["online", "offline", "online"], timeout_s=15)
    finally:
        await publisher.stop()
    got = listener.wait_for(lambda got: statuses(got)[-1:] == ["offline"])
    body = json.loads(next(p for t, p, _ in reversed(got) if t == status_topic))
    assert body["gateway"] == "gw-will"
    assert body["plant"] == "guixi-smelter"
    assert body["ts"].endswith("Z")


async def test_simulated_gateway_publishes_ticks_in_real_time(mosquitto: MosquittoServer, listener: Listener) -> None:
    plant_file = next(load_plant_file(p) for p in bundled_plant_files() if p.stem == "guixi-smelter")
    devices = len(PlantSimulator(plant_file, seed=1, start_ns=now_ns()).devices)
    stop = asyncio.Event()
    task = asyncio.create_task(run_simulated_gateway(plant_file, mosquitto.url, seed=1, speed=4.0, stop=stop))
    got = await asyncio.to_thread(
        listener.wait_for,
        lambda got: sum(1 for t, _, _ in got if t.startswith("ganlink/v1/guixi-smelter/") and "telemetry" in t)
        >= 3 * devices,
    )
    stop.set()
    await asyncio.wait_for(task, 10)
    seqs = [json.loads(p)["seq"] for t, p, _ in got if t.endswith("/telemetry") and "guixi" in t]
    assert seqs == list(range(len(seqs)))  # one gateway: consecutive from 0, in order
