"""The same hand-computed KPI cases on a real influxd 1.x: the KPI queries mean the same on both stores."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from api.kpi import compute_plant_kpis, parse_period
from api.kpi.targets import LineTargets
from ganlink.embedded_store import EmbeddedStore
from ganlink.influx import InfluxStore
from ganlink.registry import Registry
from ganlink.schema import Reading
from ganlink.servers import InfluxServer

from .conftest import AUTO, KILN
from .test_gather import AUTO_TARGETS, KILN_DEVICE, NOW, S, write_shift

pytestmark = pytest.mark.servers


@pytest.fixture
async def influx_store(influxdb: InfluxServer) -> AsyncIterator[InfluxStore]:
    async with InfluxStore(influxdb.url, f"kpi_{uuid.uuid4().hex[:8]}") as store:
        await store.ensure_database()
        yield store


async def test_discrete_oee_is_the_same_on_influxdb(influx_store: InfluxStore, registry: Registry) -> None:
    period = parse_period("2026-11-26", "2026-11-27", "America/Chicago", now_ns=NOW)
    await write_shift(influx_store, int(datetime(2026, 11, 26, 12, tzinfo=UTC).timestamp()) * S)
    values = {k.key: k.value for k in (await compute_plant_kpis(influx_store, registry, AUTO, period,
                                                                targets=AUTO_TARGETS)).kpis}
    good, produced = 21590 // 20, 21590 // 20 + 21590 // 200
    assert values["availability"] == pytest.approx(6 / 8)
    assert values["quality"] == pytest.approx(good / produced)
    assert values["oee"] == pytest.approx(0.75 * good * 15 / (6 * 3600))
    assert values["completeness"] == pytest.approx(1 / 3)


async def test_continuous_kpis_are_the_same_on_influxdb(
    influx_store: InfluxStore, store: EmbeddedStore, registry: Registry
) -> None:
    period = parse_period("2026-11-26", "2026-11-27", "Asia/Shanghai", now_ns=NOW)
    readings = []
    for minute in range(24 * 60):
        time_ns = period.start_ns + minute * 60 * S
        readings.append(Reading(KILN_DEVICE, "feed-rate", time_ns, 100.0 if minute < 12 * 60 else 0.0))
        readings.append(Reading(KILN_DEVICE, "main-power", time_ns, 1000.0))
    targets = {(KILN, "kiln-1"): LineTargets(
        throughput="kiln/feed-rate", nameplate_t_per_h=125.0, running_above_t_per_h=10.0, power=("kiln/main-power",)
    )}
    results = []
    for backend in (influx_store, store):
        await backend.write_readings(readings)
        kpis = await compute_plant_kpis(backend, registry, KILN, period, targets=targets)
        results.append({k.key: k.value for k in kpis.kpis})
    influx, embedded = results
    assert influx["run_rate"] == pytest.approx(0.8)
    assert influx["specific_energy"] == pytest.approx(20.0)
    assert influx == pytest.approx(embedded)
