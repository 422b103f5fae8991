"""The writer: settles sealed batches — store, dead-letter, then acknowledge — and drains the spool.

A batch is settled when its readings and events are in the store (or in the disk spool) and its
dead letters are published and kept locally; only then are its messages acknowledged.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from collector.batching import Batch, BatchBuilder, Origin
from collector.completeness import CompletenessTracker
from collector.dead_letter import DeadLetter
from collector.dead_letter_store import DeadLetterStore
from collector.ledger import AckLedger, AckToken
from collector.metrics import CollectorMetrics
from collector.spool import DiskSpool
from collector.store_writer import Refused, StoreDown, StoreWriter
from ganlink.schema import AnomalyEvent, Reading, encode_anomaly, encode_telemetry
from ganlink.timestamps import now_ns

__all__ = ["BatchWriter", "Receipt", "Settler"]

logger = logging.getLogger(__name__)


class Receipt(Protocol):
    async def wait(self) -> None: ...


class Settler(Protocol):
    """The message source's side of settling: publish dead letters, acknowledge messages."""

    def publish_dead_letters(self, dead_letters: Sequence[DeadLetter]) -> Receipt: ...

    def ack(self, tokens: Sequence[AckToken]) -> None: ...


def _refused_readings(
    readings: Sequence[Reading], origins: Sequence[Origin], refused: list[Refused], now: int
) -> list[DeadLetter]:
    starts = [origin[0] for origin in origins]
    letters = []
    for item in refused:
        reading = readings[item.index]
        at = bisect.bisect_right(starts, item.index) - 1
        gateway, seq = (origins[at][1], origins[at][2]) if at >= 0 else (None, None)
        payload = encode_telemetry(gateway or "unknown", seq or 0, [reading])
        detail = f"store refused with HTTP {item.status}: {item.server_message}"
        letters.append(
            DeadLetter("write-rejected", detail, reading.device.telemetry_topic, payload, now, gateway=gateway, seq=seq)
        )
    return letters


def _refused_events(events: Sequence[AnomalyEvent], refused: list[Refused], now: int) -> list[DeadLetter]:
    return [
        DeadLetter(
            "write-rejected",
            f"store refused with HTTP {item.status}: {item.server_message}",
            events[item.index].device.anomaly_topic,
            encode_anomaly(events[item.index]),
            now,
        )
        for item in refused
    ]


