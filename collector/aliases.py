"""Sensor aliases in the collector: readings arriving under the wire path of a sensor approved with a
mapping are stored as the registered sensor it was mapped to.

:class:`SensorAliases` holds the registry's aliases; the onboarding reporter re-reads them whenever it
re-reads the registered sensors (every ``registry_refresh_s``), so there is no second poller.
:class:`AliasingBatchBuilder` applies them to each parsed message before it joins a batch (one dict
lookup per message while any alias exists, nothing while none does).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Protocol

from collector.batching import BatchBuilder
from collector.intake import Intake, SensorRenames, apply_aliases
from collector.ledger import AckToken
from ganlink.registry import SensorAlias
from ganlink.topics import DevicePath

__all__ = ["AliasRegistry", "AliasingBatchBuilder", "SensorAliases"]

_UNFINISHED = frozenset({"queued", "running", "failed"})


class AliasRegistry(Protocol):
    """The registry's alias side, as the collector reads it (ganlink.registry.Registry is one)."""

    def sensor_aliases(self, plant: str | None = None) -> list[SensorAlias]: ...


class SensorAliases:
    """The current aliases, by wire device; ``backfill_waiting`` is set while a backfill is unfinished."""

    def __init__(self, registry: AliasRegistry) -> None:
        self._registry = registry
        self.renames: SensorRenames = {}
        self.backfill_waiting = asyncio.Event()

    async def refresh(self) -> None:
        self.replace(await asyncio.to_thread(self._registry.sensor_aliases))

    def replace(self, aliases: Iterable[SensorAlias]) -> None:
        renames: dict[DevicePath, dict[str, tuple[DevicePath, str]]] = {}
        devices: dict[DevicePath, DevicePath] = {}  # one object per target device, as in parsed messages
        waiting = False
        for alias in aliases:
            (wire_device, wire_sensor), (device, sensor) = alias.wire_key, alias.target_key
            renames.setdefault(wire_device, {})[wire_sensor] = (devices.setdefault(device, device), sensor)
            waiting = waiting or alias.backfill.status in _UNFINISHED
        self.renames = renames  # one assignment: the MQTT thread sees the old or the new map, whole
        if waiting:
            self.backfill_waiting.set()


class AliasingBatchBuilder(BatchBuilder):
    """A batch builder that stores aliased readings under their registered sensor."""

    def __init__(
        self, aliases: SensorAliases, *, max_readings: int, max_messages: int, on_sealed: Callable[[], None]
    ) -> None:
        super().__init__(max_readings=max_readings, max_messages=max_messages, on_sealed=on_sealed)
        self._aliases = aliases

    def add(self, intake: Intake, token: AckToken | None) -> None:
        renames = self._aliases.renames
        super().add(apply_aliases(intake, renames) if renames else intake, token)
