"""Fixtures for the store battery: every contract test runs on both stores.

InfluxDB tests run against the real session ``influxdb`` server, each in its own fresh database.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ganlink.embedded_store import EmbeddedStore
from ganlink.influx import InfluxStore
from ganlink.servers import InfluxServer
from ganlink.stores import ManagedStore


def fresh_database_name() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def influx_store(influxdb: InfluxServer) -> AsyncIterator[InfluxStore]:
    async with InfluxStore(influxdb.url, fresh_database_name()) as store:
        await store.ensure_database()
        yield store
        await store.drop_database()


@pytest.fixture(params=["embedded", pytest.param("influx", marks=pytest.mark.servers)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ManagedStore]:
    if request.param == "embedded":
        async with await EmbeddedStore.open(tmp_path / "timeseries.sqlite") as embedded:
            yield embedded
        return
    server: InfluxServer = request.getfixturevalue("influxdb")
    async with InfluxStore(server.url, fresh_database_name()) as influx:
        await influx.ensure_database()
        yield influx
        await influx.drop_database()
