"""Property: whatever the encoder accepts, a real influxd stores and gives back exactly."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganlink.influx import InfluxStore
from ganlink.lineprotocol import escape_tag_value
from ganlink.schema import AnomalyEvent, Quality, Reading
from ganlink.servers import InfluxServer
from ganlink.store import SensorSelector
from ganlink.topics import DevicePath

T0 = 1_795_770_000 * 1_000_000_000
EVERYTHING = (0, 2**62)


def _storable(text: str) -> bool:
    try:
        escape_tag_value(text)
    except ValueError:
        return False
    return True


tag_text = st.text(min_size=1, max_size=24).filter(_storable)
finite = st.floats(allow_nan=False, allow_infinity=False)


async def _round_trip(
    url: str, database: str, samples: list[tuple[str, float, Quality]], detector: str, alarm_id: str
) -> None:
    # A fresh device per example keeps examples apart inside one database.
    device = DevicePath("prop-plant", "area", "line", f"d-{uuid.uuid4().hex[:10]}")
    selector = SensorSelector(device.plant, device=device.device)
    readings = [Reading(device, sensor, T0, value, quality) for sensor, value, quality in samples]
    events = [AnomalyEvent(device, sensor, detector, T0, value, -value, alarm_id) for sensor, value, _ in samples]
    async with InfluxStore(url, database) as store:
        await store.write_readings(readings)
        await store.write_events(events)

        latest = await store.latest(selector)
        stored_events = await store.events(selector, *EVERYTHING)

    assert {(item.sensor, item.value, item.quality) for item in latest} == set(samples)
    assert sorted((e.sensor, e.detector, e.score, e.value, e.alarm_id) for e in stored_events) == sorted(
        (sensor, detector, value, -value, alarm_id) for sensor, value, _ in samples
    )


@pytest.fixture(scope="module")
def roundtrip_database(influxdb: InfluxServer) -> str:
    database = f"prop_{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        async with InfluxStore(influxdb.url, database) as store:
            await store.ensure_database()

    asyncio.run(create())
    return database


@pytest.mark.servers
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    samples=st.lists(
        st.tuples(tag_text, finite, st.sampled_from(list(Quality))), min_size=1, max_size=8, unique_by=lambda s: s[0]
    ),
    detector=tag_text,
    alarm_id=st.text(max_size=40),
)
def test_weird_tags_values_and_strings_come_back_exactly_from_influxd(
    influxdb: InfluxServer,
    roundtrip_database: str,
    samples: list[tuple[str, float, Quality]],
    detector: str,
    alarm_id: str,
) -> None:
    asyncio.run(_round_trip(influxdb.url, roundtrip_database, samples, detector, alarm_id))
