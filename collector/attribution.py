"""Which plant a gateway may publish for: declared, else bound on first sight.

A gateway that publishes on another plant's topics is refused (dead-lettered as ``wrong-plant``)
rather than silently filed under the wrong plant; after a fix the dead letters can be replayed.

Without a registry the bindings are the plant files' (``plant.gateway``) plus, for any other gateway,
the first plant it publishes for, kept in memory. With a registry, the registry is the source of truth
(ganlink.registry_bindings): :class:`GatewayBindingSync` loads its bindings at start, hands it this
collector's first-sight bindings and takes its answer back, so a binding survives restarts and all
collectors on a shared subscription follow one binding per gateway.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

from ganlink.assets import load_plant_file

__all__ = ["BindingRegistry", "GatewayBindingSync", "GatewayPlants"]

logger = logging.getLogger(__name__)


class GatewayPlants:
    """Gateway -> plant bindings; thread-safe. :meth:`mismatch` (the MQTT thread, per message) is one
    dict lookup; a lock is taken only on a gateway's first sight and in :meth:`apply`."""

    def __init__(self, declared: Mapping[str, str] | None = None) -> None:
        self._declared = dict(declared or {})  # plant files
        self._stored: dict[str, str] = {}  # the registry's answer (declared and learned there)
        self._learned: dict[str, str] = {}  # first sight here, not (yet) in the registry's answer
        self._unsaved: dict[str, str] = {}  # learned here and not yet answered by the registry
        self._bindings: dict[str, str] = dict(self._declared)  # what mismatch() reads; replaced whole
        self._lock = threading.Lock()

    @classmethod
    def from_plant_files(cls, paths: Iterable[Path]) -> GatewayPlants:
        """Bindings declared by plant YAML files (``plant.gateway``)."""
        declared = {}
        for path in paths:
            plant = load_plant_file(path).plant
            declared[plant.gateway] = plant.id
        return cls(declared)

    def mismatch(self, gateway: str, plant: str) -> str | None:
        """None when ``gateway`` may publish for ``plant``; otherwise why not."""
        bound = self._bindings.get(gateway)
        if bound is None:
            bound = self._first_sight(gateway, plant)
        if bound == plant:
            return None
        if gateway in self._stored:
            return f"gateway {gateway!r} is bound to plant {bound!r} (registry)"
        if gateway in self._declared:
            return f"gateway {gateway!r} belongs to plant {bound!r} (plant file)"
        return f"gateway {gateway!r} has published for plant {bound!r} since this collector started"

    def _first_sight(self, gateway: str, plant: str) -> str:
        with self._lock:
            bound = self._bindings.get(gateway)  # another thread, or apply(), may have bound it meanwhile
            if bound is None:
                bound = self._bindings[gateway] = self._learned[gateway] = self._unsaved[gateway] = plant
            return bound

    def unsaved(self) -> dict[str, str]:
        """First-sight bindings the registry has not answered yet (kept until :meth:`apply` sees them)."""
        with self._lock:
            return dict(self._unsaved)

    def apply(self, stored: Mapping[str, str]) -> None:
        """Take the registry's bindings (every gateway) as the truth. Where this collector bound a gateway
        on first sight to another plant (it lost the race, or a plant declared the gateway since), a
        warning names both plants: messages already stored under this collector's binding are not moved;
        later ones follow the stored binding. Plant files are not consulted once a registry answers."""
        with self._lock:
            lost = {g: (p, stored[g]) for g, p in self._learned.items() if g in stored and stored[g] != p}
            self._learned = {g: p for g, p in self._learned.items() if g not in stored}
            self._unsaved = {g: p for g, p in self._unsaved.items() if g not in stored}
            self._stored = dict(stored)
            self._declared = {}
            self._bindings = self._learned | self._stored  # one assignment: mismatch() sees old or new, whole
        for gateway, (mine, winner) in sorted(lost.items()):
            logger.warning(
                "gateway %r is bound to plant %r in the registry, not to %r as this collector bound it on first"
                " sight: its messages already stored under %r stay there, later ones for %r are refused",
                gateway, winner, mine, mine, mine,
            )  # fmt: skip


class BindingRegistry(Protocol):
    """The registry's gateway bindings, as the collector uses them (ganlink.registry.Registry is one)."""

    def gateway_bindings(self) -> dict[str, str]: ...

    def bind_gateways(self, bindings: Mapping[str, str], collector: str) -> dict[str, str]: ...


class GatewayBindingSync:
    """Keeps a :class:`GatewayPlants` in step with the registry: :meth:`persist` hands it new first-sight
    bindings (a registry call only when there are some), :meth:`refresh` persists and re-reads all."""

    def __init__(self, registry: BindingRegistry, plants: GatewayPlants, *, collector: str) -> None:
        self._registry = registry
        self.plants = plants
        self._collector = collector

    async def persist(self) -> int:
        """Record this collector's unsaved first-sight bindings; returns how many were handed over."""
        unsaved = self.plants.unsaved()
        if unsaved:
            self.plants.apply(await asyncio.to_thread(self._registry.bind_gateways, unsaved, self._collector))
        return len(unsaved)

    async def refresh(self) -> None:
        """Persist what is new and take every stored binding (call once before the first message)."""
        if not await self.persist():
            self.plants.apply(await asyncio.to_thread(self._registry.gateway_bindings))
