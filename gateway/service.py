"""The gateway service: a simulated plant paced in real time, published through one MQTT link."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ganlink.assets import PlantFile
from ganlink.timestamps import now_ns
from gateway.publisher import GatewayPublisher
from gateway.simulator import FaultSettings, PlantSimulator

__all__ = ["run_simulated_gateway"]

log = logging.getLogger(__name__)

_NS_PER_S = 1_000_000_000


async def run_simulated_gateway(
    plant_file: PlantFile,
    mqtt_url: str,
    *,
    seed: int,
    speed: float = 1.0,
    stop: asyncio.Event | None = None,
    gateway: str | None = None,
    faults: FaultSettings | None = None,
    connect_timeout_s: float | None = None,
) -> None:
    """Simulate ``plant_file`` from now and publish every device's due readings each tick until
    ``stop`` is set. ``speed`` > 1 runs the plant's clock faster than the wall clock (source
    timestamps then run ahead of real time, so keep demos short or speed modest)."""
    if speed <= 0:
        raise ValueError(f"speed must be positive, got {speed}")
    stop = stop or asyncio.Event()
    gateway_id = gateway or plant_file.plant.gateway
    simulator = PlantSimulator(plant_file, seed=seed, start_ns=now_ns(), faults=faults)
    publisher = GatewayPublisher(gateway=gateway_id, plant=plant_file.plant.id, mqtt_url=mqtt_url)
    await publisher.start(timeout_s=connect_timeout_s)
    loop = asyncio.get_running_loop()
    wall_start, sim_start = loop.time(), simulator.start_ns
    log.info("gateway %s simulating %s (seed %d, speed %gx)", gateway_id, plant_file.plant.id, seed, speed)
    try:
        for tick_ns, batches in simulator.run():
            delay = wall_start + (tick_ns - sim_start) / _NS_PER_S / speed - loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                break
            for batch in batches:
                publisher.send(publisher.build_messages(batch))
    finally:
        await publisher.stop()
        log.info(
            "gateway %s stopped: %d messages sent, %d acknowledged",
            gateway_id,
            publisher.messages_sent,
            publisher.messages_acked,
        )
