"""move_series on both stores: a mapped sensor's kept readings move to its registered series with their
own times and values, in chunks, and leave the wire path only once copied."""

from __future__ import annotations

import pytest

from ganlink import embedded_store, influx
from ganlink.schema import Quality, Reading
from ganlink.store import SensorKey, SensorSelector, SeriesPoint
from ganlink.stores import ManagedStore
from ganlink.topics import DevicePath

S = 1_000_000_000
T0 = 1_795_770_000 * S
WIRE = SensorKey(DevicePath("guixi-smelter", "area-x", "line-y", "dev-unknown"), "t7")
TARGET = SensorKey(DevicePath("guixi-smelter", "smelting", "flash-furnace-1", "burner-2"), "temp-inlet")
NEIGHBOUR = SensorKey(WIRE.device, "t8")
EVERYTHING = (0, 2**62)


def readings(key: SensorKey, count: int, *, offset: float = 0.0) -> list[Reading]:
    return [
        Reading(key.device, key.sensor, T0 + k * S, offset + k * 0.5, Quality.UNCERTAIN if k % 7 == 0 else Quality.GOOD)
        for k in range(count)
    ]


async def _everything(store: ManagedStore, key: SensorKey) -> list[SeriesPoint]:
    return await store.query_range(key.device, key.sensor, *EVERYTHING)


async def test_moved_readings_keep_times_values_and_leave_the_wire_path(
    store: ManagedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded_store, "MOVE_CHUNK_READINGS", 7)  # many chunks, with a short last one
    monkeypatch.setattr(influx, "MOVE_CHUNK_READINGS", 7)
    wire = readings(WIRE, 50)
    await store.write_readings([*wire, *readings(NEIGHBOUR, 5, offset=100.0)])

    moved = await store.move_series(WIRE, TARGET, start_ns=EVERYTHING[0], end_ns=EVERYTHING[1])

    assert moved == 50
    assert await _everything(store, TARGET) == [SeriesPoint(r.time_ns, r.value) for r in wire]
    assert await _everything(store, WIRE) == []
    assert [p.value for p in await _everything(store, NEIGHBOUR)] == [100.0 + k * 0.5 for k in range(5)]
    latest = await store.latest(SensorSelector(TARGET.device.plant, sensor=TARGET.sensor))
    assert [(v.time_ns, v.quality) for v in latest] == [(wire[-1].time_ns, wire[-1].quality)]


async def test_only_the_given_time_range_moves(store: ManagedStore) -> None:
    await store.write_readings(readings(WIRE, 10))

    moved = await store.move_series(WIRE, TARGET, start_ns=T0 + 2 * S, end_ns=T0 + 5 * S)

    assert moved == 3
    assert [p.time_ns for p in await _everything(store, TARGET)] == [T0 + k * S for k in (2, 3, 4)]
    assert [p.time_ns for p in await _everything(store, WIRE)] == [T0 + k * S for k in (0, 1, 5, 6, 7, 8, 9)]


async def test_moving_again_overwrites_and_never_doubles(store: ManagedStore) -> None:
    await store.write_readings(readings(WIRE, 10))
    assert await store.move_series(WIRE, TARGET, start_ns=EVERYTHING[0], end_ns=EVERYTHING[1]) == 10
    await store.write_readings(readings(WIRE, 12, offset=1.0))  # a late copy of the same times, plus two more

    assert await store.move_series(WIRE, TARGET, start_ns=EVERYTHING[0], end_ns=EVERYTHING[1]) == 12

    assert await store.count_readings(SensorSelector(**_levels(TARGET)), *EVERYTHING) == 12
    assert [p.value for p in await _everything(store, TARGET)] == [1.0 + k * 0.5 for k in range(12)]


async def test_nothing_to_move_moves_nothing(store: ManagedStore) -> None:
    assert await store.move_series(WIRE, TARGET, start_ns=EVERYTHING[0], end_ns=EVERYTHING[1]) == 0
    with pytest.raises(ValueError, match="onto itself"):
        await store.move_series(WIRE, WIRE, start_ns=EVERYTHING[0], end_ns=EVERYTHING[1])


def _levels(key: SensorKey) -> dict[str, str]:
    d = key.device
    return {"plant": d.plant, "area": d.area, "line": d.line, "device": d.device, "sensor": key.sensor}
