"""Scores to alarm events: one early flag per incident, hysteresis, a cool-down, and suppression
while a sensor is already in alarm. Pure and clock-free: callers pass each observation's time.

Per key (a sensor, or a device for device-wide checks) the engine is idle, in alarm, or cooling
down. A finding whose score reaches its detector's threshold (times the key's sensitivity factor,
see ganlink.alarms.sensitivity_for) opens an incident at once; later findings on that key are
suppressed. The incident clears after ``clear_after`` observations in a row below ``off_ratio`` of
the threshold and at least ``clear_hold_s`` after the last trigger; no new incident opens on that key
for ``cooldown_s`` after the clear.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from ganlink.alarms import Severity

__all__ = ["AlarmChange", "AlarmEngine", "ChangeKind", "Finding", "Incident", "alarm_id_for"]

_NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Finding:
    """One detector's verdict on one observation, with what it expected (for the alarm's why)."""

    detector: str
    model_version: str
    score: float
    threshold: float
    severity: Severity
    expected: tuple[float, float] | None = None
    note: str = ""


class ChangeKind(StrEnum):
    RAISED = "raised"
    CLEARED = "cleared"


@dataclass(frozen=True, slots=True)
class AlarmChange:
    """An incident opened or closed: what the caller publishes as an anomaly event."""

    kind: ChangeKind
    key: Hashable
    alarm_id: str
    time_ns: int
    finding: Finding
    threshold_factor: float


@dataclass(slots=True)
class Incident:
    """An open alarm on one key."""

    alarm_id: str
    opened_ns: int
    finding: Finding
    last_trigger_ns: int
    quiet: int = 0
    peak_score: float = 0.0


def alarm_id_for(key: Hashable, time_ns: int) -> str:
    """A stable alarm id: the same key and opening time always give the same id (replay-safe)."""
    return hashlib.sha1(f"{key}|{time_ns}".encode(), usedforsecurity=False).hexdigest()[:20]


@dataclass
class AlarmEngine:
    clear_after: int = 12
    clear_hold_s: float = 30.0
    cooldown_s: float = 300.0
    off_ratio: float = 0.5
    incidents: dict[Hashable, Incident] = field(default_factory=dict)
    cooldown_until_ns: dict[Hashable, int] = field(default_factory=dict)
    threshold_factors: dict[Hashable, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 < self.off_ratio <= 1.0:
            raise ValueError(f"off_ratio {self.off_ratio} must be in (0, 1]")
        if self.clear_after < 1:
            raise ValueError(f"clear_after {self.clear_after} must be at least 1")

    def in_alarm(self, key: Hashable) -> bool:
        return key in self.incidents

    def set_threshold_factor(self, key: Hashable, factor: float) -> None:
        """Make a key less (factor > 1) or normally (1) sensitive; reversible by setting 1."""
        if factor < 1.0:
            raise ValueError(f"threshold factor {factor} below 1 would make {key!r} more sensitive than designed")
        if factor == 1.0:
            self.threshold_factors.pop(key, None)
        else:
            self.threshold_factors[key] = factor

    def observe(self, key: Hashable, time_ns: int, findings: Sequence[Finding]) -> AlarmChange | None:
        """Feed one observation's findings for ``key``; returns the change it causes, if any."""
        factor = self.threshold_factors.get(key, 1.0)
        worst: Finding | None = None
        worst_ratio = 0.0
        for finding in findings:
            ratio = finding.score / (min(0.999, finding.threshold * factor))
            if ratio > worst_ratio:
                worst, worst_ratio = finding, ratio
        incident = self.incidents.get(key)
        if incident is not None:
            return self._continue(key, incident, time_ns, worst=worst, ratio=worst_ratio, factor=factor)
        if worst is None or worst_ratio < 1.0:
            return None
        if time_ns < self.cooldown_until_ns.get(key, 0):
            return None
        alarm_id = alarm_id_for(key, time_ns)
        self.incidents[key] = Incident(alarm_id, time_ns, worst, time_ns, peak_score=worst.score)
        self.cooldown_until_ns.pop(key, None)
        return AlarmChange(ChangeKind.RAISED, key, alarm_id, time_ns, worst, factor)

    def _continue(
        self, key: Hashable, incident: Incident, time_ns: int, *, worst: Finding | None, ratio: float, factor: float
    ) -> AlarmChange | None:
        if worst is not None and ratio >= 1.0:
            incident.last_trigger_ns = max(incident.last_trigger_ns, time_ns)
            incident.quiet = 0
            incident.peak_score = max(incident.peak_score, worst.score)
            return None
        incident.quiet = 0 if ratio >= self.off_ratio else incident.quiet + 1
        held_s = (time_ns - incident.last_trigger_ns) / _NS_PER_S
        if incident.quiet < self.clear_after or held_s < self.clear_hold_s:
            return None
        return self.clear(key, time_ns, factor)

    def clear(self, key: Hashable, time_ns: int, factor: float | None = None) -> AlarmChange | None:
        """Close the key's incident now (also used when data returns after a silence)."""
        incident = self.incidents.pop(key, None)
        if incident is None:
            return None
        self.cooldown_until_ns[key] = time_ns + int(self.cooldown_s * _NS_PER_S)
        used_factor = self.threshold_factors.get(key, 1.0) if factor is None else factor
        return AlarmChange(ChangeKind.CLEARED, key, incident.alarm_id, time_ns, incident.finding, used_factor)
