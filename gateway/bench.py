"""`ganlink bench gateway`: readings/s one gateway publishes through a real Mosquitto (QoS 1,
counted when the broker acknowledged them), with the outbox on and with it off, in one run.

The workload is a plant of ``DEVICES`` devices with ``SENSORS`` sensors each sampled every second:
one message per device per tick, as the simulated gateway sends. The producer waits only when the
live lane is full, so the figure is the sustained rate, drain included.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

from ganlink.schema import Reading
from ganlink.servers import MosquittoServer
from ganlink.timestamps import now_ns
from ganlink.topics import DevicePath
from gateway.forwarder import StoreAndForward
from gateway.outbox import Outbox
from gateway.publisher import GatewayPublisher

__all__ = ["run"]

log = logging.getLogger(__name__)

DEVICES = 100
SENSORS = 20
_POOL_TICKS = 60
_S = 1_000_000_000


def _tick_pool() -> list[list[Reading]]:
    devices = [DevicePath("bench-plant", "area-1", f"line-{d // 10}", f"device-{d}") for d in range(DEVICES)]
    start = (now_ns() // _S - _POOL_TICKS) * _S
    return [
        [
            Reading(device, f"sensor-{s}", start + t * _S, 1000.0 + t + s / 10)
            for device in devices
            for s in range(SENSORS)
        ]
        for t in range(_POOL_TICKS)
    ]


def _ticks(pool: list[list[Reading]]) -> Iterator[list[Reading]]:
    while True:
        yield from pool


async def _with_outbox(url: str, folder: Path, seconds: float, pool: list[list[Reading]]) -> float:
    outbox = Outbox(folder / "bench-outbox.sqlite", max_readings=50_000_000)
    publisher = GatewayPublisher(gateway="gw-bench-outbox", plant="bench-plant", mqtt_url=url, max_in_flight=1000)
    forwarder = StoreAndForward(publisher, outbox, backfill_readings_per_s=1_000_000, window=1000)
    await forwarder.start(connect_timeout_s=10)
    loop = asyncio.get_running_loop()
    started = loop.time()
    submitted = 0
    ticks = _ticks(pool)
    while loop.time() - started < seconds:
        tick = next(ticks)
        forwarder.submit(tick)
        submitted += len(tick)
        await forwarder.wait_live_room(2 * forwarder.window)
    await forwarder.wait_drained(timeout_s=120)
    elapsed = loop.time() - started
    acked = forwarder.readings_acked
    await forwarder.stop()
    if acked != submitted:
        raise RuntimeError(f"outbox bench: {submitted} readings submitted, {acked} acknowledged")
    return acked / elapsed


async def _without_outbox(url: str, seconds: float, pool: list[list[Reading]]) -> float:
    publisher = GatewayPublisher(gateway="gw-bench-direct", plant="bench-plant", mqtt_url=url, max_in_flight=1000)
    await publisher.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    submitted = 0
    ticks = _ticks(pool)
    while loop.time() - started < seconds:
        tick = next(ticks)
        publisher.publish_nowait(tick)
        submitted += len(tick)
        await publisher.wait_in_flight_at_most(2000)
    await publisher.wait_acked(timeout_s=120)
    elapsed = loop.time() - started
    acked = publisher.readings_acked
    await publisher.stop()
    if acked != submitted:
        raise RuntimeError(f"direct bench: {submitted} readings submitted, {acked} acknowledged")
    return acked / elapsed


def run(args: argparse.Namespace) -> int:
    """Run both phases and print the rates; ``--json`` ends with one JSON object."""
    seconds = float(args.seconds)
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ganlink-bench-gateway-")))
        url = args.mqtt
        if not url:
            url = stack.enter_context(MosquittoServer(folder / "mosquitto", persistence=False)).url
        pool = _tick_pool()
        started = time.perf_counter()
        with_outbox = asyncio.run(_with_outbox(url, folder, seconds, pool))
        without_outbox = asyncio.run(_without_outbox(url, seconds, pool))
        total_s = time.perf_counter() - started
    print(f"gateway -> Mosquitto {url}, QoS 1, {DEVICES} devices x {SENSORS} sensors, one message per device per tick")
    print(f"  outbox on  (SQLite WAL, commit before publish): {with_outbox:>10,.0f} readings/s")
    print(f"  outbox off (publish straight from memory):     {without_outbox:>10,.0f} readings/s")
    if args.json:
        print(
            json.dumps(
                {
                    "readings_per_s_outbox": round(with_outbox, 1),
                    "readings_per_s_no_outbox": round(without_outbox, 1),
                    "readings_per_message": SENSORS,
                    "seconds_per_phase": seconds,
                    "wall_s": round(total_s, 1),
                }
            )
        )
    return 0
