"""Against a real Mosquitto: the gateway keeps its retained status fresh, with its outbox fields."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ganlink.schema import Reading
from ganlink.servers import MosquittoServer
from ganlink.timestamps import now_ns
from ganlink.topics import DevicePath, gateway_status_topic
from gateway.forwarder import StoreAndForward
from gateway.outbox import Outbox
from gateway.publisher import GatewayPublisher

if TYPE_CHECKING:
    from tests.gateway.conftest import Listener

pytestmark = pytest.mark.servers
S = 1_000_000_000
PLANT, GATEWAY = "liuzhou-auto", "gw-status-test"
TOPIC = gateway_status_topic(PLANT, GATEWAY)


def _statuses(listener: Listener) -> list[dict[str, Any]]:
    return [json.loads(payload) for topic, payload, _ in listener.snapshot() if topic == TOPIC and payload]


async def _wait_for(listener: Listener, predicate: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        got = _statuses(listener)
        if predicate(got):
            return got
        await asyncio.sleep(0.05)  # the event loop keeps running the gateway meanwhile
    raise AssertionError(f"status not seen in time; got {_statuses(listener)}")


async def test_status_republished_with_outbox_fields_and_backfilling_while_the_backlog_replays(
    mosquitto: MosquittoServer, tmp_path: Path, listen: Callable[..., Listener]
) -> None:
    listener = listen(mosquitto.url, [TOPIC])
    device = DevicePath(PLANT, "stamping", "press-line-1", "press-1")
    start = (now_ns() // S - 100) * S
    publisher = GatewayPublisher(gateway=GATEWAY, plant=PLANT, mqtt_url=mosquitto.url, status_every_s=0.3)
    forwarder = StoreAndForward(publisher, Outbox(tmp_path / "outbox.sqlite", max_readings=100_000),
                                backfill_readings_per_s=400)  # fmt: skip
    # committed before the link is up: a backlog of 2000 readings, replayed at 400 readings/s
    forwarder.submit([Reading(device, f"s-{k % 20}", start + (k // 20) * S, float(k)) for k in range(2000)])
    await forwarder.start(connect_timeout_s=10)
    try:
        got = await _wait_for(listener, lambda got: any(s.get("outbox", {}).get("backfilling") for s in got))
        replaying = next(s for s in got if s.get("outbox", {}).get("backfilling"))
        assert replaying["status"] == "online"
        assert 0 < replaying["outbox"]["depth"] <= 2000
        assert 0 < replaying["outbox"]["oldest_age_s"] <= 110  # the readings are 100 s to 1 s old
        assert replaying["outbox"]["drops"] == 0
        # when the backlog is gone the change is published without waiting for the period
        got = await _wait_for(listener, lambda got: got[-1].get("outbox", {}).get("backfilling") is False)
        assert got[-1]["outbox"]["depth"] == 0
        count = len(got)
        await _wait_for(listener, lambda got: len(got) >= count + 2)  # and again every status_every_s
    finally:
        await forwarder.stop()
        clear = GatewayPublisher(gateway=GATEWAY, plant=PLANT, mqtt_url=mosquitto.url)
        clear.link.publish(TOPIC, b"", retain=True)  # no retained status left on the shared broker
        await clear.start()
        await clear.stop()
    assert _statuses(listener)[-1]["status"] == "offline"
