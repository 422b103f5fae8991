"""`ganlink analytics run`: consume telemetry from MQTT, score it, publish anomaly events.

    run_analytics                 supervisor: reconnects with capped, jittered backoff; checkpoints
    └── analyze(link, monitor)    one connection's task group:
        ├── consume-telemetry     parse -> Monitor.observe -> publish events on the device's anomaly topic
        └── watch-silence         every tick: Monitor.check_silence, and a checkpoint now and then

What does not parse is ignored here (the collector dead-letters it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path

from analytics.checkpoint import load_checkpoint, save_checkpoint
from analytics.monitor import Monitor
from analytics.mqtt_link import AnalyticsLink, LinkLost, MqttLink, subscriptions_for
from ganlink.assets import PlantFile
from ganlink.errors import MessageRejected
from ganlink.schema import AnomalyEvent, encode_anomaly, parse_telemetry
from ganlink.timestamps import now_ns

__all__ = ["ServiceTuning", "analyze", "build_monitor", "run_analytics"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServiceTuning:
    """Timings of the service loop (defaults suit production; tests shorten them)."""

    tick_s: float = 1.0
    checkpoint_every_s: float = 10.0
    max_skew_s: float = 3600.0
    backoff_first_s: float = 0.5
    backoff_max_s: float = 30.0


def build_monitor(plant_files: list[PlantFile], state_dir: Path | None) -> Monitor:
    """A monitor for the plants, restored from ``state_dir``'s checkpoint when there is one."""
    monitor = Monitor(plant_files)
    if state_dir is not None:
        load_checkpoint(state_dir, monitor)
    return monitor


async def _publish_all(link: AnalyticsLink, events: list[AnomalyEvent]) -> None:
    for event in events:
        await link.publish(event.device.anomaly_topic, encode_anomaly(event))
        logger.info(
            "alarm %s %s on %s (%s): %s",
            event.alarm_id,
            event.details.get("state"),
            event.device.sensor_id(event.sensor),
            event.detector,
            event.details.get("why", ""),
        )


async def _consume(link: AnalyticsLink, monitor: Monitor, tuning: ServiceTuning) -> None:
    max_skew_ns = int(tuning.max_skew_s * 1e9)
    async for message in link.inbound():
        if not message.topic.endswith("/telemetry"):
            continue  # gateway status: silence is judged from the data itself
        arrived = now_ns()
        try:
            telemetry = parse_telemetry(message.topic, message.payload, now_ns=arrived, max_skew_ns=max_skew_ns)
        except MessageRejected:
            continue
        events = monitor.observe_many(telemetry.readings, arrived)
        if events:
            await _publish_all(link, events)


async def _watch(
    link: AnalyticsLink, monitor: Monitor, tuning: ServiceTuning, state_dir: Path | None
) -> None:
    last_checkpoint = time.monotonic()
    while True:
        await asyncio.sleep(tuning.tick_s)
        await _publish_all(link, monitor.check_silence(now_ns()))
        if state_dir is not None and time.monotonic() - last_checkpoint >= tuning.checkpoint_every_s:
            save_checkpoint(state_dir, monitor)
            last_checkpoint = time.monotonic()


async def analyze(
    link: AnalyticsLink,
    monitor: Monitor,
    *,
    stop: asyncio.Event,
    state_dir: Path | None = None,
    tuning: ServiceTuning = ServiceTuning(),
) -> None:
    """Serve one connection until ``stop`` is set; LinkLost propagates to the supervisor."""
    try:
        async with asyncio.TaskGroup() as group:
            consume = group.create_task(_consume(link, monitor, tuning), name="consume-telemetry")
            watch = group.create_task(_watch(link, monitor, tuning, state_dir), name="watch-silence")
            await stop.wait()
            consume.cancel()
            watch.cancel()
    except* LinkLost as lost:
        raise lost.exceptions[0] from None


def _identifier(plant_files: list[PlantFile]) -> str:
    plants = ",".join(sorted(p.plant.id for p in plant_files))
    return f"ganlink-analytics-{hashlib.sha1(plants.encode(), usedforsecurity=False).hexdigest()[:10]}"


async def run_analytics(
    mqtt_url: str,
    plant_files: list[PlantFile],
    *,
    stop: asyncio.Event,
    state_dir: Path | None = None,
    tuning: ServiceTuning = ServiceTuning(),
) -> None:
    """Run the analytics service for ``plant_files`` until ``stop`` is set (the demo's entry)."""
    monitor = build_monitor(plant_files, state_dir)
    topics = subscriptions_for([p.plant.id for p in plant_files])
    delay = tuning.backoff_first_s
    logger.info("analytics watching %d sensor(s) in %d plant(s)", len(monitor.sensors), len(plant_files))
    try:
        while not stop.is_set():
            try:
                async with MqttLink(mqtt_url, identifier=_identifier(plant_files), topics=topics) as link:
                    delay = tuning.backoff_first_s
                    await analyze(link, monitor, stop=stop, state_dir=state_dir, tuning=tuning)
            except LinkLost as exc:
                wait_s = delay * random.uniform(0.5, 1.0)
                logger.warning("%s; reconnecting in %.1f s", exc, wait_s)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=wait_s)
                delay = min(tuning.backoff_max_s, delay * 2)
    finally:
        if state_dir is not None:
            save_checkpoint(state_dir, monitor)
            logger.info("analytics checkpoint saved in %s", state_dir)
