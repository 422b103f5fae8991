"""The simulated plant as a connector: the seeded simulator paced against the wall clock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Self

from ganlink.assets import PlantFile
from ganlink.schema import Reading
from ganlink.timestamps import now_ns
from gateway.simulator import FaultSettings, PlantSimulator

__all__ = ["SimulatedPlant"]

_NS_PER_S = 1_000_000_000


class SimulatedPlant:
    """Yields each tick's readings (every device) when the tick's time comes; ``speed`` > 1 runs
    the plant clock faster than the wall clock."""

    name = "simulator"

    def __init__(
        self,
        plant_file: PlantFile,
        *,
        seed: int,
        speed: float = 1.0,
        faults: FaultSettings | None = None,
        start_ns: int | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.plant_file = plant_file
        self.speed = speed
        self.simulator = PlantSimulator(plant_file, seed=seed, start_ns=start_ns or now_ns(), faults=faults)
        self._closed = asyncio.Event()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._closed.set()

    def close(self) -> None:
        """End :meth:`batches` at the next tick."""
        self._closed.set()

    async def batches(self) -> AsyncIterator[list[Reading]]:
        loop = asyncio.get_running_loop()
        wall_start, sim_start = loop.time(), self.simulator.start_ns
        for tick_ns, device_batches in self.simulator.run():
            delay = wall_start + (tick_ns - sim_start) / _NS_PER_S / self.speed - loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closed.wait(), delay)
            if self._closed.is_set():
                return
            yield [r for batch in device_batches for r in batch]
