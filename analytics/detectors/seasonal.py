"""Robust seasonal residual detector for one sensor: Holt-Winters-style predictions, error likelihood.

Each reading is predicted by one or more predictors: a level plus, once two full seasons have been
seen, an additive seasonal profile (e.g. one for the day, one for the week). The raw error is the
smallest absolute prediction error among the predictors, each in units of its own robust spread (a
reading one of them explains is not surprising), compressed with ``log1p``. Each *channel* averages
the raw error over its own number of readings (1 for spikes, a few for bursts, more for a day that
goes wrong slowly) and keeps that average's distribution over a long window; the score is the
surprise (``-log10`` tail probability, Bonferroni-corrected over the channels) of the most unusual
channel: the "anomaly likelihood" the best NAB detectors put on top of their predictors. Model
updates are Huber-clipped, so a spike barely moves level, profile or spread, while a lasting change
is adopted. When a season comes into use the calibration restarts, as errors from before it would
blunt it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Any

from analytics.detectors.base import Detector, register, surprise
from analytics.detectors.stats import TailWindow, halflife_rate

__all__ = ["SeasonalResidual"]


class _Channel:
    """Moving mean of the compressed raw error over ``width`` readings, and that mean's tail."""

    __slots__ = ("calibration", "previous", "total", "values")

    def __init__(self, width: int, long_window: int, min_calibration: int) -> None:
        self.values: deque[float] = deque(maxlen=width)
        self.total = 0.0
        self.calibration = TailWindow(long_window, min_count=min_calibration)
        self.previous: TailWindow | None = None

    def upper_tail(self, value: float) -> float:
        """Tail probability of a moving mean; the calibration before a restart stands in until the
        new one has enough values, so a restart leaves no blind spot."""
        calibration = self.calibration
        if self.previous is not None and len(calibration) < calibration.min_count:
            return self.previous.upper_tail(value)
        return calibration.upper_tail(value)

    def mean_with(self, value: float) -> float:
        """The moving mean if ``value`` were the newest reading."""
        values = self.values
        total = self.total + value
        count = len(values) + 1
        if len(values) == values.maxlen:
            total -= values[0]
            count -= 1
        return total / count

    def push(self, value: float) -> None:
        mean = self.mean_with(value)
        values = self.values
        if len(values) == values.maxlen:
            self.total -= values[0]
        values.append(value)
        self.total += value
        self.calibration.push(mean)

    def restart(self) -> None:
        if len(self.calibration) >= self.calibration.min_count:
            self.previous = self.calibration
        self.calibration = TailWindow(self.calibration.size, min_count=self.calibration.min_count)


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

    def predict(self, tick: int) -> float:
        level = self.level if self.level is not None else 0.0
        if self.period == 1 or self.n < 2 * self.period:
            return level
        return level + self.profile[tick % self.period]

    def error(self, value: float, tick: int) -> float:
        """Absolute prediction error in spreads (1000 spreads when the spread is still zero)."""
        residual = abs(value - self.predict(tick))
        if self.spread > 0:
            return residual / self.spread
        return 0.0 if residual == 0 else 1e3

    def learn(self, value: float, tick: int) -> None:
        if self.level is None:
            self.level = value
            self.n += 1
            return
        residual = value - self.predict(tick)
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
            slot = tick % self.period
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
        windows: readings each channel averages the raw error over.
        long_window: readings of history each channel's tail is estimated from.
        min_calibration: readings a channel needs before its tail is trusted (scores 0 until then).
        warmup: readings before any score is given.
        step_seconds: sampling step; when set, an observation may be ``(value, epoch_seconds)`` and
            the seasonal slot follows the clock (gaps and missing readings keep their place in the
            day) instead of the count of readings.
    """

    univariate = True
    _scored: tuple[Any, int, float] = (None, -1, 0.0)
    """(observation, readings seen, raw error) of the last score: learning that same observation next
    reuses its raw error instead of computing it again."""

    def __init__(
        self,
        *,
        seasons: Sequence[int] = (),
        level_halflife: float = 100.0,
        season_halflife: float = 2.0,
        spread_halflife: float = 500.0,
        clip: float = 4.0,
        windows: Sequence[int] = (1, 6),
        long_window: int = 2000,
        min_calibration: int = 200,
        warmup: int = 150,
        step_seconds: float | None = None,
    ) -> None:
        seasons = tuple(int(s) for s in seasons)
        windows = tuple(int(w) for w in windows)
        super().__init__(
            seasons=seasons,
            level_halflife=level_halflife,
            season_halflife=season_halflife,
            spread_halflife=spread_halflife,
            clip=clip,
            windows=windows,
            long_window=long_window,
            min_calibration=min_calibration,
            warmup=warmup,
            step_seconds=step_seconds,
        )
        if step_seconds is not None and not step_seconds > 0:
            raise ValueError(f"step_seconds={step_seconds} must be positive")
        self.step_seconds = step_seconds
        if any(s < 2 for s in seasons):
            raise ValueError(f"seasons={seasons} must each be at least 2 readings")
        if not windows or any(w < 1 for w in windows):
            raise ValueError(f"windows={windows} must be one or more positive widths")
        rates = {
            "level_rate": halflife_rate(level_halflife),
            "season_rate": halflife_rate(season_halflife),
            "spread_rate": halflife_rate(spread_halflife),
            "clip": clip,
        }
        self._predictors = [_Predictor(period, **rates) for period in (seasons or (1,))]
        self._channels = [_Channel(w, long_window, min_calibration) for w in windows]
        self.warmup = warmup
        self.n = 0

    def _reading(self, x: Any) -> tuple[float, int]:
        """The value and its seasonal tick (clock-based for ``(value, seconds)``, else the count)."""
        if isinstance(x, tuple):
            value, seconds = float(x[0]), float(x[1])
            if self.step_seconds is not None and math.isfinite(seconds):
                return value, round(seconds / self.step_seconds)
            return value, self.n
        return float(x), self.n

    def _raw_error(self, value: float, tick: int) -> float:
        """Compressed error of the best-explaining ready predictor (the level one before any is)."""
        if len(self._predictors) == 1:
            return math.log1p(self._predictors[0].error(value, tick))
        ready = [p for p in self._predictors if p.ready] or self._predictors[:1]
        return math.log1p(min(p.error(value, tick) for p in ready))

    def score_one(self, x: Any) -> float:
        value, tick = self._reading(x)
        if self.n < self.warmup or not math.isfinite(value):
            return 0.0
        raw = self._raw_error(value, tick)
        self._scored = (x, self.n, raw)
        p_value = min([channel.upper_tail(channel.mean_with(raw)) for channel in self._channels])
        return surprise(len(self._channels) * p_value)

    def learn_one(self, x: Any) -> None:
        value, tick = self._reading(x)
        if not math.isfinite(value):
            return
        scored, scored_n, raw = self._scored
        if scored is not x or scored_n != self.n:  # the same object scored at this point: same error
            raw = self._raw_error(value, tick)
        if self.n > 0:
            for channel in self._channels:
                channel.push(raw)
        predictors = self._predictors
        ready = [p.ready for p in predictors]
        for predictor in predictors:
            predictor.learn(value, tick)
        self.n += 1
        if [p.ready for p in predictors] != ready:
            for channel in self._channels:
                channel.restart()
