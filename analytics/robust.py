"""A rolling robust z-score: the service's statistical detector for one sensor until a registered
detector from ``analytics.detectors`` is available (same contract: ``learn_one``/``score_one``).

Level and spread are exponentially weighted, with each update clipped (Huber-style) so a spike
barely moves them and a step is learned over a few hundred samples instead of instantly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from analytics.rules import tail_score

__all__ = ["RobustZScore"]

_MAD_TO_SIGMA = 1.2533  # mean absolute deviation -> standard deviation for a Gaussian
_SQRT2 = math.sqrt(2.0)


@dataclass
class RobustZScore:
    """Score = two-sided Gaussian tail probability of the robust z, on the shared [0, 1] scale."""

    alpha: float = 0.01
    clip: float = 3.0
    warmup: int = 60
    min_scale: float = 1e-9
    name: str = "robust-z"
    model_version: str = "robust-z-1"
    threshold: float = 0.5
    level: float = 0.0
    spread: float = 0.0
    seen: int = 0

    def learn_one(self, x: float) -> None:
        seen = self.seen = self.seen + 1
        if seen == 1:
            self.level = x
            return
        # A faster rate while warming up, then the configured one.
        rate = max(self.alpha, 1.0 / seen)
        spread = self.spread
        sigma = max(self.min_scale, _MAD_TO_SIGMA * spread)
        deviation = x - self.level
        if seen > self.warmup // 2 and sigma > 0:
            limit = self.clip * sigma
            deviation = max(-limit, min(limit, deviation))
        self.level += rate * deviation
        self.spread = spread + rate * (abs(deviation) - spread)

    def _sigma(self) -> float:
        return max(self.min_scale, _MAD_TO_SIGMA * self.spread)

    def z(self, x: float) -> float:
        return abs(x - self.level) / self._sigma()

    def score_one(self, x: float) -> float:
        if self.seen < self.warmup:
            return 0.0
        z = abs(x - self.level) / max(self.min_scale, _MAD_TO_SIGMA * self.spread)
        p = math.erfc(z / _SQRT2)
        return 1.0 if p <= 1e-12 else tail_score(math.log10(p))

    def expected(self) -> tuple[float, float] | None:
        if self.seen < self.warmup:
            return None
        half = 4.89 * self._sigma()  # |z| at which the score reaches the 0.5 threshold (p = 1e-6)
        return (self.level - half, self.level + half)
