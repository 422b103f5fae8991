"""`ganlink analytics run`: consume telemetry from MQTT, score it, publish anomaly events.

    run_analytics                 supervisor: reconnects with capped, jittered backoff; checkpoints
    └── analyze(link, monitor)    one connection's task group:
        ├── consume-telemetry     parse -> Monitor.observe_many -> publish events on the device's anomaly
        │                         topic, and open/close alarm records in the alarm book (registry)
        └── watch-silence         every tick: Monitor.check_silence; now and then a checkpoint, and
                                  operator labels read back into per-sensor sensitivity

What does not parse is ignored here (the collector dead-letters it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path

from analytics.alarm_book import AlarmBook
from analytics.checkpoint import load_checkpoint, save_alarm_state, save_checkpoint
from analytics.monitor import Monitor
from analytics.mqtt_link import AnalyticsLink, LinkLost, MqttLink, subscriptions_for
from ganlink.alarms import sensitivity_for
from ganlink.assets import PlantFile
from ganlink.errors import GanlinkError, MessageRejected
from ganlink.schema import AnomalyEvent, encode_anomaly, parse_telemetry
from ganlink.timestamps import now_ns

__all__ = ["AlarmRecorder", "ServiceTuning", "analyze", "build_monitor", "run_analytics"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServiceTuning:
    """Timings of the service loop (defaults suit production; tests shorten them)."""

    tick_s: float = 1.0
    checkpoint_every_s: float = 60.0
    feedback_every_s: float = 60.0
    max_skew_s: float = 3600.0
    backoff_first_s: float = 0.5
    backoff_max_s: float = 30.0


def build_monitor(plant_files: list[PlantFile], state_dir: Path | None) -> Monitor:
    """A monitor for the plants, restored from ``state_dir``'s checkpoint when there is one."""
    monitor = Monitor(plant_files)
    if state_dir is not None:
        load_checkpoint(state_dir, monitor)
    return monitor


class AlarmRecorder:
    """Keeps the alarm book in step with the events published; a failed write is retried on the
    next tick (events stay pending), never dropped silently."""

    def __init__(self, book: AlarmBook | None, sensor_ids: list[str]) -> None:
        self.book = book
        self.sensor_ids = sensor_ids
        self.plant_ids = sorted({sensor_id.split(".", 1)[0] for sensor_id in sensor_ids})
        self.pending: list[AnomalyEvent] = []
        self.factors: dict[str, float] = {}

    async def record(self, events: list[AnomalyEvent]) -> None:
        if self.book is None:
            return
        self.pending.extend(events)
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        try:
            await asyncio.to_thread(self.book.record, batch)
        except GanlinkError as exc:
            self.pending = batch + self.pending
            logger.warning("alarm records not written, %d pending: %s", len(self.pending), exc)

    async def apply_feedback(self, monitor: Monitor) -> None:
        """Operator labels -> threshold factors (changes are logged so they are visible); shelved
        alarms -> new incidents on those sensors are marked ``shelved_until``."""
        if self.book is None:
            return
        try:
            labels = await asyncio.to_thread(self.book.recent_labels, self.sensor_ids)
        except GanlinkError as exc:
            logger.warning("alarm labels not read: %s", exc)
            return
        factors = {}
        for sensor_id, sensor_labels in labels.items():
            sensitivity = sensitivity_for(sensor_labels)
            factors[sensor_id] = sensitivity.factor
            if sensitivity.factor != self.factors.get(sensor_id, 1.0):
                logger.info(
                    "sensitivity of %s: threshold x%.2f (%s)", sensor_id, sensitivity.factor, sensitivity.reason
                )
        for sensor_id in set(self.factors) - set(factors):
            factors[sensor_id] = 1.0
        monitor.apply_sensitivity(factors.items())
        self.factors = {k: v for k, v in factors.items() if v != 1.0}
        try:
            monitor.apply_shelves(await asyncio.to_thread(self.book.shelves, self.plant_ids, now_ns()))
        except GanlinkError as exc:
            logger.warning("alarm shelves not read: %s", exc)


async def _publish_all(link: AnalyticsLink, events: list[AnomalyEvent], recorder: AlarmRecorder) -> None:
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
    await recorder.record(events)


