"""Alarm records in the registry (the API's alarm lifecycle rows) and operator-label feedback."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import select, update

from analytics.alarm_book import MemoryAlarmBook, RegistryAlarmBook, sensitivities
from analytics.monitor import Monitor
from analytics.service import AlarmRecorder
from ganlink.alarms import AlarmStatus, Label
from ganlink.assets import load_plant_file
from ganlink.registry import Registry, RegistryError, alarms
from ganlink.schema import AnomalyEvent
from ganlink.topics import DevicePath

S = 1_000_000_000
BURNER_1 = DevicePath("test-smelter", "smelting", "furnace-1", "burner-1")
GAS_TEMP = "test-smelter.smelting.furnace-1.burner-1.gas-temp"


def _event(alarm_id: str, state: str, time_s: int) -> AnomalyEvent:
    details = {"state": state, "severity": "critical", "model_version": "rules-1", "why": "range: 1750 > 1600"}
    return AnomalyEvent(BURNER_1, "gas-temp", "range", time_s * S, 0.9, 1750.0, alarm_id, details)


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    registry = Registry(f"sqlite:///{tmp_path / 'registry.sqlite'}")
    registry.create_schema()
    return registry


def test_a_raised_event_opens_one_row_and_its_clear_closes_it(registry: Registry) -> None:
    book = RegistryAlarmBook(registry)
    book.record([_event("a1", "raised", 100)])
    book.record([_event("a1", "raised", 100)])  # a replay is harmless
    with registry.engine.connect() as conn:
        rows = conn.execute(select(alarms)).mappings().all()
    assert len(rows) == 1
    row = rows[0]
    assert (row["id"], row["sensor_id"], row["detector"], row["severity"]) == ("a1", GAS_TEMP, "range", "critical")
    assert (row["plant"], row["area"], row["line"], row["model_version"]) == (
        "test-smelter",
        "smelting",
        "furnace-1",
        "rules-1",
    )
    assert row["details"]["why"] == "range: 1750 > 1600"
    assert row["cleared_ns"] is None
    book.record([_event("a1", "cleared", 160)])
    book.record([_event("a1", "cleared", 170)])  # a replayed clear changes nothing
    with registry.engine.connect() as conn:
        assert conn.execute(select(alarms.c.cleared_ns)).scalar_one() == 160 * S


def test_labels_are_read_back_per_sensor_oldest_first(registry: Registry) -> None:
    book = RegistryAlarmBook(registry)
    book.record([_event(f"a{i}", "raised", 100 + i) for i in range(4)])
    with registry.engine.begin() as conn:  # what the API does when people label alarms
        conn.execute(update(alarms).where(alarms.c.id == "a0").values(label="real"))
        conn.execute(update(alarms).where(alarms.c.id.in_(["a2", "a3"])).values(label="false"))
    assert book.recent_labels([GAS_TEMP]) == {GAS_TEMP: [Label.REAL, None, Label.FALSE, Label.FALSE]}
    assert book.recent_labels([GAS_TEMP], per_sensor=2) == {GAS_TEMP: [Label.FALSE, Label.FALSE]}
    assert book.recent_labels(["test-smelter.smelting.furnace-1.burner-2.gas-temp"]) == {}


def test_memory_book_follows_the_same_lifecycle() -> None:
    book = MemoryAlarmBook()
    book.record([_event("a1", "raised", 100), _event("a1", "cleared", 130)])
    assert book.alarms["a1"].status is AlarmStatus.CLEARED_UNACK
    assert book.alarms["a1"].severity == "critical"


async def test_mostly_false_labels_make_a_sensor_less_sensitive_and_relabeling_reverts_it() -> None:
    book = MemoryAlarmBook()
    book.record([_event(f"a{i}", "raised", 100 + i) for i in range(6)])
    for i in range(6):
        book.label(f"a{i}", Label.FALSE)
    monitor = Monitor([load_plant_file(Path(__file__).with_name("analytics_test_plant.yaml"))])
    recorder = AlarmRecorder(book, monitor.alarm_keys())

    await recorder.apply_feedback(monitor)
    assert monitor.engine.threshold_factors == {GAS_TEMP: pytest.approx(1.6)}
    assert recorder.factors == {GAS_TEMP: pytest.approx(1.6)}

    for i in range(6):
        book.label(f"a{i}", Label.REAL)
    await recorder.apply_feedback(monitor)
    assert monitor.engine.threshold_factors == {}
    assert recorder.factors == {}


class _FlakyBook(MemoryAlarmBook):
    failures: int = 1

    def record(self, events: Sequence[AnomalyEvent]) -> None:
        if self.failures:
            self.failures -= 1
            raise RegistryError("database is locked", url="sqlite:///x")
        super().record(events)


async def test_a_failed_alarm_write_is_kept_and_retried() -> None:
    book = _FlakyBook()
    recorder = AlarmRecorder(book, [GAS_TEMP])
    await recorder.record([_event("a1", "raised", 100)])
    assert book.alarms == {}
    assert len(recorder.pending) == 1
    await recorder.record([])
    assert list(book.alarms) == ["a1"]
    assert recorder.pending == []


def test_sensitivities_show_which_sensors_labels_made_less_sensitive() -> None:
    book = MemoryAlarmBook()
    book.record([_event(f"a{i}", "raised", 100 + i) for i in range(5)])
    assert sensitivities(book, [GAS_TEMP])[GAS_TEMP].factor == 1.0, "unlabeled"
    for i in range(5):
        book.label(f"a{i}", Label.FALSE)
    shown = sensitivities(book, [GAS_TEMP])[GAS_TEMP]
    assert shown.factor > 1.0
    assert "5 of 5" in shown.reason
