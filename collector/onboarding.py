"""Onboarding from the wire: readings of sensors the registry does not know are stored like any
other and, once written, reported to the registry as pending sensors for an integrator to approve.

The writer calls :meth:`UnknownSensorReporter.observe` per written batch (a set lookup per reading
against a cached copy of the registered sensors, one dict lookup per run of a device's readings);
the registry is written only by :meth:`UnknownSensorReporter.run`, every ``report_every_s``, with one
summary per unknown sensor (oldest and newest reading, count). The cached sensors are re-read every
``refresh_s``, so sensors approved in the API stop being reported; the sensor aliases
(collector.aliases) and the gateway bindings (collector.attribution) are re-read with them, and new
first-sight gateway bindings are handed to the registry with each report.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from collector.aliases import SensorAliases
from collector.attribution import GatewayBindingSync
from ganlink.registry_core import RegistryError
from ganlink.schema import Reading
from ganlink.topics import DevicePath

__all__ = ["SensorRegistry", "UnknownSensorReporter"]

logger = logging.getLogger(__name__)

_NOTHING: frozenset[str] = frozenset()


class SensorRegistry(Protocol):
    """The registry's onboarding side, as the collector uses it (ganlink.registry.Registry is one)."""

    def known_sensor_ids(self, plant: str | None = None) -> set[str]: ...

    def rejected_sensor_ids(self, plant: str | None = None) -> set[str]: ...

    def report_unknown_readings(
        self, readings: Sequence[Reading], *, seen_counts: Mapping[str, int] | None = None
    ) -> int: ...


@dataclass(slots=True)
class _Sighting:
    """An unknown sensor since the last report: its oldest and newest reading and how many."""

    oldest: Reading
    newest: Reading
    count: int


def _sensors_by_device(sensor_ids: set[str]) -> dict[DevicePath, frozenset[str]]:
    grouped: dict[DevicePath, set[str]] = {}
    for sensor_id in sensor_ids:
        parts = sensor_id.split(".")
        if len(parts) != 5:
            continue  # ids are five slugs; anything else cannot match a reading
        grouped.setdefault(DevicePath(*parts[:4]), set()).add(parts[4])
    return {device: frozenset(names) for device, names in grouped.items()}


class UnknownSensorReporter:
    """Reports sensors seen in written readings but not registered (nor rejected) to the registry."""

    def __init__(
        self,
        registry: SensorRegistry,
        *,
        refresh_s: float = 30.0,
        report_every_s: float = 2.0,
        max_sensors: int = 10_000,
        aliases: SensorAliases | None = None,
        gateway_bindings: GatewayBindingSync | None = None,
    ) -> None:
        self._registry = registry
        self._aliases = aliases
        self._gateway_bindings = gateway_bindings
        self._refresh_s = refresh_s
        self._report_every_s = report_every_s
        self._max_sensors = max_sensors
        self._known: dict[DevicePath, frozenset[str]] = {}
        self.refreshed_at = float("-inf")  # time.monotonic() of the last refresh
        self._sightings: dict[DevicePath, dict[str, _Sighting]] = {}
        self._sighted_sensors = 0
        self.sensors_reported = 0
        self.sightings_dropped = 0

    async def refresh(self) -> None:
        """Re-read the registered and rejected sensors, the aliases and the gateway bindings (call once
        before the first batch)."""
        known = await asyncio.to_thread(self._registry.known_sensor_ids)
        known |= await asyncio.to_thread(self._registry.rejected_sensor_ids)
        if self._aliases is not None:
            await self._aliases.refresh()
        if self._gateway_bindings is not None:
            await self._gateway_bindings.refresh()
        self._known = _sensors_by_device(known)
        self.refreshed_at = time.monotonic()

    def observe(self, readings: Sequence[Reading]) -> None:
        """Note the readings (already written) whose sensor is not known; nothing is reported here."""
        known, sightings = self._known, self._sightings
        device: DevicePath | None = None
        names = _NOTHING
        seen: dict[str, _Sighting] | None = None
        for reading in readings:
            if reading.device is not device:  # a message's readings share one DevicePath object
                device = reading.device
                names = known.get(device, _NOTHING)
                seen = None
            if reading.sensor in names:
                continue
            if seen is None:
                seen = sightings.setdefault(device, {})
            sighting = seen.get(reading.sensor)
            if sighting is None:
                self._first_sight(seen, reading)
                continue
            sighting.count += 1
            if reading.time_ns < sighting.oldest.time_ns:
                sighting.oldest = reading
            if reading.time_ns >= sighting.newest.time_ns:
                sighting.newest = reading

    def _first_sight(self, seen: dict[str, _Sighting], reading: Reading) -> None:
        if self._sighted_sensors >= self._max_sensors:
            self.sightings_dropped += 1
            return
        self._sighted_sensors += 1
        seen[reading.sensor] = _Sighting(reading, reading, 1)

    async def report(self) -> int:
        """Send what was sighted since the last report; returns how many sensors became newly pending."""
        if not self._sighted_sensors:
            return 0
        sightings = [s for seen in self._sightings.values() for s in seen.values()]
        self._sightings, self._sighted_sensors = {}, 0
        summary = [r for s in sightings for r in ((s.oldest, s.newest) if s.count > 1 else (s.newest,))]
        counts = {s.newest.sensor_id: s.count for s in sightings}
        added = await asyncio.to_thread(self._registry.report_unknown_readings, summary, seen_counts=counts)
        self.sensors_reported += len(sightings)
        if added:
            logger.info("%d sensors seen on the wire are new and wait for onboarding (pending)", added)
        if self.sightings_dropped:
            logger.warning("%d readings of further unknown sensors not reported (over %d sensors at once)",
                           self.sightings_dropped, self._max_sensors)  # fmt: skip
            self.sightings_dropped = 0
        return added

    async def run(self, stop: asyncio.Event) -> None:
        """Report every ``report_every_s`` and refresh the known sensors every ``refresh_s`` until
        ``stop``; then report what is left."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._report_every_s)
            try:
                await self.report()
                if self._gateway_bindings is not None:
                    await self._gateway_bindings.persist()
                if time.monotonic() - self.refreshed_at >= self._refresh_s:
                    await self.refresh()
            except RegistryError as exc:  # the readings are stored; their sensors are reported next time seen
                logger.warning("could not report unknown sensors: %s", exc)