async def _consume(
    link: AnalyticsLink, monitor: Monitor, tuning: ServiceTuning, recorder: AlarmRecorder, state_dir: Path | None
) -> None:
    max_skew_ns = int(tuning.max_skew_s * 1e9)
    async for message in link.inbound():
        if message.topic.endswith("/status"):
            _note_gateway_status(monitor, message.topic, message.payload)
            continue
        arrived = now_ns()
        try:
            telemetry = parse_telemetry(message.topic, message.payload, now_ns=arrived, max_skew_ns=max_skew_ns)
        except MessageRejected:
            continue
        events = monitor.observe_many(telemetry.readings, arrived)
        if events:
            await _publish_all(link, events, recorder)
            if state_dir is not None:
                save_alarm_state(state_dir, monitor)


def _note_gateway_status(monitor: Monitor, topic: str, payload: bytes) -> None:
    """``ganlink/v1/{plant}/_gateway/{gateway}/status``: JSON with ``status`` (or the bare word)."""
    parts = topic.split("/")
    if len(parts) != 6 or parts[3] != "_gateway":
        return
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        body = payload.decode("utf-8", errors="replace").strip()
    status = body.get("status") if isinstance(body, dict) else body
    if status in ("online", "offline"):
        monitor.gateway_status(parts[2], online=status == "online")


async def _watch(
    link: AnalyticsLink, monitor: Monitor, tuning: ServiceTuning, state_dir: Path | None, recorder: AlarmRecorder
) -> None:
    last_checkpoint = last_feedback = time.monotonic()
    await recorder.apply_feedback(monitor)
    while True:
        await asyncio.sleep(tuning.tick_s)
        silent = monitor.check_silence(now_ns())
        if silent:
            await _publish_all(link, silent, recorder)
            if state_dir is not None:
                save_alarm_state(state_dir, monitor)
        if state_dir is not None and time.monotonic() - last_checkpoint >= tuning.checkpoint_every_s:
            save_checkpoint(state_dir, monitor)
            last_checkpoint = time.monotonic()
        if time.monotonic() - last_feedback >= tuning.feedback_every_s:
            await recorder.apply_feedback(monitor)
            last_feedback = time.monotonic()


async def analyze(
    link: AnalyticsLink,
    monitor: Monitor,
    *,
    stop: asyncio.Event,
    state_dir: Path | None = None,
    tuning: ServiceTuning = ServiceTuning(),
    recorder: AlarmRecorder | None = None,
) -> None:
    """Serve one connection until ``stop`` is set; LinkLost propagates to the supervisor."""
    recorder = recorder or AlarmRecorder(None, [])
    try:
        async with asyncio.TaskGroup() as group:
            consume = group.create_task(
                _consume(link, monitor, tuning, recorder, state_dir), name="consume-telemetry"
            )
            watch = group.create_task(_watch(link, monitor, tuning, state_dir, recorder), name="watch-silence")
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
    alarm_book: AlarmBook | None = None,
) -> None:
    """Run the analytics service for ``plant_files`` until ``stop`` is set (the demo's entry).

    With ``alarm_book`` (e.g. RegistryAlarmBook) alarms are recorded for the API's lifecycle actions
    and operator labels tune each sensor's sensitivity."""
    monitor = build_monitor(plant_files, state_dir)
    plant_ids = [p.plant.id for p in plant_files]
    topics = subscriptions_for(plant_ids)
    recorder = AlarmRecorder(alarm_book, monitor.alarm_keys())
    delay = tuning.backoff_first_s
    logger.info("analytics watching %d sensor(s) in %d plant(s)", len(monitor.sensors), len(plant_files))
    try:
        while not stop.is_set():
            try:
                async with MqttLink(mqtt_url, identifier=_identifier(plant_files), topics=topics) as link:
                    delay = tuning.backoff_first_s
                    await analyze(link, monitor, stop=stop, state_dir=state_dir, tuning=tuning, recorder=recorder)
            except LinkLost as exc:
                logger.warning("%s; reconnecting", exc)
            except Exception:  # the supervisor: log with the traceback, restart with backoff
                logger.exception("analytics loop failed; restarting")
            else:
                continue
            wait_s = delay * random.uniform(0.5, 1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait_s)
            delay = min(tuning.backoff_max_s, delay * 2)
    finally:
        if state_dir is not None:
            save_checkpoint(state_dir, monitor)
            logger.info("analytics checkpoint saved in %s", state_dir)
