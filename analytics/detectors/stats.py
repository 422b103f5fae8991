"""Small streaming statistics in plain Python floats (the per-reading budget is a few microseconds)."""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque

__all__ = ["TailWindow", "WindowMoments", "halflife_rate", "normal_tail"]

_SQRT2 = math.sqrt(2.0)


def halflife_rate(halflife: float) -> float:
    """EWMA weight whose memory halves after ``halflife`` observations."""
    if halflife <= 0:
        raise ValueError(f"halflife={halflife} must be positive")
    return float(1.0 - 0.5 ** (1.0 / halflife))


def normal_tail(z: float) -> float:
    """Upper tail probability P(Z > z) of a standard normal variable."""
    return 0.5 * math.erfc(z / _SQRT2)


class WindowMoments:
    """Mean and standard deviation over the last ``size`` values, O(1) per update."""

    __slots__ = ("_sum", "_sumsq", "_values", "size")

    def __init__(self, size: int) -> None:
        if size < 2:
            raise ValueError(f"window size={size} must be at least 2")
        self.size = size
        self._values: deque[float] = deque()
        self._sum = 0.0
        self._sumsq = 0.0

    def __len__(self) -> int:
        return len(self._values)

    def push(self, value: float) -> None:
        """Add a value, dropping the oldest once the window is full."""
        self._values.append(value)
        self._sum += value
        self._sumsq += value * value
        if len(self._values) > self.size:
            old = self._values.popleft()
            self._sum -= old
            self._sumsq -= old * old

    @property
    def mean(self) -> float:
        """Mean of the values in the window (0 when empty)."""
        n = len(self._values)
        return self._sum / n if n else 0.0

    @property
    def std(self) -> float:
        """Population standard deviation of the window (0 when fewer than two values)."""
        n = len(self._values)
        if n < 2:
            return 0.0
        mean = self._sum / n
        return math.sqrt(max(self._sumsq / n - mean * mean, 0.0))


class TailWindow:
    """Upper-tail probabilities against the last ``size`` values: empirical in the body, and an
    exponential (peaks-over-threshold) tail fitted to the top ``tail_fraction`` beyond it, so values
    larger than anything seen still get a finite, graded probability.
    """

    __slots__ = ("_order", "_sorted", "min_count", "size", "tail_fraction")

    def __init__(self, size: int, *, tail_fraction: float = 0.02, min_count: int = 50) -> None:
        if size < min_count:
            raise ValueError(f"window size={size} must be at least min_count={min_count}")
        self.size = size
        self.tail_fraction = tail_fraction
        self.min_count = min_count
        self._order: deque[float] = deque()
        self._sorted: list[float] = []

    def __len__(self) -> int:
        return len(self._order)

    def push(self, value: float) -> None:
        """Add a value, dropping the oldest once the window is full."""
        self._order.append(value)
        insort(self._sorted, value)
        if len(self._order) > self.size:
            old = self._order.popleft()
            del self._sorted[bisect_left(self._sorted, old)]

    def upper_tail(self, value: float) -> float:
        """P(V >= value) under the window's distribution (1 until ``min_count`` values are in)."""
        ordered = self._sorted
        n = len(ordered)
        if n < self.min_count:
            return 1.0
        k = max(int(self.tail_fraction * n), 10)
        threshold = ordered[n - k]
        if value <= threshold:
            return (n - bisect_left(ordered, value)) / n
        excess = sum(ordered[n - k :]) / k - threshold
        excess = max(excess, 0.05 * abs(threshold) + 1e-3)
        return (k / n) * math.exp(-(value - threshold) / excess)
