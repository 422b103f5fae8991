"""Level-shift detector for one sensor: recent mean against a reference window, tail-calibrated.

The statistic is how far the mean of the last ``recent`` readings sits from the mean of a reference
window that ends ``gap`` readings earlier, in reference standard deviations. Its tail probability
comes from the statistic's own history (empirical body, exponential tail), so a sensor whose level
wanders is judged against its own wandering. Slow drifts move both windows and stay quiet; a valve
closing or a setpoint change shows as a shift within ``recent`` readings.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from analytics.detectors.base import Detector, register, surprise
from analytics.detectors.stats import TailWindow

__all__ = ["LevelShift"]


@register("shift")
class LevelShift(Detector):
    """Univariate two-window mean-shift detector.

    Hyperparameters:
        reference: readings back to where the reference window starts.
        gap: readings between the end of the reference window and now.
        recent: readings averaged into the recent mean.
        long_window: values of the statistic kept to calibrate its tail.
        delay: readings a statistic waits before it joins the calibration, so a shift in progress
            is judged against the time before it, and is learned as normal only after ``delay``.
        min_calibration: statistics needed before their tail is trusted (scores 0 until then).
    """

    univariate = True

    def __init__(
        self,
        *,
        reference: int = 240,
        gap: int = 40,
        recent: int = 20,
        long_window: int = 2000,
        delay: int = 40,
        min_calibration: int = 100,
    ) -> None:
        super().__init__(
            reference=reference,
            gap=gap,
            recent=recent,
            long_window=long_window,
            delay=delay,
            min_calibration=min_calibration,
        )
        self._pending: deque[float] = deque()
        self.delay = delay
        if not 0 < recent <= gap < reference - 1:
            raise ValueError(f"need 0 < recent={recent} <= gap={gap} < reference={reference} - 1")
        self.reference = reference
        self.gap = gap
        self.recent = recent
        self._values: deque[float] = deque(maxlen=reference)
        self._recent_sum = 0.0
        self._ref_sum = 0.0
        self._ref_sumsq = 0.0
        self._history = TailWindow(long_window, min_count=min_calibration)

    def _statistic(self, value: float) -> float | None:
        values = self._values
        if len(values) < self.reference:
            return None
        # the reference window is values[0 : reference - gap + 1] once ``value`` is appended
        count = self.reference - self.gap
        drop = values[0]
        ref_sum = self._ref_sum - drop + values[count]
        ref_sumsq = self._ref_sumsq - drop * drop + values[count] * values[count]
        recent_sum = self._recent_sum + value - values[-self.recent]
        mean = ref_sum / count
        std = math.sqrt(max(ref_sumsq / count - mean * mean, 0.0))
        floor = 1e-3 * abs(mean) + 1e-9
        return abs(recent_sum / self.recent - mean) / max(std, floor)

    def score_one(self, x: Any) -> float:
        value = float(x)
        statistic = self._statistic(value) if math.isfinite(value) else None
        if statistic is None:
            return 0.0
        return surprise(self._history.upper_tail(statistic))

    def learn_one(self, x: Any) -> None:
        value = float(x)
        if not math.isfinite(value):
            return
        statistic = self._statistic(value)
        if statistic is not None:
            self._pending.append(statistic)
            if len(self._pending) > self.delay:
                self._history.push(self._pending.popleft())
        values = self._values
        count = self.reference - self.gap
        size = len(values)
        if size == self.reference:
            drop = values[0]
            entering = values[count]
            self._ref_sum += entering - drop
            self._ref_sumsq += entering * entering - drop * drop
            self._recent_sum -= values[size - self.recent]
        else:
            if size < count:
                self._ref_sum += value
                self._ref_sumsq += value * value
            if size >= self.recent:
                self._recent_sum -= values[size - self.recent]
        values.append(value)
        self._recent_sum += value
