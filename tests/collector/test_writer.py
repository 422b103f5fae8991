"""The writer: store answers classified, nothing acknowledged before it is written or dead-lettered."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from collector.batching import Batch, BatchBuilder
from collector.config import RetryPolicy
from collector.dead_letter import DeadLetter
from collector.dead_letter_store import DeadLetterStore
from collector.ledger import AckLedger, AckToken
from collector.memory_store import MemoryStore
from collector.metrics import CollectorMetrics
from collector.spool import DiskSpool
from collector.store_writer import StoreDown, StoreWriter, backoff_delay
from collector.writer import BatchWriter
from ganlink.errors import StoreAuthFailed, StoreUnavailable, WriteRejected
from ganlink.schema import Reading
from ganlink.topics import DevicePath

DEVICE = DevicePath("p", "a", "l", "d")
FAST = RetryPolicy(initial_s=0.001, max_s=0.002, spool_after_s=0.05)


def _readings(n: int) -> list[Reading]:
    return [Reading(DEVICE, "s", 1_800_000_000_000_000_000 + i, float(i)) for i in range(n)]


class _Receipt:
    async def wait(self) -> None:
        return None


class FakeSettler:
    """Records what would be published and acknowledged."""

    def __init__(self) -> None:
        self.published: list[DeadLetter] = []
        self.acked: list[AckToken] = []

    def publish_dead_letters(self, dead_letters: Sequence[DeadLetter]) -> _Receipt:
        self.published.extend(dead_letters)
        return _Receipt()

    def ack(self, tokens: Sequence[AckToken]) -> None:
        self.acked.extend(tokens)


async def _no_sleep(_delay: float) -> None:
    return None


def test_backoff_is_capped_jittered_and_honours_retry_after() -> None:
    policy = RetryPolicy(initial_s=0.1, max_s=1.0)
    delays = [backoff_delay(attempt, policy) for attempt in range(20)]
    assert all(0.05 <= d <= 1.0 for d in delays)
    assert max(delays[10:]) > 0.4
    assert backoff_delay(0, policy, retry_after_s=3.0) == 3.0


async def test_transient_failures_are_retried_until_written() -> None:
    store, metrics = MemoryStore(), CollectorMetrics()
    store.fail_next(StoreUnavailable("503", url="m"), StoreUnavailable("timeout", url="m", retry_after_s=0.0))
    refused = await StoreWriter(store, FAST, metrics, sleep=_no_sleep).write_readings(_readings(10))
    assert refused == []
    assert len(store.readings) == 10
    assert metrics.write_retries == 2


async def test_auth_failures_raise_the_alarm_keep_retrying_and_clear_it() -> None:
    store, metrics = MemoryStore(), CollectorMetrics()
    alarms: list[bool] = []

    async def sleep(_delay: float) -> None:
        alarms.append(metrics.auth_alarm)

    store.fail_next(*[StoreAuthFailed("no", url="m", status=401)] * 5)
    await StoreWriter(store, FAST, metrics, sleep=sleep).write_readings(_readings(3))
    assert alarms == [True] * 5
    assert metrics.auth_alarm is False
    assert len(store.readings) == 3


async def test_too_large_batches_are_split_until_they_fit() -> None:
    store = MemoryStore()
    store.fail_next(WriteRejected(url="m", status=413, server_message="too large"))
    refused = await StoreWriter(store, FAST, CollectorMetrics(), sleep=_no_sleep).write_readings(_readings(8))
    assert refused == []
    assert len(store.readings) == 8


async def test_rejected_points_are_isolated_exactly_and_the_rest_written() -> None:
    store = MemoryStore()
    bad_times = {1_800_000_000_000_000_003, 1_800_000_000_000_000_011}
    store.reject = lambda r: "field type conflict" if r.time_ns in bad_times else None
    readings = _readings(16)
    refused = await StoreWriter(store, FAST, CollectorMetrics(), sleep=_no_sleep).write_readings(readings)
    assert sorted(readings[x.index].time_ns for x in refused) == sorted(bad_times)
    assert all("field type conflict" in x.server_message and x.status == 400 for x in refused)
    assert len(store.readings) == 14


async def test_a_long_outage_says_store_down_when_spooling_is_allowed() -> None:
    store = MemoryStore()
    store.fail_next(*[StoreUnavailable("down", url="m")] * 10_000)

    async def slow_sleep(_delay: float) -> None:
        await asyncio.sleep(0.01)

    writer = StoreWriter(store, FAST, CollectorMetrics(), spool_allowed=lambda: True, sleep=slow_sleep)
    with pytest.raises(StoreDown):
        await writer.write_readings(_readings(1))


def _batch(readings: list[Reading], tokens: list[AckToken], letters: list[DeadLetter] | None = None) -> Batch:
    return Batch(readings=readings, tokens=tokens, dead_letters=letters or [], origins=[(0, "gw-1", 9)])


async def _writer(tmp_path: Path, store: MemoryStore, settler: FakeSettler, acks: AckLedger) -> BatchWriter:
    metrics = CollectorMetrics()
    return BatchWriter(
        builder=BatchBuilder(max_readings=10, max_messages=10),
        store_writer=StoreWriter(store, FAST, metrics, spool_allowed=lambda: True, sleep=_no_sleep),
        replay_writer=StoreWriter(store, FAST, metrics),
        settler=settler,
        acks=acks,
        metrics=metrics,
        flush_interval_s=0.01,
        spool=DiskSpool(tmp_path / "spool"),
        dead_letters=DeadLetterStore(tmp_path / "dl.sqlite"),
    )


async def test_messages_are_acked_only_after_their_batch_is_written_and_dead_lettered(tmp_path: Path) -> None:
    store, settler, acks = MemoryStore(), FakeSettler(), AckLedger()
    connection = acks.new_connection()
    tokens = [AckToken(connection, 1), AckToken(connection, 2)]
    for token in tokens:
        acks.register(token)
    store.reject = lambda r: "bad line" if r.value == 2.0 else None
    letter = DeadLetter("not-json", "x", "t", b"{", 0)
    writer = await _writer(tmp_path, store, settler, acks)
    await writer.settle(_batch(_readings(4), tokens, [letter]))
    assert settler.acked == tokens
    assert len(store.readings) == 3
    assert sorted(d.reason for d in settler.published) == ["not-json", "write-rejected"]
    rejected = next(d for d in settler.published if d.reason == "write-rejected")
    assert (rejected.gateway, rejected.seq) == ("gw-1", 9)
    assert DeadLetterStore(tmp_path / "dl.sqlite").counts() == {"not-json": 1, "write-rejected": 1}


async def test_while_the_store_is_down_batches_are_spooled_acked_and_replayed_in_order(tmp_path: Path) -> None:
    store, settler, acks = MemoryStore(), FakeSettler(), AckLedger()
    connection = acks.new_connection()
    writer = await _writer(tmp_path, store, settler, acks)
    store.fail_next(*[StoreUnavailable("down", url="m")] * 5)
    real_writer = writer._store
    real_writer._policy = RetryPolicy(initial_s=0.0, max_s=0.0, spool_after_s=0.0)
    token = AckToken(connection, 1)
    acks.register(token)
    await writer.settle(_batch(_readings(3), [token]))
    assert writer.store_down
    assert settler.acked == [token]  # durable on disk: safe to ack
    assert len(store.readings) == 0
    stop = asyncio.Event()
    drain = asyncio.create_task(writer.drain_spool(stop))
    for _ in range(500):
        if len(store.readings) == 3:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await drain
    assert len(store.readings) == 3
    assert not writer.store_down
    assert len(DiskSpool(tmp_path / "spool")) == 0


class SlowFirstStore(MemoryStore):
    """The first write takes longer than the second, as a big batch on a busy server would."""

    async def write_readings(self, readings: Sequence[Reading]) -> None:
        if self.write_calls == 0:
            self.write_calls += 1
            await asyncio.sleep(0.05)
            for reading in readings:
                self.readings[(reading.device, reading.sensor, reading.time_ns)] = reading
            return
        await super().write_readings(readings)


async def test_concurrent_writes_still_ack_in_arrival_order(tmp_path: Path) -> None:
    store, settler, acks = SlowFirstStore(), FakeSettler(), AckLedger()
    connection = acks.new_connection()
    tokens = [AckToken(connection, mid) for mid in (1, 2)]
    for token in tokens:
        acks.register(token)
    metrics = CollectorMetrics()
    builder = BatchBuilder(max_readings=2, max_messages=10)
    writer = BatchWriter(
        builder=builder,
        store_writer=StoreWriter(store, FAST, metrics, sleep=_no_sleep),
        replay_writer=StoreWriter(store, FAST, metrics),
        settler=settler,
        acks=acks,
        metrics=metrics,
        flush_interval_s=0.01,
        concurrency=2,
    )
    from collector.intake import Intake  # noqa: PLC0415

    readings = _readings(4)
    builder.add(Intake(readings=readings[:2]), tokens[0])
    builder.add(Intake(readings=readings[2:]), tokens[1])
    stop = asyncio.Event()
    stop.set()
    await writer.run(stop)
    assert settler.acked == tokens  # the second batch finished first, yet 1 was acked before 2
    assert len(store.readings) == 4
