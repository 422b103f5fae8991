"""Pure building blocks of simulated signals: coloured noise, quantization, the daily cycle."""

from __future__ import annotations

import math
import random

__all__ = ["ArNoise", "daily_cycle", "poisson", "quantize"]


class ArNoise:
    """AR(1) noise with stationary standard deviation ``std`` and lag-1 correlation ``corr``.

    Real sensor noise is coloured (filters, thermal mass); white noise would make detectors look
    better than they are.
    """

    __slots__ = ("_corr", "_innovation", "_rng", "_state")

    def __init__(self, rng: random.Random, std: float, corr: float) -> None:
        if std < 0 or not 0 <= corr < 1:
            raise ValueError(f"AR(1) noise needs std >= 0 and 0 <= corr < 1, got {std}, {corr}")
        self._rng = rng
        self._corr = corr
        self._innovation = std * math.sqrt(1 - corr * corr)
        self._state = rng.gauss(0.0, std) if std > 0 else 0.0

    def next(self) -> float:
        if self._innovation == 0:
            return 0.0
        self._state = self._corr * self._state + self._rng.gauss(0.0, self._innovation)
        return self._state


def quantize(value: float, resolution: float) -> float:
    """Round to the instrument's resolution (0 = no rounding), as an A/D converter would."""
    if resolution <= 0:
        return value
    steps = round(value / resolution)
    # round() again to drop binary noise such as 0.30000000000000004
    return round(steps * resolution, 10)


def daily_cycle(local_hour: float) -> float:
    """-1..1, peaking at 15:00 plant time (afternoon ambient heat), lowest at 03:00."""
    return math.sin(2 * math.pi * (local_hour - 9.0) / 24.0)


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth); ``mean`` is small here (faults per hour)."""
    if mean <= 0:
        return 0
    limit = math.exp(-mean)
    count, product = 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
