"""Where analytics keeps alarm records: it opens a row when it raises an alarm and closes it when
the alarm clears; people acknowledge, shelve, comment and label the rows through the API. Analytics
reads the labels back to make sensors whose alarms are mostly false less sensitive.

``RegistryAlarmBook`` works through ganlink.registry's alarm methods (the rows the API's actions
change; the API's own alarm sync from the store writes the same rows idempotently, so either may run
first); ``MemoryAlarmBook`` is the in-memory fake. Both are synchronous and short; the service calls
them in a worker thread. Registry failures arrive as RegistryError (a GanlinkError).
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ganlink.alarms import Alarm, AlarmTransitionError, Label, Sensitivity, alarm_from_event, sensitivity_for
from ganlink.registry import Registry
from ganlink.schema import AnomalyEvent

__all__ = ["AlarmBook", "MemoryAlarmBook", "RegistryAlarmBook", "sensitivities"]


class AlarmBook(Protocol):
    def record(self, events: Sequence[AnomalyEvent]) -> None:
        """Open a record for each ``raised`` event (idempotent) and close it on ``cleared``."""

    def recent_labels(self, sensor_ids: Sequence[str], per_sensor: int = 20) -> dict[str, list[Label | None]]:
        """The newest ``per_sensor`` alarm labels of each sensor that has alarms, oldest first."""

    def shelves(self, plant_ids: Sequence[str], now_ns: int) -> dict[str, int]:
        """Sensors with an alarm shelved past ``now_ns``: sensor id -> the shelf's end (epoch ns)."""


def _raised_and_cleared(events: Sequence[AnomalyEvent]) -> tuple[list[AnomalyEvent], list[AnomalyEvent]]:
    raised = [e for e in events if e.alarm_id and e.details.get("state") == "raised"]
    cleared = [e for e in events if e.alarm_id and e.details.get("state") == "cleared"]
    return raised, cleared


def _cleared_at(time_ns: int) -> Callable[[Alarm], Alarm]:
    def clear(alarm: Alarm) -> Alarm:
        return alarm.clear(max(time_ns, alarm.raised_ns))

    return clear


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
                self.alarms[event.alarm_id] = _cleared_at(event.time_ns)(alarm)

    def label(self, alarm_id: str, label: Label | None, user: str | None = "operator") -> None:
        """What the API does when a person labels an alarm (tests use it)."""
        self.alarms[alarm_id] = self.alarms[alarm_id].set_label(label, user)

    def recent_labels(self, sensor_ids: Sequence[str], per_sensor: int = 20) -> dict[str, list[Label | None]]:
        wanted = set(sensor_ids)
        labels: dict[str, list[Label | None]] = defaultdict(list)
        for alarm in sorted(self.alarms.values(), key=lambda a: a.raised_ns):
            if alarm.sensor_id in wanted:
                labels[alarm.sensor_id].append(alarm.label)
        return {sensor: values[-per_sensor:] for sensor, values in labels.items()}

    def shelves(self, plant_ids: Sequence[str], now_ns: int) -> dict[str, int]:
        return _shelves(
            (a for a in self.alarms.values() if a.sensor_id.split(".", 1)[0] in plant_ids), now_ns
        )


def _shelves(alarms: Iterable[Alarm], now_ns: int) -> dict[str, int]:
    shelves: dict[str, int] = {}
    for alarm in alarms:
        if alarm.shelved(now_ns) and alarm.shelved_until_ns is not None:
            shelves[alarm.sensor_id] = max(shelves.get(alarm.sensor_id, 0), alarm.shelved_until_ns)
    return shelves


class RegistryAlarmBook:
    """Alarm records in the registry (``Registry.open_alarm`` / ``update_alarm`` / ``alarm_labels``,
    the same rows the API's alarm actions change)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def record(self, events: Sequence[AnomalyEvent]) -> None:
        raised, cleared = _raised_and_cleared(events)
        for event in raised:
            self.registry.open_alarm(alarm_from_event(event))
        for event in cleared:
            # Cleared already (by a person through the API, or an earlier replay): nothing to do.
            with contextlib.suppress(AlarmTransitionError):
                self.registry.update_alarm(event.alarm_id, _cleared_at(event.time_ns))

    def recent_labels(self, sensor_ids: Sequence[str], per_sensor: int = 20) -> dict[str, list[Label | None]]:
        labels = {sensor: self.registry.alarm_labels(sensor, per_sensor) for sensor in sensor_ids}
        return {sensor: values for sensor, values in labels.items() if values}

    def shelves(self, plant_ids: Sequence[str], now_ns: int) -> dict[str, int]:
        # Only active alarms can be shelved; a plant has few of them at a time.
        return _shelves((a for p in plant_ids for a in self.registry.alarms(p, active_only=True, limit=1000)), now_ns)


def sensitivities(book: AlarmBook, sensor_ids: Sequence[str]) -> dict[str, Sensitivity]:
    """Each sensor's current sensitivity (of those with alarms), as the service computes it."""
    return {sensor: sensitivity_for(labels) for sensor, labels in sorted(book.recent_labels(sensor_ids).items())}
