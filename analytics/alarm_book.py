"""Where analytics keeps alarm records: it opens a row when it raises an alarm and closes it when
the alarm clears; people acknowledge, shelve, comment and label the rows through the API. Analytics
reads the labels back to make sensors whose alarms are mostly false less sensitive.

``RegistryAlarmBook`` writes the ``alarms`` table of ganlink.registry (the contract shared with the
API); ``MemoryAlarmBook`` is the in-memory fake. Both are synchronous and short; the service calls
them in a worker thread.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from ganlink.alarms import Alarm, Label, Sensitivity, alarm_from_event, sensitivity_for
from ganlink.registry import Registry, RegistryError, alarms
from ganlink.schema import AnomalyEvent
from ganlink.timestamps import now_ns

__all__ = ["AlarmBook", "MemoryAlarmBook", "RegistryAlarmBook", "sensitivities"]


class AlarmBook(Protocol):
    def record(self, events: Sequence[AnomalyEvent]) -> None:
        """Open a record for each ``raised`` event (idempotent) and close it on ``cleared``."""

    def recent_labels(self, plant_ids: Sequence[str], per_sensor: int = 20) -> dict[str, list[Label | None]]:
        """Each sensor's newest ``per_sensor`` alarm labels, oldest first (sensor id -> labels)."""


def _raised_and_cleared(events: Sequence[AnomalyEvent]) -> tuple[list[AnomalyEvent], list[AnomalyEvent]]:
    raised = [e for e in events if e.alarm_id and e.details.get("state") == "raised"]
    cleared = [e for e in events if e.alarm_id and e.details.get("state") == "cleared"]
    return raised, cleared


@dataclass
class MemoryAlarmBook:
    """In-memory alarm records, for tests and runs without a registry."""

    alarms: dict[str, Alarm] = field(default_factory=dict)

    def record(self, events: Sequence[AnomalyEvent]) -> None:
        raised, cleared = _raised_and_cleared(events)
        for event in raised:
            self.alarms.setdefault(event.alarm_id, alarm_from_event(event))
        for event in cleared:
            alarm = self.alarms.get(event.alarm_id)
            if alarm is not None and alarm.active:
                self.alarms[event.alarm_id] = alarm.clear(max(event.time_ns, alarm.raised_ns))

    def label(self, alarm_id: str, label: Label | None, user: str | None = "operator") -> None:
        """What the API does when a person labels an alarm (tests use it)."""
        self.alarms[alarm_id] = replace(self.alarms[alarm_id].set_label(label, user))

    def recent_labels(self, plant_ids: Sequence[str], per_sensor: int = 20) -> dict[str, list[Label | None]]:
        labels: dict[str, list[Label | None]] = defaultdict(list)
        for alarm in sorted(self.alarms.values(), key=lambda a: a.raised_ns):
            if alarm.sensor_id.split(".", 1)[0] in plant_ids:
                labels[alarm.sensor_id].append(alarm.label)
        return {sensor: values[-per_sensor:] for sensor, values in labels.items()}


class RegistryAlarmBook:
    """Alarm records in the registry's ``alarms`` table."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._url = registry.url.rsplit("@", maxsplit=1)[-1]

    def record(self, events: Sequence[AnomalyEvent]) -> None:
        raised, cleared = _raised_and_cleared(events)
        if not raised and not cleared:
            return
        stamp = now_ns()
        rows = []
        for event in raised:
            alarm = alarm_from_event(event)
            rows.append(
                {
                    "id": alarm.id,
                    "sensor_id": alarm.sensor_id,
                    "plant": event.device.plant,
                    "area": event.device.area,
                    "line": event.device.line,
                    "detector": alarm.detector,
                    "model_version": alarm.model_version,
                    "severity": alarm.severity.value,
                    "raised_ns": alarm.raised_ns,
                    "details": alarm.details,
                    "updated_ns": stamp,
                }
            )
        dialect = postgresql if self.registry.engine.dialect.name == "postgresql" else sqlite
        try:
            with self.registry.engine.begin() as conn:
                if rows:
                    conn.execute(dialect.insert(alarms).on_conflict_do_nothing(index_elements=["id"]), rows)
                for event in cleared:
                    conn.execute(
                        update(alarms)
                        .where(alarms.c.id == event.alarm_id, alarms.c.cleared_ns.is_(None))
                        .values(cleared_ns=event.time_ns, updated_ns=stamp)
                    )
        except SQLAlchemyError as exc:
            raise RegistryError(f"cannot record alarms: {type(exc).__name__}", url=self._url) from exc

    def recent_labels(self, plant_ids: Sequence[str], per_sensor: int = 20) -> dict[str, list[Label | None]]:
        query = (
            select(alarms.c.sensor_id, alarms.c.label)
            .where(alarms.c.plant.in_(list(plant_ids)))
            .order_by(alarms.c.sensor_id, alarms.c.raised_ns)
        )
        try:
            with self.registry.engine.connect() as conn:
                rows = conn.execute(query).all()
        except SQLAlchemyError as exc:
            raise RegistryError(f"cannot read alarm labels: {type(exc).__name__}", url=self._url) from exc
        labels: dict[str, list[Label | None]] = defaultdict(list)
        for sensor_id, label in rows:
            labels[sensor_id].append(Label(label) if label in Label.__members__.values() else None)
        return {sensor: values[-per_sensor:] for sensor, values in labels.items()}


def sensitivities(book: AlarmBook, plant_ids: Sequence[str]) -> dict[str, Sensitivity]:
    """Each labeled sensor's current sensitivity, as the service computes it from the labels."""
    return {sensor: sensitivity_for(labels) for sensor, labels in sorted(book.recent_labels(plant_ids).items())}
