"""open_store picks the store from settings and can be awaited or used with ``async with``."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from ganlink.embedded_store import EmbeddedStore
from ganlink.errors import StoreUnavailable
from ganlink.influx import InfluxStore
from ganlink.schema import Reading
from ganlink.servers import InfluxServer, free_port
from ganlink.settings import Settings
from ganlink.store import SensorSelector
from ganlink.stores import open_store
from ganlink.topics import DevicePath

PRESS = DevicePath("changchun-body", "stamping", "press-line-2", "press-4")
T0 = 1_795_770_000 * 1_000_000_000
EVERYTHING = (0, 2**62)


async def test_without_an_influx_url_the_embedded_store_opens_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", influx_url=None)

    async with open_store(settings) as store:
        assert isinstance(store, EmbeddedStore)
        await store.write_readings([Reading(PRESS, "tonnage", T0, 800.0)])

    assert settings.embedded_store_path.exists()
    reopened = await open_store(settings)  # the awaited form; data survives a reopen
    try:
        assert await reopened.count_readings(SensorSelector("changchun-body"), *EVERYTHING) == 1
    finally:
        await reopened.close()


async def test_a_closed_embedded_store_says_so(tmp_path: Path) -> None:
    store = await EmbeddedStore.open(tmp_path / "ts.sqlite")
    await store.close()

    with pytest.raises(StoreUnavailable, match="closed"):
        await store.write_readings([Reading(PRESS, "tonnage", T0, 1.0)])


@pytest.mark.servers
async def test_with_an_influx_url_the_influx_store_opens_and_creates_its_database(influxdb: InfluxServer) -> None:
    database = f"open_{uuid.uuid4().hex[:10]}"
    settings = Settings(influx_url=influxdb.url, influx_db=database)

    async with open_store(settings) as store:
        assert isinstance(store, InfluxStore)
        await store.write_readings([Reading(PRESS, "tonnage", T0, 800.0)])
        assert await store.count_readings(SensorSelector("changchun-body"), *EVERYTHING) == 1
        await store.drop_database()


@pytest.mark.servers
async def test_an_unreachable_influx_fails_to_open_with_store_unavailable() -> None:
    settings = Settings(influx_url=f"http://127.0.0.1:{free_port()}")

    with pytest.raises(StoreUnavailable):
        await open_store(settings)
