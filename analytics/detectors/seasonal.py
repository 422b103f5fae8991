"""Robust seasonal residual detector for one sensor: Holt-Winters-style predictions, error likelihood.

Each reading is predicted by one or more predictors: a level plus, once two full seasons have been
seen, an additive seasonal profile (e.g. one for the day, one for the week). The raw error is the
smallest absolute prediction error among the predictors, each in units of its own robust spread (a
reading one of them explains is not surprising). The score is the larger of two surprises
(``-log10`` tail probabilities): the recent mean raw error against that mean's distribution over a
long window (the "anomaly likelihood" the best NAB detectors put on top of their predictors), and
the current raw error alone under a Laplace tail (spikes). Model updates are Huber-clipped, so a
spike barely moves level, profile or spread, while a lasting change is adopted.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Any

from analytics.detectors.base import Detector, register, surprise
from analytics.detectors.stats import TailWindow, halflife_rate

__all__ = ["SeasonalResidual"]


class _Predictor:
    """Level + additive seasonal profile of one period, with a Huber-clipped update."""

    __slots__ = ("clip", "level", "level_rate", "n", "period", "profile", "season_rate", "spread", "spread_rate")

    def __init__(self, period: int, *, level_rate: float, season_rate: float, spread_rate: float, clip: float) -> None:
        self.period = period
        self.level_rate = level_rate
        self.season_rate = season_rate
        self.spread_rate = spread_rate
        self.clip = clip
        self.level: float | None = None
        self.profile = [0.0] * period
        self.spread = 0.0
        self.n = 0

    @property
    def ready(self) -> bool:
        return self.level is not None and (self.period == 1 or self.n >= 2 * self.period)

    def predict(self) -> float:
        level = self.level if self.level is not None else 0.0
        if self.period == 1 or self.n < 2 * self.period:
            return level
        return level + self.profile[self.n % self.period]

    def error(self, value: float) -> float:
        """Absolute prediction error in spreads (10 spreads when the spread is still zero)."""
        residual = abs(value - self.predict())
        if self.spread > 0:
            return residual / self.spread
        return 0.0 if residual == 0 else 1e3

    def learn(self, value: float) -> None:
        if self.level is None:
            self.level = value
            self.n += 1
            return
        residual = value - self.predict()
        spread = self.spread
        if spread > 0:
            limit = self.clip * spread
            clipped = max(-limit, min(limit, residual))
            self.spread = spread + self.spread_rate * (abs(clipped) - spread)
        else:
            clipped = residual
            self.spread = abs(residual)
        self.level += self.level_rate * clipped
        if self.period > 1:
            slot = self.n % self.period
            deseasoned = value - self.level
            if self.n < self.period:
                self.profile[slot] = deseasoned
            else:
                self.profile[slot] += self.season_rate * (deseasoned - self.profile[slot])
        self.n += 1


@register("seasonal")
class SeasonalResidual(Detector):
    """Univariate streaming detector adapting to level, spread and daily/weekly seasonality.

    Hyperparameters:
        seasons: readings per season for each seasonal predictor (empty: level only).
        level_halflife: readings over which a level forgets half of what it knew.
        season_halflife: seasons over which each seasonal slot forgets half.
        spread_halflife: readings over which the error spread forgets half.
        clip: Huber clip of model updates, in spreads.
        short_window: readings averaged into the recent raw error.
        long_window: readings of history the recent error is compared with.
        warmup: readings before any score is given.
    """

    univariate = True

    def __init__(
        self,
        *,
        seasons: Sequence[int] = (),
        level_halflife: float = 100.0,
        season_halflife: float = 2.0,
        spread_halflife: float = 500.0,
        clip: float = 4.0,
        short_window: int = 6,
        long_window: int = 2000,
        warmup: int = 150,
    ) -> None:
        seasons = tuple(int(s) for s in seasons)
        super().__init__(
            seasons=seasons,
            level_halflife=level_halflife,
            season_halflife=season_halflife,
            spread_halflife=spread_halflife,
            clip=clip,
            short_window=short_window,
            long_window=long_window,
            warmup=warmup,
        )
        if any(s < 2 for s in seasons):
            raise ValueError(f"seasons={seasons} must each be at least 2 readings")
        rates = {
            "level_rate": halflife_rate(level_halflife),
            "season_rate": halflife_rate(season_halflife),
            "spread_rate": halflife_rate(spread_halflife),
            "clip": clip,
        }
        self._predictors = [_Predictor(period, **rates) for period in (seasons or (1,))]
        self.warmup = warmup
        self.n = 0
        self._recent: deque[float] = deque(maxlen=short_window)
        self._recent_sum = 0.0
        self._history = TailWindow(long_window)
        self._point_history = TailWindow(long_window)

    def _raw_error(self, value: float) -> float:
        errors = [p.error(value) for p in self._predictors if p.ready]
        if not errors:
            errors = [self._predictors[0].error(value)]
        return min(errors)

    def _recent_mean(self, compressed: float) -> float:
        window = self._recent
        total = self._recent_sum + compressed
        count = len(window) + 1
        if len(window) == window.maxlen:
            total -= window[0]
            count -= 1
        return total / count

    def score_one(self, x: Any) -> float:
        if self.n < self.warmup:
            return 0.0
        raw = self._raw_error(float(x))
        recent = self._recent_mean(math.log1p(raw))
        p_recent = self._history.upper_tail(recent)
        p_point = self._point_history.upper_tail(math.log1p(raw))
        return surprise(2.0 * min(p_recent, p_point))

    def learn_one(self, x: Any) -> None:
        value = float(x)
        if not math.isfinite(value):
            return
        compressed = math.log1p(self._raw_error(value))
        recent = self._recent_mean(compressed)
        if len(self._recent) == self._recent.maxlen:
            self._recent_sum -= self._recent[0]
        self._recent.append(compressed)
        self._recent_sum += compressed
        if self.n > 0:
            self._history.push(recent)
            self._point_history.push(compressed)
        for predictor in self._predictors:
            predictor.learn(value)
        self.n += 1
