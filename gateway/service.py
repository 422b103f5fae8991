"""The gateway service: readings from a connector, committed to the on-disk outbox first
(store-and-forward) unless disabled, published through one MQTT link."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path

from ganlink.assets import PlantFile
from ganlink.errors import ConfigError
from ganlink.schema import Reading
from gateway.config import GatewayConfig, OutboxConfig, outbox_path, resolve_plant_file
from gateway.connectors.base import Connector
from gateway.connectors.factory import connector_from_profile
from gateway.connectors.simulated import SimulatedPlant
from gateway.forwarder import StoreAndForward
from gateway.outbox import Outbox
from gateway.publisher import GatewayPublisher
from gateway.simulator import FaultSettings
from gateway.sparkplug_publisher import SparkplugPublisher

__all__ = ["nominal_rate", "open_outbox", "run_from_config", "run_gateway", "run_simulated_gateway"]

log = logging.getLogger(__name__)


def nominal_rate(plant_file: PlantFile) -> float:
    """Readings per second the plant produces when every sensor reports on time."""
    return sum(1 / ref.sensor.sample_period_s for ref in plant_file.sensors())


def open_outbox(config: OutboxConfig, *, gateway: str, data_dir: Path, readings_per_s: float) -> Outbox:
    """The gateway's outbox; its size is ``max_readings`` or ``budget_hours`` at ``readings_per_s``."""
    path = config.path if config.path is not None else data_dir / "outbox" / f"{gateway}.sqlite"
    max_readings = config.max_readings or max(1, round(config.budget_hours * 3600 * readings_per_s))
    return Outbox(path, max_readings=max_readings, when_full=config.when_full, durable=config.durable)


async def _pump(connector: Connector, queue: asyncio.Queue[list[Reading]]) -> None:
    async for batch in connector.batches():
        await queue.put(batch)


async def _run_sparkplug(
    sources: list[Connector], *, gateway: str, plant: str, mqtt_url: str, stop: asyncio.Event
) -> None:
    edge_node = SparkplugPublisher(gateway=gateway, plant=plant, mqtt_url=mqtt_url)
    await edge_node.start(timeout_s=None)
    queue: asyncio.Queue[list[Reading]] = asyncio.Queue(maxsize=1000)
    try:
        async with contextlib.AsyncExitStack() as stack:
            for source in sources:
                await stack.enter_async_context(source)
            pumps = [asyncio.create_task(_pump(s, queue), name=f"connector-{s.name}") for s in sources]
            try:
                while not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        edge_node.publish_nowait(await asyncio.wait_for(queue.get(), 0.5))
            finally:
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
    finally:
        await edge_node.stop()


