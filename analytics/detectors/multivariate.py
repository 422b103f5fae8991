"""PCA T-squared + Q (squared prediction error) detector for one device's sensors, on scikit-learn.

Readings are standardized with the mean and spread of a rolling window of recent readings the
detector did not find anomalous, and projected on that window's principal components (refit every
``refit_every`` readings). The statistic is Hotelling's T-squared on the kept components plus the
residual Q, each in units of its in-window mean, averaged over the last ``short_window`` readings.
Its tail probability comes from the statistic's own out-of-sample history (each reading is scored
before it is learned; empirical body, exponential tail), which joins the calibration ``delay``
readings late so a fault in progress is judged against the time before it. Readings scoring at or
above ``exclude_score`` never enter the fitting window, so an ongoing fault is not fitted as normal.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.decomposition import PCA
from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

from analytics.detectors.base import Detector, register, surprise
from analytics.detectors.stats import TailWindow

__all__ = ["PCADetector"]

Vector = NDArray[np.float64]


@cache
def _blas() -> ThreadpoolController:
    """The process's BLAS thread pools (looked up once, on the first fit)."""
    return ThreadpoolController()


@register("pca")
class PCADetector(Detector):
    """Multivariate streaming detector: PCA T-squared + Q on a rolling window of normal readings.

    Hyperparameters:
        window: readings in the fitting window.
        refit_every: readings between refits.
        variance: share of variance the kept components explain.
        short_window: readings the statistic is averaged over.
        exclude_score: readings scoring at or above this never enter the fitting window.
        warmup: readings before the first fit (scores 0 until then).
        long_window: statistics kept to calibrate the tail.
        delay: readings a statistic waits before it joins the calibration.
    """

    univariate = False

    def __init__(
        self,
        *,
        window: int = 300,
        refit_every: int = 50,
        variance: float = 0.95,
        short_window: int = 10,
        exclude_score: float = 0.25,
        warmup: int = 100,
        long_window: int = 2000,
        delay: int = 60,
    ) -> None:
        super().__init__(
            window=window,
            refit_every=refit_every,
            variance=variance,
            short_window=short_window,
            exclude_score=exclude_score,
            warmup=warmup,
            long_window=long_window,
            delay=delay,
        )
        if warmup < 20 or window < warmup:
            raise ValueError(f"need 20 <= warmup={warmup} <= window={window}")
        self.refit_every = refit_every
        self.variance = variance
        self.exclude_score = exclude_score
        self.warmup = warmup
        self.delay = delay
        self._columns: tuple[str, ...] | None = None
        self._normal: deque[Vector] = deque(maxlen=window)
        self._recent: deque[float] = deque(maxlen=short_window)
        self._pending: deque[float] = deque()
        self._calibration = TailWindow(long_window)
        self._since_fit = 0
        self._fitted = False
        self._center: Vector = np.zeros(0)
        self._scale: Vector = np.ones(0)
        self._components: Vector = np.zeros((0, 0))
        self._inv_eigen: Vector = np.zeros(0)
        self._t2_mean = 1.0
        self._q_mean = math.inf

    def _vector(self, x: Any) -> Vector | None:
        if isinstance(x, Mapping):
            if self._columns is None:
                self._columns = tuple(x)
            values = [float(x.get(name, math.nan)) for name in self._columns]
        else:
            values = [float(v) for v in x]
        if not all(map(math.isfinite, values)):  # plain floats: cheaper than numpy on ~10 values
            return None
        return np.asarray(values, dtype=np.float64)

    def _statistic(self, vector: Vector) -> float:
        z = (vector - self._center) / self._scale
        projected = self._components @ z
        t2 = float(projected @ (projected * self._inv_eigen))
        residual = z - self._components.T @ projected
        q = float(residual @ residual)
        return t2 / self._t2_mean + q / self._q_mean

    def _smoothed(self, statistic: float) -> float:
        recent = self._recent
        total = sum(recent) + statistic
        count = len(recent) + 1
        if len(recent) == recent.maxlen:
            total -= recent[0]
            count -= 1
        return total / count

    def score_one(self, x: Any) -> float:
        vector = self._vector(x)
        if not self._fitted or vector is None:
            return 0.0
        return surprise(self._calibration.upper_tail(self._smoothed(self._statistic(vector))))

    def learn_one(self, x: Any) -> None:
        vector = self._vector(x)
        if vector is None:
            return
        if not self._fitted:
            self._learn(vector)
            return
        statistic = self._statistic(vector)
        smoothed = self._smoothed(statistic)
        self._learn(vector, statistic, smoothed, surprise(self._calibration.upper_tail(smoothed)))

    def score_learn_one(self, x: Any) -> float:
        """Score then learn ``x`` with its statistic computed once (the same as the two calls)."""
        vector = self._vector(x)
        if vector is None:
            return 0.0
        if not self._fitted:
            self._learn(vector)
            return 0.0
        statistic = self._statistic(vector)
        smoothed = self._smoothed(statistic)
        score = surprise(self._calibration.upper_tail(smoothed))
        self._learn(vector, statistic, smoothed, score)
        return score

    def _learn(self, vector: Vector, statistic: float | None = None, smoothed: float = 0.0, score: float = 0.0) -> None:
        """Learn a vector; once fitted, with its statistic, smoothed statistic and score."""
        if statistic is not None:
            self._recent.append(statistic)
            self._pending.append(smoothed)
            if len(self._pending) > self.delay:
                self._calibration.push(self._pending.popleft())
            if score >= self.exclude_score:
                return
        self._normal.append(vector)
        self._since_fit += 1
        if len(self._normal) >= self.warmup and (not self._fitted or self._since_fit >= self.refit_every):
            self._fit()

    def _fit(self) -> None:
        # One BLAS thread: for a window of a few thousand rows by ~10 sensors OpenBLAS's extra threads
        # only spin, which doubled the monitor's CPU time per reading (same results either way).
        with _blas().limit(limits=1, user_api="blas"):
            self._fit_window()

    def _fit_window(self) -> None:
        data = np.array(list(self._normal), dtype=np.float64)  # rows of equal length: what vstack gives, faster
        center = data.mean(axis=0)
        scale = data.std(axis=0)
        if not np.any(scale > 1e-12):
            # a window of constant rows (a stopped machine) has no structure to learn: keep the last model
            self._since_fit = 0
            return
        scale = np.where(scale > 1e-12, scale, 1.0)
        z = (data - center) / scale
        pca = PCA(n_components=self.variance, svd_solver="full").fit(z)
        self._center, self._scale = center, scale
        self._components = np.asarray(pca.components_, dtype=np.float64)
        self._inv_eigen = 1.0 / np.maximum(np.asarray(pca.explained_variance_, dtype=np.float64), 1e-9)
        projected = z @ self._components.T
        t2 = np.einsum("ij,ij->i", projected * self._inv_eigen, projected)
        self._t2_mean = max(float(t2.mean()), 1e-9)
        if self._components.shape[0] < z.shape[1]:
            residual = z - projected @ self._components
            q_mean = float(np.einsum("ij,ij->i", residual, residual).mean())
            # with every component kept Q is rounding noise: leave it out rather than amplify it
            self._q_mean = q_mean if q_mean > 1e-9 else math.inf
        else:
            self._q_mean = math.inf
        self._fitted = True
        self._since_fit = 0
