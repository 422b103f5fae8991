"""InfluxStore against an influxd with authentication on: refused credentials are StoreAuthFailed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

from ganlink.errors import StoreAuthFailed
from ganlink.influx import InfluxStore
from ganlink.schema import Reading
from ganlink.servers import InfluxServer, missing_server_binaries
from ganlink.store import SensorSelector
from ganlink.topics import DevicePath

T0 = 1_795_770_000 * 1_000_000_000
KILN = DevicePath("wuhu-cement", "clinker", "kiln-1", "burner")
ADMIN, ADMIN_PASSWORD = "admin", "s3cret-admin"
READER, READER_PASSWORD = "reader", "s3cret-reader"
DATABASE = "plantdata"

pytestmark = pytest.mark.servers


async def _set_up_users(url: str) -> None:
    # With no user yet, influxd lets anyone create the first admin.
    async with InfluxStore(url, DATABASE) as anonymous:
        await anonymous.query(f"CREATE USER {ADMIN} WITH PASSWORD '{ADMIN_PASSWORD}' WITH ALL PRIVILEGES")
    async with InfluxStore(url, DATABASE, username=ADMIN, password=ADMIN_PASSWORD) as admin:
        await admin.ensure_database()
        await admin.query(f"CREATE USER {READER} WITH PASSWORD '{READER_PASSWORD}'")
        await admin.query(f'GRANT READ ON "{DATABASE}" TO {READER}')


@pytest.fixture(scope="module")
def secured_influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    if missing_server_binaries():
        pytest.fail(f"real-server tests need: apt-get install {' '.join(missing_server_binaries())}")
    with InfluxServer(tmp_path_factory.mktemp("influxdb-auth"), auth_enabled=True) as server:
        asyncio.run(_set_up_users(server.url))
        yield server


@pytest.mark.parametrize(
    ("username", "password"), [(None, None), (ADMIN, "wrong"), ("nobody", "x")], ids=["none", "wrong", "unknown"]
)
async def test_missing_or_wrong_credentials_are_store_auth_failed_401(
    secured_influxdb: InfluxServer, username: str | None, password: str | None
) -> None:
    async with InfluxStore(secured_influxdb.url, DATABASE, username=username, password=password) as store:
        with pytest.raises(StoreAuthFailed) as caught:
            await store.write_readings([Reading(KILN, "temp", T0, 1.0)])
        with pytest.raises(StoreAuthFailed):
            await store.latest(SensorSelector("wuhu-cement"))

    assert caught.value.status == 401


async def test_a_read_only_user_can_read_but_writing_is_store_auth_failed_403(
    secured_influxdb: InfluxServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with InfluxStore(secured_influxdb.url, DATABASE, username=ADMIN, password=ADMIN_PASSWORD) as admin:
        await admin.write_readings([Reading(KILN, "temp", T0, 1450.0)])

    async with InfluxStore(secured_influxdb.url, DATABASE, username=READER, password=READER_PASSWORD) as reader:
        with caplog.at_level(logging.WARNING, logger="ganlink.influx"):
            await reader.ensure_database()  # not an admin: a warning, the database exists anyway
        [latest] = await reader.latest(SensorSelector("wuhu-cement"))
        with pytest.raises(StoreAuthFailed) as caught:
            await reader.write_readings([Reading(KILN, "temp", T0 + 1, 1.0)])

    assert latest.value == 1450.0
    assert caught.value.status == 403
    assert "cannot create InfluxDB database" in caplog.text
