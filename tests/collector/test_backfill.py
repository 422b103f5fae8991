"""Onboarding with a mapping in the collector: readings of a pending sensor approved onto another path
of its plant are stored there from then on, and the readings kept under the wire path move there too.

End to end on real Mosquitto + InfluxDB and on the embedded broker + SQLite store: publish readings of an
unknown sensor -> pending; approve with a mapping; publish more while the collector has not re-read the
aliases yet and after it has -> every reading is under the target with its own time and value, none is
left under the wire path, the backfill is done.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector.aliases import AliasingBatchBuilder, SensorAliases
from collector.backfill import SeriesMover, move_windows
from collector.config import CollectorConfig, MqttProtocol
from collector.intake import Intake, apply_aliases
from collector.loadgen import forget_session
from collector.memory_store import MemoryStore
from collector.service import Collector
from ganlink.assets import PlantFile
from ganlink.embedded_broker import EmbeddedBroker
from ganlink.embedded_store import EmbeddedStore
from ganlink.errors import StoreUnavailable
from ganlink.influx import InfluxStore
from ganlink.registry import Registry, SensorSpec, SensorTarget
from ganlink.schema import Reading
from ganlink.servers import free_port
from ganlink.store import SensorKey, SeriesPoint, TimeSeriesStore
from ganlink.timestamps import format_rfc3339, now_ns
from ganlink.topics import DevicePath

from .conftest import wait_for

PLANT, GATEWAY = "map-plant", "gw-map"
WIRE_DEVICE = DevicePath(PLANT, "area-x", "line-y", "dev-unknown")
WIRE = SensorKey(WIRE_DEVICE, "t7")
TARGET_AT = SensorTarget(area="kiln", line="line-1", device="burner", sensor="temp-inlet")
TARGET = SensorKey(TARGET_AT.device_path(PLANT), TARGET_AT.sensor)
SPEC = SensorSpec(unit="Cel", kind="temperature", range_min=0, range_max=1600, sample_period_s=1.0, data_class=2)
S = 1_000_000_000
EVERYTHING = (0, 2**62)


def _plant_file() -> PlantFile:
    sensor = {"id": "temp", "unit": "Cel", "kind": "temperature", "range": [0, 200], "sample_period_s": 1.0}
    return PlantFile.model_validate({
        "version": 1,
        "plant": {
            "id": PLANT, "name": "Mapping plant", "industry": "building-materials", "timezone": "UTC",
            "nameplate": {"value": 1.0, "unit": "t/d"}, "gateway": GATEWAY,
            "shifts": [{"name": "day", "start": "08:00", "hours": 12}],
            "areas": [{"id": "kiln", "lines": [{"id": "line-1", "devices": [{"id": "fan", "sensors": [sensor]}]}]}],
        },
    })  # fmt: skip


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    reg = Registry(f"sqlite:///{tmp_path / 'registry.sqlite'}")
    reg.create_schema()
    reg.load_plant_file(_plant_file())
    yield reg
    reg.close()


# -- pure parts -------------------------------------------------------------------------------------


def _aliases(registry: Registry) -> SensorAliases:
    aliases = SensorAliases(registry)
    aliases.replace(registry.sensor_aliases())
    return aliases


def test_aliased_readings_become_the_target_sensor_and_others_stay(registry: Registry) -> None:
    registry.report_unknown_readings([Reading(WIRE_DEVICE, "t7", now_ns(), 1.0)])
    registry.approve_pending(WIRE.sensor_id, SPEC, TARGET_AT)
    aliases = _aliases(registry)
    t = now_ns()
    intake = Intake(readings=[Reading(WIRE_DEVICE, "t7", t, 1.5), Reading(WIRE_DEVICE, "t8", t, 2.5)])

    apply_aliases(intake, aliases.renames)

    assert [(r.sensor_id, r.time_ns, r.value) for r in intake.readings] == [
        (TARGET.sensor_id, t, 1.5),
        (WIRE_DEVICE.sensor_id("t8"), t, 2.5),
    ]
    assert aliases.backfill_waiting.is_set()  # its backfill is queued


def test_messages_of_other_devices_pass_untouched(registry: Registry) -> None:
    registry.report_unknown_readings([Reading(WIRE_DEVICE, "t7", now_ns(), 1.0)])
    registry.approve_pending(WIRE.sensor_id, SPEC, TARGET_AT)
    builder = AliasingBatchBuilder(_aliases(registry), max_readings=10, max_messages=10, on_sealed=lambda: None)
    other = Reading(TARGET.device, "t7", now_ns(), 3.0)  # same sensor name, another device
    builder.add(Intake(readings=[other]), None)
    builder.add(Intake(readings=[Reading(WIRE_DEVICE, "t7", other.time_ns, 4.0)]), None)
    builder.seal_now()

    [batch] = builder.take()

    assert [(r.sensor_id, r.value) for r in batch.readings] == [(other.sensor_id, 3.0), (TARGET.sensor_id, 4.0)]


def test_without_aliases_nothing_is_rewritten(registry: Registry) -> None:
    aliases = _aliases(registry)
    readings = [Reading(WIRE_DEVICE, "t7", now_ns(), 1.0)]
    assert apply_aliases(Intake(readings=list(readings)), aliases.renames).readings == readings
    assert not aliases.backfill_waiting.is_set()


def test_move_windows_cover_all_time_a_day_at_a_time() -> None:
    day = 86_400 * S
    now = 1_795_770_000 * S
    windows = move_windows(now - 3 * day, now)
    assert (windows[0][0], windows[-1][1]) == (0, 2**62)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))
    assert 4 <= len(windows) - 2 <= 5
    assert move_windows(None, now)[0] == (0, now // day * day)


# -- the mover against the registry ----------------------------------------------------------------


class _FailingOnce(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    async def move_series(self, source: SensorKey, target: SensorKey, *, start_ns: int, end_ns: int) -> int:
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("connection refused", url="memory://")
        return await super().move_series(source, target, start_ns=start_ns, end_ns=end_ns)


async def test_a_failed_backfill_is_recorded_with_its_error_and_retried(registry: Registry) -> None:
    store = _FailingOnce()
    t0 = now_ns() - 60 * S
    kept = [Reading(WIRE_DEVICE, "t7", t0 + k * S, float(k)) for k in range(5)]
    await store.write_readings(kept)
    registry.report_unknown_readings(kept)
    registry.approve_pending(WIRE.sensor_id, SPEC, TARGET_AT)
    mover = SeriesMover(registry, store, _aliases(registry), worker="w1", settle_s=0.0, max_retry_s=0.0)

    assert await mover.run_once()
    failed = registry.pending_sensor(WIRE.sensor_id)
    assert failed is not None
    assert failed.backfill is not None
    assert (failed.backfill.status, failed.backfill.attempts) == ("failed", 1)
    assert "connection refused" in (failed.backfill.error or "")

    assert await mover.run_once()  # retried (no backoff configured here)
    done = registry.pending_sensor(WIRE.sensor_id)
    assert done is not None
    assert done.backfill is not None
    assert (done.backfill.status, done.backfill.moved, done.backfill.error) == ("done", 5, None)
    assert await store.query_range(TARGET.device, TARGET.sensor, *EVERYTHING) == [
        SeriesPoint(r.time_ns, r.value) for r in kept
    ]
    assert not await mover.run_once()  # nothing left to do


async def test_wire_readings_reported_after_a_done_backfill_queue_another_pass(registry: Registry) -> None:
    store = MemoryStore()
    t0 = now_ns() - 60 * S
    first = [Reading(WIRE_DEVICE, "t7", t0 + k * S, float(k)) for k in range(3)]
    await store.write_readings(first)
    registry.report_unknown_readings(first)
    registry.approve_pending(WIRE.sensor_id, SPEC, TARGET_AT)
    mover = SeriesMover(registry, store, _aliases(registry), worker="w1", settle_s=0.0)
    assert await mover.run_once()
    assert _backfill_status(registry) == "done"
    # e.g. a collector that had not re-read the aliases, or a spool replayed after the move
    late = [Reading(WIRE_DEVICE, "t7", t0 + k * S, float(k)) for k in range(3, 5)]
    await store.write_readings(late)
    registry.report_unknown_readings(late)  # what the collector does after writing them
    assert _backfill_status(registry) == "queued"

    assert await mover.run_once()

    pending = registry.pending_sensor(WIRE.sensor_id)
    assert pending is not None
    assert pending.backfill is not None
    assert (pending.status, pending.backfill.status, pending.backfill.passes, pending.backfill.moved) == (
        "accepted", "done", 2, 5
    )
    assert [p.value for p in await store.query_range(TARGET.device, TARGET.sensor, *EVERYTHING)] == [0, 1, 2, 3, 4]
    assert await store.query_range(WIRE.device, WIRE.sensor, *EVERYTHING) == []


async def test_claims_wait_for_the_settle_time_and_one_worker_wins(registry: Registry) -> None:
    registry.report_unknown_readings([Reading(WIRE_DEVICE, "t7", now_ns(), 1.0)])
    registry.approve_pending(WIRE.sensor_id, SPEC, TARGET_AT)
    assert registry.claim_backfill("w1", lease_s=60, settle_s=3600) is None
    claim = registry.claim_backfill("w1", lease_s=60)
    assert claim is not None
    assert claim.backfill.status == "running"
    assert registry.claim_backfill("w2", lease_s=60) is None  # held under a live lease
    later = now_ns() + 120 * S
    taken = registry.claim_backfill("w2", lease_s=60, now_ns=later)  # the lease ran out: w1 died
    assert taken is not None
    assert taken.worker == "w2"
    assert not registry.finish_backfill(claim, moved=1)  # w1 no longer holds it
    assert registry.finish_backfill(taken, moved=1)


# -- end to end -------------------------------------------------------------------------------------


class _Publisher:
    def __init__(self, port: int) -> None:
        self._client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        self.seq = 0

    def telemetry(self, device: DevicePath, readings: list[tuple[str, int, float]]) -> None:
        self.seq += 1
        body = {"v": 1, "gateway": GATEWAY, "seq": self.seq,
                "readings": [{"sensor": s, "ts": format_rfc3339(t), "value": v} for s, t, v in readings]}  # fmt: skip
        self._client.publish(device.telemetry_topic, json.dumps(body).encode(), qos=1).wait_for_publish(10)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@asynccontextmanager
async def _pipeline(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[int, TimeSeriesStore]]:
    """A broker port and a store: real Mosquitto + InfluxDB, or the embedded broker + SQLite store."""
    if kind == "servers":
        mosquitto = request.getfixturevalue("mosquitto")
        influxdb = request.getfixturevalue("influxdb")
        async with InfluxStore(influxdb.url, f"backfill_{tmp_path.name[-12:].replace('-', '_')}") as influx:
            await influx.ensure_database()
            try:
                yield mosquitto.port, influx
            finally:
                await influx.drop_database()
        return
    port = free_port()
    async with EmbeddedBroker(port), await EmbeddedStore.open(tmp_path / "timeseries.sqlite") as embedded:
        yield port, embedded


async def _points(store: TimeSeriesStore, key: SensorKey) -> list[SeriesPoint]:
    return await store.query_range(key.device, key.sensor, *EVERYTHING)


@pytest.mark.parametrize("kind", [pytest.param("servers", marks=pytest.mark.servers), "embedded"])
async def test_approved_mapping_moves_kept_readings_and_stores_later_ones_at_the_target(
    kind: str, registry: Registry, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    client_id = f"collector-backfill-{tmp_path.name}"[:60]
    overrides: dict[str, Any] = {}
    if kind == "embedded":
        overrides = {"protocol": MqttProtocol.V311}
    async with _pipeline(kind, tmp_path, request) as (port, store):
        config = CollectorConfig(mqtt_port=port, client_id=client_id, share_group=None, flush_interval_s=0.05,
                                 data_dir=tmp_path, registry_refresh_s=3.0, onboarding_report_every_s=0.1,
                                 **overrides)  # fmt: skip
        publisher = _Publisher(port)
        stop = asyncio.Event()
        t0 = (now_ns() // S - 600) * S
        sent: dict[int, float] = {}

        def publish(first: int, count: int) -> None:
            batch = [(WIRE.sensor, t0 + k * S, 100.0 + k / 4) for k in range(first, first + count)]
            sent.update({t: v for _, t, v in batch})
            for i in range(0, len(batch), 20):
                publisher.telemetry(WIRE_DEVICE, batch[i : i + 20])

        try:
            async with Collector(config, store, registry=registry) as collector:
                running = asyncio.create_task(collector.run(stop))
                await asyncio.to_thread(publish, 0, 300)  # a thread: the embedded broker runs on this loop
                await wait_for(lambda: (p := registry.pending_sensor(WIRE.sensor_id)) is not None
                                and p.seen_count == 300)  # fmt: skip
                await wait_for(lambda: _count_is(store, WIRE, 300))

                approved = registry.approve_pending(WIRE.sensor_id, SPEC, TARGET_AT)
                approved_at = time.monotonic()
                assert approved.sensor_id == TARGET.sensor_id
                # Published before the collector re-reads the aliases (every 3 s): stored under the wire path.
                await asyncio.to_thread(publish, 300, 40)
                await wait_for(lambda: _count_is(store, WIRE, 340))
                assert collector.onboarding is not None
                assert collector.onboarding.refreshed_at < approved_at  # so this run did cover that case
                await wait_for(lambda: _backfill_status(registry) == "done", timeout_s=60)
                await asyncio.to_thread(publish, 340, 60)  # after: stored under the target directly
                await wait_for(lambda: _count_is(store, TARGET, 400))
                stop.set()
                await running
        finally:
            publisher.close()
            if kind == "servers":
                forget_session("127.0.0.1", port, client_id)
        target_points = await _points(store, TARGET)
        wire_points = await _points(store, WIRE)
    assert target_points == [SeriesPoint(t, v) for t, v in sorted(sent.items())]
    assert wire_points == []
    pending = registry.pending_sensor(WIRE.sensor_id)
    assert pending is not None
    assert pending.backfill is not None
    assert (pending.status, pending.target_sensor_id) == ("accepted", TARGET.sensor_id)
    # one pass moved the 340 kept readings; the later 60 never touched the wire path (no second pass)
    assert (pending.backfill.status, pending.backfill.passes, pending.backfill.moved) == ("done", 1, 340)


async def _count_is(store: TimeSeriesStore, key: SensorKey, count: int) -> bool:
    return len(await _points(store, key)) == count


def _backfill_status(registry: Registry) -> str | None:
    pending = registry.pending_sensor(WIRE.sensor_id)
    return pending.backfill.status if pending is not None and pending.backfill is not None else None
