"""Which plant a gateway may publish for: declared in the plant files, else bound on first sight.

A gateway that publishes on another plant's topics is refused (dead-lettered as ``wrong-plant``)
rather than silently filed under the wrong plant; after a fix the dead letters can be replayed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

from ganlink.assets import load_plant_file

__all__ = ["GatewayPlants"]


class GatewayPlants:
    """Gateway -> plant bindings; thread-safe."""

    def __init__(self, declared: dict[str, str] | None = None) -> None:
        self._declared = dict(declared or {})
        self._learned: dict[str, str] = {}
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
        declared = self._declared.get(gateway)
        if declared is not None:
            return None if declared == plant else f"gateway {gateway!r} belongs to plant {declared!r} (plant file)"
        with self._lock:
            bound = self._learned.setdefault(gateway, plant)
        if bound == plant:
            return None
        return f"gateway {gateway!r} has published for plant {bound!r} since this collector started"
