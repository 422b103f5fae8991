"""Keep the registry's alarm rows in step with the anomaly events in the time-series store.

Analytics publishes ``raised`` and ``cleared`` anomaly events (``details.state``, tied by ``alarm_id``);
the collector stores them. This loop opens an alarm row for each raise and clears it on its clear.
Both steps are idempotent, so overlapping windows and several API processes are harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from anyio import to_thread

from ganlink.alarms import Alarm, AlarmTransitionError, alarm_from_event
from ganlink.errors import GanlinkError
from ganlink.registry import Registry
from ganlink.schema import AnomalyEvent
from ganlink.store import SensorSelector, TimeSeriesStore
from ganlink.timestamps import now_ns

__all__ = ["apply_events", "sync_alarms_forever", "sync_alarms_once"]

log = logging.getLogger(__name__)
_NS_PER_S = 1_000_000_000


def _cleared_at(at_ns: int) -> Callable[[Alarm], Alarm]:
    def change(alarm: Alarm) -> Alarm:
        return alarm.clear(at_ns) if alarm.active else alarm

    return change


def apply_events(registry: Registry, events: Sequence[AnomalyEvent]) -> int:
    """Open or clear alarms for events carrying an ``alarm_id``; returns how many rows changed."""
    changed = 0
    for event in sorted(events, key=lambda e: e.time_ns):
        if not event.alarm_id:
            continue
        state = event.details.get("state", "raised")
        try:
            if state == "raised":
                changed += registry.open_alarm(alarm_from_event(event))
            elif state == "cleared":
                before = registry.alarm(event.alarm_id)
                if before is not None and before.active and event.time_ns >= before.raised_ns:
                    registry.update_alarm(event.alarm_id, _cleared_at(event.time_ns))
                    changed += 1
        except (ValueError, AlarmTransitionError) as exc:
            log.warning("anomaly event for alarm %s not applied: %s", event.alarm_id, exc)
    return changed


async def sync_alarms_once(store: TimeSeriesStore, registry: Registry, start_ns: int, end_ns: int) -> int:
    """Apply the events of every plant in [start_ns, end_ns)."""
    changed = 0
    plants = await to_thread.run_sync(registry.plants)
    for plant in plants:
        events = await store.events(SensorSelector(plant.id), start_ns, end_ns, limit=10_000)
        changed += await to_thread.run_sync(apply_events, registry, events)
    return changed


async def sync_alarms_forever(
    store: TimeSeriesStore, registry: Registry, *, interval_s: float = 2.0, lookback_s: float = 3600.0
) -> None:
    """Every ``interval_s``, apply events since ``lookback_s`` ago (the first pass) or the last pass
    minus a margin for late arrivals. Store or registry failures are logged and retried."""
    since = now_ns() - int(lookback_s * _NS_PER_S)
    while True:
        until = now_ns() + 3600 * _NS_PER_S  # events may carry source times slightly ahead of us
        try:
            await sync_alarms_once(store, registry, since, until)
            since = now_ns() - int(120 * _NS_PER_S)
        except GanlinkError as exc:
            log.warning("alarm sync failed, retrying: %s", exc)
        await asyncio.sleep(interval_s)
