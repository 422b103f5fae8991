"""Streaming anomaly detectors: the contract, the alarm gate, the registry and the detectors."""

from analytics.detectors import combined, multivariate, seasonal, shift
from analytics.detectors.base import DETECTORS, SURPRISE_SCALE, AlarmGate, Detector, make_detector, surprise

__all__ = [
    "DETECTORS",
    "SURPRISE_SCALE",
    "AlarmGate",
    "Detector",
    "combined",
    "make_detector",
    "multivariate",
    "seasonal",
    "shift",
    "surprise",
]
