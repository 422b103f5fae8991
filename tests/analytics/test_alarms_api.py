"""The alarm lifecycle end to end through the API: analytics raises and clears, people acknowledge
and label through /api/v1, and the labels come back to analytics as a less sensitive threshold."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from analytics.alarm_book import RegistryAlarmBook
from analytics.monitor import Monitor
from analytics.service import AlarmRecorder
from api.app import create_app
from ganlink.assets import PlantFile, load_plant_file
from ganlink.embedded_store import EmbeddedStore
from ganlink.registry import ALL_PLANTS, Registry, Role
from ganlink.schema import AnomalyEvent, Reading
from ganlink.settings import Settings
from ganlink.timestamps import now_ns
from ganlink.topics import DevicePath

S = 1_000_000_000
T0 = 1_790_000_000 * S
BURNER_1 = DevicePath("test-smelter", "smelting", "furnace-1", "burner-1")
GAS_TEMP = "test-smelter.smelting.furnace-1.burner-1.gas-temp"


def _plant() -> PlantFile:
    return load_plant_file(Path(__file__).with_name("analytics_test_plant.yaml"))


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    registry = Registry(f"sqlite:///{tmp_path / 'registry.sqlite'}")
    registry.create_schema()
    registry.load_plant_file(_plant())
    yield registry
    registry.close()


@pytest.fixture
async def api(tmp_path: Path, registry: Registry) -> AsyncIterator[httpx.AsyncClient]:
    _, token = registry.create_api_key(Role.ENGINEER, [ALL_PLANTS], name="shift engineer")
    async with await EmbeddedStore.open(tmp_path / "timeseries.sqlite") as store:
        app = create_app(Settings(data_dir=tmp_path), store=store, registry=registry, sync_alarms=False)
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers) as http:
            yield http


def _incidents(monitor: Monitor, count: int) -> list[AnomalyEvent]:
    """``count`` over-range incidents on gas-temp, each long enough apart to clear and cool down."""
    rng = random.Random(21)
    events = []
    for i in range(count * 400):
        faulty = i % 400 < 5 and i >= 400
        value = 1700.0 if faulty else round(1200 + rng.gauss(0, 3), 2)
        readings = [Reading(BURNER_1, "state", T0 + i * S, 1.0), Reading(BURNER_1, "gas-temp", T0 + i * S, value)]
        events.extend(monitor.observe_many(readings, T0 + i * S))
    return events


async def test_alarms_raised_by_analytics_are_acted_on_through_the_api_and_labels_feed_back(
    api: httpx.AsyncClient, registry: Registry
) -> None:
    monitor = Monitor([_plant()])
    book = RegistryAlarmBook(registry)
    events = _incidents(monitor, count=6)
    book.record(events)
    raised = [e.alarm_id for e in events if e.details["state"] == "raised"]
    assert len(raised) == 5

    first = (await api.get(f"/api/v1/alarms/{raised[0]}")).json()
    assert (first["sensor_id"], first["detector"], first["severity"]) == (GAS_TEMP, "range", "critical")
    assert (first["status"], first["model_version"]) == ("cleared-unack", "rules-1")
    acked = await api.post(f"/api/v1/alarms/{raised[0]}/acknowledge")
    assert acked.status_code == 200, acked.text
    assert acked.json()["status"] == "cleared-ack"
    again = await api.post(f"/api/v1/alarms/{raised[0]}/acknowledge")
    assert again.status_code == 409

    recorder = AlarmRecorder(book, monitor.alarm_keys())
    for alarm_id in raised:
        response = await api.put(f"/api/v1/alarms/{alarm_id}/label", json={"label": "false"})
        assert response.status_code == 200, response.text
    await recorder.apply_feedback(monitor)
    assert monitor.engine.threshold_factors[GAS_TEMP] > 1.0

    for alarm_id in raised:
        await api.put(f"/api/v1/alarms/{alarm_id}/label", json={"label": "real"})
    await recorder.apply_feedback(monitor)
    assert GAS_TEMP not in monitor.engine.threshold_factors


async def test_a_sensor_shelved_through_the_api_gets_its_next_incidents_marked_shelved(
    api: httpx.AsyncClient, registry: Registry
) -> None:
    monitor = Monitor([_plant()])
    book = RegistryAlarmBook(registry)
    recorder = AlarmRecorder(book, monitor.alarm_keys())
    start = now_ns() - 1200 * S
    rng = random.Random(22)

    def drive(ticks: range, faulty: bool) -> list[AnomalyEvent]:
        events = []
        for i in ticks:
            value = 1700.0 if faulty else round(1200 + rng.gauss(0, 3), 2)
            at = start + i * S
            readings = [Reading(BURNER_1, "state", at, 1.0), Reading(BURNER_1, "gas-temp", at, value)]
            events.extend(monitor.observe_many(readings, at))
        book.record(events)
        return [e for e in events if e.details["state"] == "raised"]

    drive(range(300), faulty=False)
    (first,) = drive(range(300, 310), faulty=True)
    assert "shelved_until" not in first.details
    shelved = await api.post(f"/api/v1/alarms/{first.alarm_id}/shelve", json={"minutes": 60, "reason": "burner swap"})
    assert shelved.status_code == 200, shelved.text
    assert shelved.json()["shelved"] is True
    await recorder.apply_feedback(monitor)

    drive(range(310, 700), faulty=False)  # clears, then the cool-down passes
    (second,) = drive(range(700, 705), faulty=True)
    assert second.alarm_id != first.alarm_id
    assert "shelved_until" in second.details