async def run_gateway(
    connectors: Connector | Sequence[Connector],
    *,
    gateway: str,
    plant: str,
    mqtt_url: str,
    stop: asyncio.Event,
    outbox: Outbox | None = None,
    backfill_readings_per_s: float = 20_000.0,
    connect_timeout_s: float | None = None,
    drain_timeout_s: float = 5.0,
    output: str = "ganlink",
) -> None:
    """Move readings from the connectors to the broker until ``stop`` is set or all connectors end."""
    sources = [connectors] if isinstance(connectors, Connector) else list(connectors)
    if output == "sparkplug":
        if outbox is not None:
            log.warning("Sparkplug output publishes live at QoS 0; the outbox %s is not used", outbox.path)
            outbox.close()
        await _run_sparkplug(sources, gateway=gateway, plant=plant, mqtt_url=mqtt_url, stop=stop)
        return
    publisher = GatewayPublisher(gateway=gateway, plant=plant, mqtt_url=mqtt_url)
    forwarder: StoreAndForward | None = None
    if outbox is not None:
        forwarder = StoreAndForward(publisher, outbox, backfill_readings_per_s=backfill_readings_per_s)
        await forwarder.start(connect_timeout_s=connect_timeout_s)
        log.info("outbox %s: resuming at seq %d", outbox.path, outbox.next_seq)
    else:
        await publisher.start(timeout_s=connect_timeout_s)
    queue: asyncio.Queue[list[Reading]] = asyncio.Queue(maxsize=1000)
    try:
        async with contextlib.AsyncExitStack() as stack:
            for source in sources:
                await stack.enter_async_context(source)
            pumps = {asyncio.create_task(_pump(s, queue), name=f"connector-{s.name}") for s in sources}
            stopping = asyncio.create_task(stop.wait(), name="gateway-stop")
            try:
                while pumps or not queue.empty():
                    taking = asyncio.create_task(queue.get())
                    done, _ = await asyncio.wait({taking, stopping, *pumps}, return_when=asyncio.FIRST_COMPLETED)
                    for pump in done & pumps:
                        pumps.discard(pump)
                        pump.result()  # a connector that failed stops the gateway with its error
                    if stopping in done:
                        taking.cancel()
                        break
                    if taking not in done:
                        taking.cancel()
                        continue
                    batch = taking.result()
                    if forwarder is not None:
                        forwarder.submit(batch)
                    else:
                        publisher.publish_nowait(batch)
            finally:
                stopping.cancel()
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
    finally:
        if forwarder is not None:
            await forwarder.stop(drain_timeout_s=drain_timeout_s)
        else:
            await publisher.stop()
        log.info(
            "gateway %s stopped: %d messages sent, %d acknowledged",
            gateway,
            publisher.messages_sent,
            publisher.messages_acked,
        )


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
    extra_connectors: Sequence[Connector] = (),
    output: str = "ganlink",
) -> None:
    """Simulate ``plant_file`` from now and publish every device's due readings each tick until
    ``stop`` is set. ``speed`` > 1 runs the plant's clock faster than the wall clock (source
    timestamps then run ahead of real time, so keep demos short or speed modest). With an enabled
    ``outbox`` every tick is committed to disk before it is published. ``extra_connectors`` (field
    devices of the same plant) publish through the same gateway."""
    gateway_id = gateway or plant_file.plant.gateway
    connectors: list[Connector] = [SimulatedPlant(plant_file, seed=seed, speed=speed, faults=faults)]
    connectors += extra_connectors
    store = None
    if outbox is not None and outbox.enabled:
        store = open_outbox(outbox, gateway=gateway_id, data_dir=data_dir, readings_per_s=nominal_rate(plant_file))
    log.info("gateway %s simulating %s (seed %d, speed %gx)", gateway_id, plant_file.plant.id, seed, speed)
    await run_gateway(
        connectors,
        gateway=gateway_id,
        plant=plant_file.plant.id,
        mqtt_url=mqtt_url,
        stop=stop or asyncio.Event(),
        outbox=store,
        backfill_readings_per_s=outbox.backfill_readings_per_s if outbox is not None else 20_000.0,
        connect_timeout_s=connect_timeout_s,
        drain_timeout_s=drain_timeout_s,
        output=output,
    )


async def run_from_config(config: GatewayConfig, config_path: Path, *, data_dir: Path, stop: asyncio.Event) -> None:
    """``ganlink gateway run``: the simulator and/or the device profiles of one gateway YAML."""
    plant_file = resolve_plant_file(config.plant, config_path.parent)
    outbox = config.outbox.model_copy(update={"path": outbox_path(config, config_path, data_dir)})
    devices = [connector_from_profile(p if p.is_absolute() else config_path.parent / p) for p in config.devices]
    if config.simulate:
        await run_simulated_gateway(
            plant_file,
            config.mqtt_url,
            seed=config.seed,
            speed=config.speed,
            stop=stop,
            gateway=config.gateway,
            faults=config.faults,
            outbox=outbox,
            data_dir=data_dir,
            extra_connectors=devices,
            output=config.output,
        )
        return
    if not devices:
        raise ConfigError("simulate is false and no devices are listed: nothing to read", path=str(config_path))
    gateway_id = config.gateway or plant_file.plant.gateway
    rate = sum(getattr(device, "nominal_readings_per_s", 10.0) for device in devices)
    store = open_outbox(outbox, gateway=gateway_id, data_dir=data_dir, readings_per_s=rate) if outbox.enabled else None
    await run_gateway(
        devices,
        gateway=gateway_id,
        plant=plant_file.plant.id,
        mqtt_url=config.mqtt_url,
        stop=stop,
        outbox=store,
        backfill_readings_per_s=outbox.backfill_readings_per_s,
        output=config.output,
    )
