"""Store-and-forward: commit to the outbox first, publish live readings first, replay the backlog
on a rate-limited historical lane, delete only what the broker acknowledged.

    submit(readings) -> outbox.commit -> live queue --(window)--> MQTT (QoS 1)
                                       \\-> backlog (outage, restart) --(rate)--> MQTT, "historical"
    PUBACK -> outbox.delete (batched)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterable

from ganlink.schema import Reading
from ganlink.timestamps import now_ns
from gateway.outbox import Outbox, OutboxStats
from gateway.publisher import GatewayPublisher, OutgoingMessage, StatusFields, mark_historical

__all__ = ["StoreAndForward"]

log = logging.getLogger(__name__)

_RATE_SMOOTHING_S = 30.0


class StoreAndForward:
    """Drives one publisher from one outbox (it takes over the publisher's ``on_acked`` and
    ``on_connection``). ``await start()``, ``submit()`` readings as they are read, ``await stop()``."""

    def __init__(
        self,
        publisher: GatewayPublisher,
        outbox: Outbox,
        *,
        backfill_readings_per_s: float,
        window: int = 500,
        live_queue_max: int = 20_000,
        delete_interval_s: float = 0.05,
    ) -> None:
        self.publisher = publisher
        self.outbox = outbox
        self.backfill_readings_per_s = backfill_readings_per_s
        self.window = window
        self.live_queue_max = live_queue_max
        self.delete_interval_s = delete_interval_s
        self._live: deque[OutgoingMessage] = deque()
        self._live_seqs: set[int] = set()
        self._acked: list[int] = []
        self._acked_set: set[int] = set()
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._backlog: deque[OutgoingMessage] = deque()
        self._cursor = -1
        self._tokens = 0.0
        self._last_refill = 0.0
        self._rate = 0.0
        self._last_submit = 0.0
        self._last_rate_saved = 0.0
        self._task: asyncio.Task[None] | None = None
        self._last_ack_ns = 0
        self.readings_submitted = 0
        self.readings_acked = 0
        self.backfilled_messages = 0
        self._live_sent = asyncio.Event()
        publisher.next_seq = max(publisher.next_seq, outbox.next_seq)
        publisher.on_acked = self.acknowledged
        publisher.on_connection = self.connection_changed
        publisher.status_fields = self.status_fields

    async def start(self, *, connect_timeout_s: float | None = None) -> None:
        """Start the sender; connecting may take a while, readings are committed meanwhile."""
        loop = asyncio.get_running_loop()
        self._last_refill = self._last_submit = self._last_rate_saved = loop.time()
        await self.publisher.start(timeout_s=connect_timeout_s)
        self._task = asyncio.create_task(self._sender(), name=f"outbox-sender-{self.publisher.gateway}")

    async def stop(self, *, drain_timeout_s: float = 0.0) -> None:
        """Stop sending (after up to ``drain_timeout_s`` of draining); what is left stays on disk."""
        if drain_timeout_s > 0:
            with contextlib.suppress(TimeoutError):
                await self.wait_drained(timeout_s=drain_timeout_s)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._flush_deletes()
        self.outbox.record_state(readings_per_s=self._rate, connected=False, last_ack_ns=self._last_ack_ns)
        await self.publisher.stop()
        self.outbox.close()

    def submit(self, readings: Iterable[Reading]) -> list[OutgoingMessage]:
        """Commit readings to the outbox (one transaction) and queue them on the live lane."""
        messages = self.publisher.build_messages(readings)
        if not messages:
            return []
        dropped_before = self.outbox.dropped_messages
        committed = self.outbox.commit(messages, protected=self._protected)
        if self.outbox.dropped_messages != dropped_before:
            self._backlog.clear()  # buffered rows may be among the dropped: read them again from disk
        count = sum(m.reading_count for m in messages)
        self.readings_submitted += count
        self._note_rate(count)
        if self.publisher.connected:
            for message in committed:
                if len(self._live) >= self.live_queue_max:
                    break  # the rest waits on the backlog lane
                self._live.append(message)
                self._live_seqs.add(message.seq)
        self._drained.clear()
        self._wake.set()
        return committed

    async def wait_live_room(self, max_queued: int) -> None:
        """Back-pressure for producers that can wait (benchmarks, replays): until the live lane
        holds at most ``max_queued`` messages."""
        while len(self._live) > max_queued:
            self._live_sent.clear()
            await self._live_sent.wait()

    async def wait_drained(self, *, timeout_s: float | None = None) -> None:
        """Until the outbox is empty (everything acknowledged and deleted)."""
        self._wake.set()
        await asyncio.wait_for(self._drained.wait(), timeout_s)

    def stats(self) -> OutboxStats:
        self._flush_deletes()
        return self.outbox.stats()

    def status_fields(self) -> StatusFields:
        """The outbox fields of the retained status: backlog, its age, hours until full, replaying."""
        stats = self.stats()
        age = stats.oldest_age_s(now_ns())
        hours = stats.hours_left
        unsent = stats.messages - self.publisher.in_flight - len(self._live)
        return {
            "depth": stats.readings,
            "oldest_age_s": None if age is None else round(age, 1),
            "hours_left": None if hours is None else round(hours, 2),
            "backfilling": self.publisher.connected and unsent > 0,
            "drops": stats.dropped_readings,
        }

    def acknowledged(self, message: OutgoingMessage) -> None:
        self._last_ack_ns = now_ns()
        self._acked.append(message.seq)
        self._acked_set.add(message.seq)
        self.readings_acked += message.reading_count
        self._wake.set()

    def connection_changed(self, connected: bool) -> None:
        self._save_state()
        if not connected:
            # not yet sent live messages join the backlog; paho keeps and resends what is in flight
            self._live.clear()
            self._live_seqs.clear()
        self._backlog.clear()
        self._cursor = -1
        self._wake.set()

    def _protected(self) -> set[int]:
        return self.publisher.in_flight_seqs | self._live_seqs | self._acked_set

    def _note_rate(self, count: int) -> None:
        now = asyncio.get_running_loop().time()
        elapsed = max(now - self._last_submit, 1e-6)
        weight = min(1.0, elapsed / _RATE_SMOOTHING_S)
        self._rate = (1 - weight) * self._rate + weight * (count / elapsed)
        self._last_submit = now
        if now - self._last_rate_saved > 5:
            self._last_rate_saved = now
            self._save_state()

    def _save_state(self) -> None:
        self.outbox.record_state(
            readings_per_s=self._rate, connected=self.publisher.connected, last_ack_ns=self._last_ack_ns
        )

    def _flush_deletes(self) -> None:
        if self._acked:
            self.outbox.delete(self._acked)
            self._acked.clear()
            self._acked_set.clear()
        if self.outbox.depth_messages == 0:
            self._drained.set()

    async def _sender(self) -> None:
        loop = asyncio.get_running_loop()
        next_flush = loop.time()
        while True:
            timeout = max(0.001, next_flush - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            if loop.time() >= next_flush or len(self._acked) >= 1000:
                self._flush_deletes()
                next_flush = loop.time() + self.delete_interval_s
            if not self.publisher.connected:
                continue
            room = self.window - self.publisher.in_flight
            if room > 0 and self._live:
                batch = [self._live.popleft() for _ in range(min(room, len(self._live)))]
                self._live_seqs.difference_update(m.seq for m in batch)
                self.publisher.send(batch)
                self._live_sent.set()
                room -= len(batch)
            if room > 0 and not self._live:
                self._backfill(room, loop.time())

    def _backfill(self, room: int, now: float) -> None:
        rate = self.backfill_readings_per_s
        self._tokens = min(rate, self._tokens + rate * (now - self._last_refill))  # at most 1 s of burst
        self._last_refill = now
        unsent = self.outbox.depth_messages - self.publisher.in_flight - len(self._acked)
        sent: list[OutgoingMessage] = []
        while room > 0 and self._tokens > 0 and unsent > 0:
            if not self._backlog:
                rows = self.outbox.oldest(after_seq=self._cursor, limit=min(1000, max(room, 100)))
                if not rows:
                    self._cursor = -1  # wrap: rows skipped earlier may be unsent now
                    break
                self._backlog.extend(rows)
            message = self._backlog.popleft()
            self._cursor = message.seq
            if message.seq in self.publisher.in_flight_seqs or message.seq in self._acked_set:
                continue
            if message.seq in self._live_seqs:
                continue
            sent.append(mark_historical(message))
            self._tokens -= message.reading_count
            room -= 1
            unsent -= 1
        if sent:
            self.publisher.send(sent)
            self.backfilled_messages += len(sent)
        if self._tokens <= 0 and unsent > 0:
            asyncio.get_running_loop().call_later(-self._tokens / rate + 0.001, self._wake.set)

