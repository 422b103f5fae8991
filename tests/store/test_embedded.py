"""EmbeddedStore specifics: shared files, rolled-back writes, the worker thread."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganlink.embedded_store import EmbeddedStore
from ganlink.errors import StoreUnavailable, WriteRejected
from ganlink.schema import Reading
from ganlink.store import SensorSelector, SeriesPoint
from ganlink.topics import DevicePath

T0 = 1_795_770_000 * 1_000_000_000
LINE = DevicePath("foshan-glass", "float", "float-line-1", "tin-bath")
EVERYTHING = (0, 2**62)


async def test_a_reader_sees_sensors_another_store_on_the_same_file_created_later(tmp_path: Path) -> None:
    # The demo's API reads the file the collector writes.
    path = tmp_path / "timeseries.sqlite"
    async with await EmbeddedStore.open(path) as writer, await EmbeddedStore.open(path) as reader:
        await reader.latest(SensorSelector("foshan-glass"))  # the reader starts before the sensor exists
        await writer.write_readings([Reading(LINE, "bath-temp", T0, 1085.0)])

        assert await reader.query_range(LINE, "bath-temp", *EVERYTHING) == [SeriesPoint(T0, 1085.0)]
        assert [item.value for item in await reader.latest(SensorSelector("foshan-glass"))] == [1085.0]


async def test_a_rolled_back_batch_leaves_no_trace_and_later_writes_land(tmp_path: Path) -> None:
    async with await EmbeddedStore.open(tmp_path / "ts.sqlite") as store:
        batch = [Reading(LINE, "bath-temp", T0, 1085.0), Reading(LINE, "bad-\ud800", T0, 1.0)]
        with pytest.raises(WriteRejected, match="not storable"):
            await store.write_readings(batch)
        assert await store.count_readings(SensorSelector("foshan-glass"), *EVERYTHING) == 0

        await store.write_readings([Reading(LINE, "bath-temp", T0, 1090.0)])

        assert [(item.sensor, item.value) for item in await store.latest(SensorSelector("foshan-glass"))] == [
            ("bath-temp", 1090.0)
        ]


async def test_an_in_memory_store_works_as_a_throwaway_fake() -> None:
    async with await EmbeddedStore.open(":memory:") as store:
        await store.write_readings([Reading(LINE, "bath-temp", T0, 1085.0)])
        assert await store.count_readings(SensorSelector("foshan-glass"), *EVERYTHING) == 1


async def test_a_store_not_opened_through_open_refuses_work(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "ts.sqlite")
    try:
        with pytest.raises(StoreUnavailable, match="not open"):
            await store.latest(SensorSelector("foshan-glass"))
    finally:
        await store.close()


async def test_a_path_that_cannot_hold_a_database_is_store_unavailable(tmp_path: Path) -> None:
    (tmp_path / "not-a-dir").write_text("a file where a directory should be")

    with pytest.raises(StoreUnavailable, match="not-a-dir"):
        await EmbeddedStore.open(tmp_path / "not-a-dir" / "ts.sqlite")


async def test_a_file_that_is_not_sqlite_is_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "ts.sqlite"
    path.write_bytes(b"this is not a database " * 100)

    with pytest.raises(StoreUnavailable, match="SQLite failed"):
        await EmbeddedStore.open(path)
