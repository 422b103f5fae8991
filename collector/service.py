"""The collector service: owns the broker connection, the store, the spool and the writer tasks.

    async with Collector(config, store) as collector:   # connect + subscribe
        await collector.run(stop)                        # until stop is set, then flush and ack

``run_collector(settings, stop=...)`` is the entry the CLI and the demo call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from types import TracebackType
from typing import Any, Self

from collector.aliases import AliasingBatchBuilder, SensorAliases
from collector.attribution import GatewayBindingSync, GatewayPlants
from collector.backfill import SeriesMover
from collector.batching import BatchBuilder
from collector.completeness import CompletenessStore, CompletenessTracker
from collector.config import CollectorConfig, RetryPolicy
from collector.dead_letter_store import DeadLetterStore
from collector.gateway_status import GatewayStatusRecorder
from collector.ledger import AckLedger, SequenceLedger
from collector.metrics import CollectorMetrics
from collector.metrics_http import serve_metrics
from collector.mqtt_source import MqttSource
from collector.onboarding import UnknownSensorReporter
from collector.spool import DiskSpool
from collector.store_writer import StoreWriter, backoff_delay
from collector.writer import BatchWriter
from ganlink.assets import bundled_plant_files
from ganlink.errors import StoreUnavailable
from ganlink.registry import Registry, RegistryError
from ganlink.settings import Settings
from ganlink.store import TimeSeriesStore
from ganlink.timestamps import now_ns

__all__ = ["Collector", "run_collector"]

logger = logging.getLogger(__name__)


class Collector:
    """One collector: MQTT in, store out, nothing acknowledged before it is written."""

    def __init__(
        self,
        config: CollectorConfig,
        store: TimeSeriesStore,
        *,
        use_spool: bool = True,
        registry: Registry | None = None,
    ) -> None:
        self.config = config
        self.store = store
        # With a registry: unknown sensors are reported as pending, gateway status and sequence totals kept.
        self.registry = registry
        self.onboarding: UnknownSensorReporter | None = None
        self.backfill: SeriesMover | None = None  # moves kept readings of sensors approved with a mapping
        self.gateway_status: GatewayStatusRecorder | None = None
        self.gateway_bindings: GatewayBindingSync | None = None  # gateway -> plant, kept in the registry
        self.metrics = CollectorMetrics()
        self.sequences = SequenceLedger()
        self.acks = AckLedger()
        self._use_spool = use_spool
        self._source: MqttSource | None = None
        self._writer: BatchWriter | None = None

    @property
    def writer(self) -> BatchWriter:
        if self._writer is None:
            raise RuntimeError("the collector is not open; use `async with Collector(...)`")
        return self._writer

    def _notify_sealed(self) -> None:
        self.writer.notify_sealed()

    async def __aenter__(self) -> Self:
        config = self.config
        spool = DiskSpool(config.spool_dir) if self._use_spool else None
        plant_files = config.plant_files if config.plant_files is not None else tuple(bundled_plant_files())
        self.completeness = CompletenessTracker.from_plant_files(plant_files, window_s=config.completeness_window_s)
        self._completeness_store = CompletenessStore(config.completeness_db)
        dead_letters = DeadLetterStore(config.deadletter_db)
        max_readings, max_messages = config.batch_size, max(1, config.inflight_window // 2)
        builder = BatchBuilder(max_readings=max_readings, max_messages=max_messages, on_sealed=self._notify_sealed)
        # With a registry, it declares and keeps the bindings (loaded by the first refresh below).
        gateway_plants = GatewayPlants() if self.registry is not None else GatewayPlants.from_plant_files(plant_files)
        if self.registry is not None:
            self.gateway_bindings = GatewayBindingSync(self.registry, gateway_plants, collector=config.client_id)
            aliases = SensorAliases(self.registry)
            builder = AliasingBatchBuilder(
                aliases, max_readings=max_readings, max_messages=max_messages, on_sealed=self._notify_sealed
            )
            self.onboarding = UnknownSensorReporter(
                self.registry,
                refresh_s=config.registry_refresh_s,
                report_every_s=config.onboarding_report_every_s,
                aliases=aliases,
                gateway_bindings=self.gateway_bindings,
            )
            await self.onboarding.refresh()
            # Claims wait until every collector (same refresh interval) stores new readings under the target.
            settle_s = config.registry_refresh_s + config.onboarding_report_every_s + 2 * config.flush_interval_s
            worker = f"{config.client_id}-{os.getpid()}"
            self.backfill = SeriesMover(self.registry, self.store, aliases, worker=worker, settle_s=settle_s)
            self.gateway_status = GatewayStatusRecorder(
                self.registry,
                self.sequences,
                collector=config.client_id,
                shared=config.share_group is not None,
                sequences_every_s=config.sequences_every_s,
            )
        source = MqttSource(
            config,
            builder=builder,
            acks=self.acks,
            sequences=self.sequences,
            metrics=self.metrics,
            gateway_plants=gateway_plants,
            on_gateway_status=self.gateway_status.receive if self.gateway_status is not None else None,
        )
        self._writer = BatchWriter(
            builder=builder,
            store_writer=StoreWriter(self.store, config.retry, self.metrics, spool_allowed=lambda: spool is not None),
            replay_writer=StoreWriter(self.store, config.retry, self.metrics),
            settler=source,
            acks=self.acks,
            metrics=self.metrics,
            flush_interval_s=config.flush_interval_s,
            spool=spool,
            dead_letters=dead_letters,
            completeness=self.completeness,
            concurrency=config.write_concurrency,
            on_written=self.onboarding.observe if self.onboarding is not None else None,
        )
        await source.open()
        self._source = source
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._source is not None:
            await self._source.close()
            self._source = None

    async def run(self, stop: asyncio.Event, *, report_every_s: float = 30.0) -> None:
        """Collect until ``stop`` is set; then stop taking messages, flush, acknowledge and return."""
        source, writer = self._source, self.writer
        if source is None:
            raise RuntimeError("the collector is not open; use `async with Collector(...)`")
        flushed = asyncio.Event()
        spool_stop = asyncio.Event()
        async with asyncio.TaskGroup() as tasks:
            writing = tasks.create_task(writer.run(flushed), name="collector-writer")
            drain = tasks.create_task(writer.drain_spool(spool_stop), name="collector-spool-drain")
            report = tasks.create_task(self._report(report_every_s), name="collector-report")
            if self.onboarding is not None:
                tasks.create_task(self.onboarding.run(flushed), name="collector-onboarding")
            if self.backfill is not None:
                tasks.create_task(self.backfill.run(flushed), name="collector-backfill")
            if self.gateway_status is not None:
                tasks.create_task(self.gateway_status.run(flushed), name="collector-gateway-status")
            if self.config.metrics_port is not None:
                render = lambda: self.metrics.prometheus(self.sequences)  # noqa: E731
                tasks.create_task(
                    serve_metrics(render, self.config.metrics_host, self.config.metrics_port, spool_stop),
                    name="collector-metrics",
                )
            await stop.wait()
            logger.info("collector stopping: flushing what was received")
            source.stop_accepting()
            flushed.set()
            spool_stop.set()
            drain.cancel()
            report.cancel()
            await asyncio.wait({writing}, timeout=self.config.stop_grace_s)
            if not writing.done():
                logger.warning("store still failing at stop; unwritten messages stay unacknowledged for redelivery")
                writing.cancel()
        await self.store_completeness(now_ns())
        await self._last_registry_writes()
        self._log_summary()

    async def _last_registry_writes(self) -> None:
        """What was written after the registry tasks' last round: unknown sensors, gateway bindings, status,
        sequences."""
        try:
            if self.onboarding is not None:
                await self.onboarding.report()
            if self.gateway_bindings is not None:
                await self.gateway_bindings.persist()
            if self.gateway_status is not None:
                await self.gateway_status.flush()
                await self.gateway_status.store_sequences()
        except RegistryError as exc:
            logger.warning("registry not updated at stop: %s", exc)

    async def _report(self, every_s: float) -> None:
        waited = 0.0
        while True:
            await asyncio.sleep(5.0)
            waited += 5.0
            await self.store_completeness(now_ns())
            if waited >= every_s:
                waited = 0.0
                self._log_summary()

    async def store_completeness(self, now: int) -> int:
        """Keep the closed completeness windows; returns how many sensor-windows were stored."""
        windows = self.completeness.closed(now)
        if windows:
            await asyncio.to_thread(self._completeness_store.add, windows)
        return len(windows)

    def _log_summary(self) -> None:
        m, seq = self.metrics, self.sequences.totals()
        logger.info(
            "collector: %d messages, %d readings written, %d dead-lettered %s, %d retries, %d batches spooled,"
            " seq gaps %d duplicates %d out-of-order %d",
            m.messages_received,
            m.readings_written,
            sum(m.dead_lettered.values()),
            dict(m.dead_lettered),
            m.write_retries,
            m.batches_spooled,
            seq.gaps,
            seq.duplicates,
            seq.out_of_order,
        )


async def run_collector(
    settings: Settings,
    *,
    stop: asyncio.Event,
    store: TimeSeriesStore | None = None,
    ready: asyncio.Event | None = None,
    registry: Registry | None = None,
    **overrides: Any,
) -> None:
    """Run a collector until ``stop`` is set. ``store``: use this one (e.g. the demo's embedded
    store, left open); otherwise the configured store is opened and closed here. ``registry``: the
    same for the registry (used unless ``use_registry=False``). ``ready`` is set once the collector
    is connected and subscribed. ``overrides`` set :class:`CollectorConfig` fields (e.g.
    ``share_group=None, protocol=MqttProtocol.V311``)."""
    config = CollectorConfig.from_settings(settings, **overrides)
    async with contextlib.AsyncExitStack() as resources:
        if store is None:
            store = await _open_store_patiently(settings, stop)
            if store is None:
                return
            resources.push_async_callback(store.close)
        if registry is None and config.use_registry:
            registry = await asyncio.to_thread(Registry.from_settings, settings)
            resources.callback(registry.close)
        if not config.use_registry:
            registry = None
        collector = await resources.enter_async_context(Collector(config, store, registry=registry))
        if ready is not None:
            ready.set()
        await collector.run(stop)


async def _open_store_patiently(settings: Settings, stop: asyncio.Event) -> TimeSeriesStore | None:
    """The configured store; while it cannot be reached, keep trying (the broker holds the data)."""
    from ganlink.stores import open_store  # noqa: PLC0415 - the store module pulls in httpx/sqlite

    policy = RetryPolicy(initial_s=0.5, max_s=10.0)
    attempt = 0
    while not stop.is_set():
        try:
            return await open_store(settings)
        except StoreUnavailable as exc:
            delay = backoff_delay(attempt, policy, exc.retry_after_s)
            logger.warning("store not reachable at start (%s); retrying in %.1fs", exc, delay)
            attempt += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
    return None
