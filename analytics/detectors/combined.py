"""One score per device: a univariate detector per sensor plus an optional multivariate one.

The device score is the smallest tail probability among the parts, Bonferroni-corrected for how many
parts there are (``p = parts * min p``), so adding sensors does not add false alarms. Per-sensor
scores stay available for alarms that name the sensor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from analytics.detectors.base import SURPRISE_SCALE, Detector, make_detector, register

__all__ = ["DEVICE_PART", "DeviceCombiner"]

DEVICE_PART = "_device"
"""Name of the multivariate part in ``part_scores`` (not a valid sensor id, so it never collides)."""


@register("combined")
class DeviceCombiner(Detector):
    """Combines per-sensor univariate detectors and a multivariate one into one device score.

    Hyperparameters:
        univariate: registered name of the per-sensor detector ("" for none).
        univariate_params: its keyword arguments.
        multivariate: registered name of the device-level detector ("" for none).
        multivariate_params: its keyword arguments.
    """

    def __init__(
        self,
        *,
        univariate: str = "seasonal",
        univariate_params: Mapping[str, Any] | None = None,
        multivariate: str = "pca",
        multivariate_params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            univariate=univariate,
            univariate_params=dict(univariate_params or {}),
            multivariate=multivariate,
            multivariate_params=dict(multivariate_params or {}),
        )
        self._template = make_detector(univariate, **(univariate_params or {})) if univariate else None
        self._device = make_detector(multivariate, **(multivariate_params or {})) if multivariate else None
        self._sensors: dict[str, Detector] = {}

    @staticmethod
    def _as_mapping(x: Any) -> Mapping[str, float]:
        if isinstance(x, Mapping):
            return x
        if isinstance(x, int | float):
            return {"value": float(x)}
        return {str(i): float(v) for i, v in enumerate(x)}

    def sensor_scores(self, x: Any) -> dict[str, float]:
        """Score of each sensor's reading on its own (sensors not seen before score 0)."""
        readings = self._as_mapping(x)
        return {name: (det.score_one(readings[name]) if (det := self._sensors.get(name)) else 0.0) for name in readings}

    def part_scores(self, x: Any) -> dict[str, float]:
        """Each part's score, Bonferroni-corrected for the number of parts: sensors by name, the
        multivariate part as ``DEVICE_PART``. Alarms per part keep one noisy sensor from masking another."""
        readings = self._as_mapping(x)
        scores = self.sensor_scores(readings) if self._template is not None else {}
        if self._device is not None and len(readings) > 1:
            scores[DEVICE_PART] = self._device.score_one(readings)
        correction = math.log10(len(scores)) / SURPRISE_SCALE if scores else 0.0
        return {name: max(0.0, score - correction) if score > 0.0 else 0.0 for name, score in scores.items()}

    def score_one(self, x: Any) -> float:
        return max(self.part_scores(x).values(), default=0.0)

    def learn_one(self, x: Any) -> None:
        readings = self._as_mapping(x)
        if self._template is not None:
            for name, value in readings.items():
                detector = self._sensors.get(name)
                if detector is None:
                    detector = self._sensors[name] = self._template.clone()
                detector.learn_one(value)
        if self._device is not None and len(readings) > 1:
            self._device.learn_one(readings)