class BatchWriter:
    """Takes sealed batches from the builder and settles them one after another."""

    def __init__(
        self,
        *,
        builder: BatchBuilder,
        store_writer: StoreWriter,
        replay_writer: StoreWriter,
        settler: Settler,
        acks: AckLedger,
        metrics: CollectorMetrics,
        flush_interval_s: float,
        spool: DiskSpool | None = None,
        dead_letters: DeadLetterStore | None = None,
        completeness: CompletenessTracker | None = None,
        concurrency: int = 1,
        on_written: Callable[[Sequence[Reading]], None] | None = None,
    ) -> None:
        self._builder = builder
        self._store = store_writer
        self._replay_store = replay_writer
        self._settler = settler
        self._acks = acks
        self._metrics = metrics
        self._flush_interval_s = flush_interval_s
        self._spool = spool
        self._dead_letters = dead_letters
        self._completeness = completeness
        self._concurrency = max(1, concurrency)
        self._on_written = on_written
        self._settling: set[asyncio.Task[None]] = set()
        self._failed: list[asyncio.Task[None]] = []
        self._sealed = asyncio.Event()
        self._spool_filled = asyncio.Event()
        self._store_down = False
        self._loop = asyncio.get_running_loop()
        if spool is not None and len(spool):
            self._store_down = True
            self._spool_filled.set()

    @property
    def store_down(self) -> bool:
        return self._store_down

    def notify_sealed(self) -> None:
        """Thread-safe: a batch was sealed (called from the MQTT network thread)."""
        self._loop.call_soon_threadsafe(self._sealed.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Settle batches until ``stop`` is set, then seal and settle what is left."""
        while not stop.is_set():
            self._raise_failure()
            waiter = asyncio.ensure_future(self._sealed.wait())
            stopper = asyncio.ensure_future(stop.wait())
            timeout = max(0.001, self._flush_interval_s - self._builder.age())
            await asyncio.wait({waiter, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
            self._sealed.clear()
            self._builder.seal_aged(self._flush_interval_s)
            await self.settle_sealed()
        self._builder.seal_now()
        await self.settle_sealed()
        if self._settling:
            await asyncio.gather(*self._settling)
        self._raise_failure()

    async def settle_sealed(self) -> None:
        """Settle the sealed batches, up to ``concurrency`` at a time (one store connection each);
        the ack ledger still releases acknowledgements in arrival order."""
        for batch in self._builder.take():
            if self._concurrency == 1:
                await self.settle(batch)
                continue
            while len(self._settling) >= self._concurrency:
                await asyncio.wait(self._settling, return_when=asyncio.FIRST_COMPLETED)
            task = asyncio.create_task(self.settle(batch), name="collector-settle")
            self._settling.add(task)
            task.add_done_callback(self._settled)

    def _settled(self, task: asyncio.Task[None]) -> None:
        self._settling.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._failed.append(task)

    def _raise_failure(self) -> None:
        """A bug in settling must stop the writer (and the service) instead of stalling it."""
        if self._failed:
            self._failed.pop().result()

    async def settle(self, batch: Batch) -> None:
        started = time.monotonic()
        dead_letters = list(batch.dead_letters)
        stored = False
        refused_readings = 0
        if not self._store_down:
            try:
                refused = await self._store.write_readings(batch.readings)
                refused_readings = len(refused)
                dead_letters += _refused_readings(batch.readings, batch.origins, refused, now_ns())
                refused = await self._store.write_events(batch.events)
                dead_letters += _refused_events(batch.events, refused, now_ns())
                stored = True
            except StoreDown as exc:
                logger.warning("%s; spooling batches to %s until it is back", exc, self._spool_dir())
                self._store_down = True
        if not stored and (batch.readings or batch.events):
            await self._to_spool(batch)
        await self._dead_letter(dead_letters)
        self._acks_for(batch.tokens)
        metrics = self._metrics
        metrics.observe_write(time.monotonic() - started)
        if stored:
            self._observe(batch.readings)
            metrics.batches_written += 1
            metrics.readings_written += len(batch.readings) - refused_readings
            metrics.events_written += len(batch.events)
            if batch.readings:
                metrics.lag_seconds_last = max(0.0, (now_ns() - batch.readings[-1].time_ns) / 1e9)

    def _observe(self, readings: list[Reading]) -> None:
        if self._completeness is not None and readings:
            self._completeness.observe(readings)
        if self._on_written is not None and readings:
            self._on_written(readings)

    def _spool_dir(self) -> str:
        return str(self._spool.directory) if self._spool is not None else "<no spool>"

    async def _to_spool(self, batch: Batch) -> None:
        spool = self._spool
        if spool is None:  # StoreDown is only raised when a spool exists
            raise RuntimeError("store down without a spool")
        await asyncio.to_thread(spool.put, batch.readings, batch.events, batch.origins)
        self._metrics.batches_spooled += 1
        self._metrics.readings_spooled += len(batch.readings)
        self._metrics.spool_depth_batches += 1
        self._spool_filled.set()

    async def _dead_letter(self, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        if self._dead_letters is not None:
            await asyncio.to_thread(self._dead_letters.add, letters)
        receipt = self._settler.publish_dead_letters(letters)
        await receipt.wait()
        for letter in letters:
            self._metrics.dead_lettered[letter.reason] += 1

    def _acks_for(self, tokens: list[AckToken]) -> None:
        ready = self._acks.complete(tokens)
        if ready:
            self._settler.ack(ready)
        self._metrics.in_flight_messages = len(self._acks)
        self._metrics.in_flight_peak = self._acks.peak

    async def drain_spool(self, stop: asyncio.Event) -> None:
        """Replay spooled batches oldest first whenever there are any; live batches keep flowing."""
        spool = self._spool
        if spool is None:
            return
        self._metrics.spool_depth_batches = len(spool)
        while not stop.is_set():
            spooled = await asyncio.to_thread(spool.oldest)
            if spooled is None:
                self._spool_filled.clear()
                self._metrics.spool_depth_batches = 0
                waiter = asyncio.ensure_future(self._spool_filled.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()
                continue
            refused = await self._replay_store.write_readings(spooled.readings)
            refused_readings = len(refused)
            letters = _refused_readings(spooled.readings, spooled.origins, refused, now_ns())
            refused = await self._replay_store.write_events(spooled.events)
            letters += _refused_events(spooled.events, refused, now_ns())
            await self._dead_letter(letters)
            if self._store_down:
                logger.warning("store is back; live batches go straight to it while the spool drains")
                self._store_down = False
            await asyncio.to_thread(spool.remove, spooled)
            self._observe(spooled.readings)
            self._metrics.readings_written += len(spooled.readings) - refused_readings
            self._metrics.spool_depth_batches = max(0, self._metrics.spool_depth_batches - 1)
            if self._metrics.spool_depth_batches == 0:
                logger.info("spool drained")
