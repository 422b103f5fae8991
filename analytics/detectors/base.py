"""The streaming detector contract, the alarm gate that turns scores into incidents, and the registry.

A detector follows river's shape: ``learn_one(x)`` updates its state, ``score_one(x)`` says how
anomalous ``x`` is given what it has learned so far (high = anomalous, 0 while warming up, always in
[0, 1]). Hyperparameters are keyword arguments, kept so ``clone()`` can build a fresh twin. A
detector does no I/O and no logging and pickles with the standard library.

Scores are surprises: ``-log10`` of a tail probability scaled by ``SURPRISE_SCALE``, so one threshold
means the same odds for every detector (``score 0.5`` = one in a million under the detector's model).
Thresholding lives in ``AlarmGate``, never inside a detector.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self

__all__ = [
    "DETECTORS",
    "SURPRISE_SCALE",
    "AlarmGate",
    "Detector",
    "Observation",
    "make_detector",
    "register",
    "surprise",
]

Observation = float | Mapping[str, float] | Sequence[float]
"""A float for one sensor; a mapping (name -> value) or a sequence for several sensors of one device."""

SURPRISE_SCALE = 12.0
"""``-log10(p)`` that maps to score 1: a one-in-10^12 event saturates the scale."""

_TINY = 1e-300


def surprise(p_value: float) -> float:
    """Map a tail probability to a score in [0, 1] (``p = 1e-6`` -> 0.5)."""
    if p_value >= 1.0:
        return 0.0
    return min(1.0, -math.log10(max(p_value, _TINY)) / SURPRISE_SCALE)


class Detector(ABC):
    """A streaming anomaly detector: learn from one observation at a time, score one at a time."""

    univariate: bool = False
    """True when the detector takes one float per observation (one sensor)."""

    def __init__(self, **params: Any) -> None:
        self._params = dict(params)

    @abstractmethod
    def learn_one(self, x: Any) -> None:
        """Update the model with one observation."""

    @abstractmethod
    def score_one(self, x: Any) -> float:
        """Anomaly score of ``x`` in [0, 1] given what was learned so far; 0 during warm-up."""

    def score_learn_one(self, x: Any) -> float:
        """Score ``x`` then learn from it: the usual streaming step."""
        score = self.score_one(x)
        self.learn_one(x)
        return score

    @property
    def params(self) -> dict[str, Any]:
        """The keyword arguments this detector was built with."""
        return dict(self._params)

    def clone(self) -> Self:
        """A fresh, untrained detector with the same hyperparameters."""
        return type(self)(**self._params)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"{type(self).__name__}({args})"


class AlarmGate:
    """Turns a score stream into incidents: one early flag per incident, hysteresis and a cool-down.

    An incident opens when the score reaches ``on`` (and no incident is open or cooling down); it
    closes once the score has stayed below ``off`` for ``clear_after`` observations; a new incident
    may open only ``cooldown`` observations after the previous one opened. ``update`` returns True
    only on the observation that opens an incident, so a sensor already in alarm is not re-flagged.
    """

    def __init__(
        self, *, on: float = 0.5, off: float | None = None, clear_after: int = 12, cooldown: int = 288
    ) -> None:
        if not 0.0 < on <= 1.0:
            raise ValueError(f"alarm threshold on={on} must be in (0, 1]")
        self.on = on
        self.off = on * 0.5 if off is None else off
        if self.off > self.on:
            raise ValueError(f"off={self.off} must not exceed on={self.on}")
        self.clear_after = clear_after
        self.cooldown = cooldown
        self.active = False
        self._quiet = 0
        self._since_open = cooldown

    def update(self, score: float) -> bool:
        """Feed one score; True when this observation opens a new incident."""
        self._since_open += 1
        if self.active:
            self._quiet = self._quiet + 1 if score < self.off else 0
            if self._quiet >= self.clear_after:
                self.active = False
            return False
        if score >= self.on and self._since_open >= self.cooldown:
            self.active = True
            self._quiet = 0
            self._since_open = 0
            return True
        return False

    def clone(self) -> AlarmGate:
        """A fresh gate with the same settings."""
        return AlarmGate(on=self.on, off=self.off, clear_after=self.clear_after, cooldown=self.cooldown)


DETECTORS: dict[str, Callable[..., Detector]] = {}
"""Named detector factories; ``make_detector(name, **params)`` builds one."""


def register(name: str) -> Callable[[type[Detector]], type[Detector]]:
    """Class decorator adding a detector to ``DETECTORS`` under ``name``."""

    def add(cls: type[Detector]) -> type[Detector]:
        if name in DETECTORS:
            raise ValueError(f"detector name {name!r} is already registered")
        DETECTORS[name] = cls
        return cls

    return add


def make_detector(name: str, **params: Any) -> Detector:
    """Build the registered detector ``name``; unknown names raise ``KeyError`` listing the known ones."""
    try:
        factory = DETECTORS[name]
    except KeyError:
        raise KeyError(f"unknown detector {name!r}; known: {', '.join(sorted(DETECTORS))}") from None
    return factory(**params)
