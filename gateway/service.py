"""The gateway service: a simulated plant paced in real time, published through one MQTT link,
with every reading committed to the on-disk outbox first (store-and-forward) unless disabled."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from ganlink.assets import PlantFile
from ganlink.timestamps import now_ns
from gateway.config import OutboxConfig
from gateway.forwarder import StoreAndForward
from gateway.outbox import Outbox
from gateway.publisher import GatewayPublisher
from gateway.simulator import FaultSettings, PlantSimulator

__all__ = ["nominal_rate", "open_outbox", "run_simulated_gateway"]

log = logging.getLogger(__name__)

_NS_PER_S = 1_000_000_000


def nominal_rate(plant_file: PlantFile) -> float:
    """Readings per second the plant produces when every sensor reports on time."""
    return sum(1 / ref.sensor.sample_period_s for ref in plant_file.sensors())


def open_outbox(config: OutboxConfig, *, gateway: str, data_dir: Path, readings_per_s: float) -> Outbox:
    """The gateway's outbox; its size is ``max_readings`` or ``budget_hours`` at ``readings_per_s``."""
    path = config.path if config.path is not None else data_dir / "outbox" / f"{gateway}.sqlite"
    max_readings = config.max_readings or max(1, round(config.budget_hours * 3600 * readings_per_s))
    return Outbox(path, max_readings=max_readings, when_full=config.when_full)


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
    outbox: OutboxConfig | None = None,
    data_dir: Path = Path(".ganlink"),
    drain_timeout_s: float = 5.0,
) -> None:
    """Simulate ``plant_file`` from now and publish every device's due readings each tick until
    ``stop`` is set. ``speed`` > 1 runs the plant's clock faster than the wall clock (source
    timestamps then run ahead of real time, so keep demos short or speed modest). With an enabled
    ``outbox`` every tick is committed to disk before it is published."""
    if speed <= 0:
        raise ValueError(f"speed must be positive, got {speed}")
    stop = stop or asyncio.Event()
    gateway_id = gateway or plant_file.plant.gateway
    simulator = PlantSimulator(plant_file, seed=seed, start_ns=now_ns(), faults=faults)
    publisher = GatewayPublisher(gateway=gateway_id, plant=plant_file.plant.id, mqtt_url=mqtt_url)
    forwarder: StoreAndForward | None = None
    if outbox is not None and outbox.enabled:
        store = open_outbox(outbox, gateway=gateway_id, data_dir=data_dir, readings_per_s=nominal_rate(plant_file))
        forwarder = StoreAndForward(publisher, store, backfill_readings_per_s=outbox.backfill_readings_per_s)
        await forwarder.start(connect_timeout_s=connect_timeout_s)
        log.info("outbox %s: resuming at seq %d", store.path, store.next_seq)
    else:
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
            readings = [r for batch in batches for r in batch]
            if forwarder is not None:
                forwarder.submit(readings)
            else:
                publisher.publish_nowait(readings)
    finally:
        if forwarder is not None:
            await forwarder.stop(drain_timeout_s=drain_timeout_s)
        else:
            await publisher.stop()
        log.info(
            "gateway %s stopped: %d messages sent, %d acknowledged",
            gateway_id,
            publisher.messages_sent,
            publisher.messages_acked,
        )
