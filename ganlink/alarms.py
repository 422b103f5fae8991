"""The alarm lifecycle contract shared by analytics (which raises and clears alarms) and the API
(where people acknowledge, shelve, comment and label them): a pure state machine, no I/O.

An alarm is active or cleared, and unacknowledged or acknowledged (the four states of ISA-18.2 and of
the usual IoT platforms); it can be shelved (its notifications held back) until a time; it carries
comments and one operator label (``real``, ``false``, ``planned``). Labels feed back into detection:
:func:`sensitivity_for` turns a sensor's recent labels into a threshold factor (>= 1 = less
sensitive), computed from the labels alone so relabeling reverses it.

Wire form: analytics publishes an AnomalyEvent whose ``details`` hold ``state`` (``raised`` or
``cleared``), ``severity``, ``detector``, ``model_version`` and ``why`` (value, expected range);
``alarm_id`` ties the raise and the clear together. :func:`alarm_from_event` builds the record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from ganlink.schema import AnomalyEvent

__all__ = [
    "Alarm",
    "AlarmStatus",
    "AlarmTransitionError",
    "Comment",
    "Label",
    "Sensitivity",
    "Severity",
    "alarm_from_event",
    "sensitivity_for",
]


class Severity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"

    @property
    def rank(self) -> int:
        """0 for critical up to 3 for warning, for sorting the most urgent first."""
        return list(Severity).index(self)


class Label(StrEnum):
    """What an operator says an alarm was."""

    REAL = "real"
    FALSE = "false"
    PLANNED = "planned"


class AlarmStatus(StrEnum):
    ACTIVE_UNACK = "active-unack"
    ACTIVE_ACK = "active-ack"
    CLEARED_UNACK = "cleared-unack"
    CLEARED_ACK = "cleared-ack"


class AlarmTransitionError(ValueError):
    """An action that the alarm's current state does not allow (e.g. acknowledging twice)."""

    def __init__(self, alarm_id: str, action: str, why: str) -> None:
        self.alarm_id = alarm_id
        self.action = action
        super().__init__(f"alarm {alarm_id}: cannot {action}: {why}")


@dataclass(frozen=True, slots=True)
class Comment:
    user: str
    time_ns: int
    text: str


@dataclass(frozen=True, slots=True)
class Alarm:
    """One alarm; every transition returns a new Alarm (the record is immutable)."""

    id: str
    sensor_id: str
    detector: str
    model_version: str
    severity: Severity
    raised_ns: int
    details: dict[str, Any] = field(default_factory=dict)
    cleared_ns: int | None = None
    acknowledged_ns: int | None = None
    acknowledged_by: str | None = None
    shelved_until_ns: int | None = None
    shelved_by: str | None = None
    label: Label | None = None
    labeled_by: str | None = None
    comments: tuple[Comment, ...] = ()

    @property
    def active(self) -> bool:
        return self.cleared_ns is None

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_ns is not None

    @property
    def status(self) -> AlarmStatus:
        if self.active:
            return AlarmStatus.ACTIVE_ACK if self.acknowledged else AlarmStatus.ACTIVE_UNACK
        return AlarmStatus.CLEARED_ACK if self.acknowledged else AlarmStatus.CLEARED_UNACK

    def shelved(self, now_ns: int) -> bool:
        """True while the alarm is shelved (its notifications held back)."""
        return self.shelved_until_ns is not None and now_ns < self.shelved_until_ns

    def clear(self, at_ns: int) -> Alarm:
        if not self.active:
            raise AlarmTransitionError(self.id, "clear", "it is already cleared")
        if at_ns < self.raised_ns:
            raise AlarmTransitionError(self.id, "clear", "the clear time is before the raise time")
        return replace(self, cleared_ns=at_ns)

    def acknowledge(self, user: str, at_ns: int) -> Alarm:
        if self.acknowledged:
            raise AlarmTransitionError(self.id, "acknowledge", f"{self.acknowledged_by} already acknowledged it")
        return replace(self, acknowledged_ns=at_ns, acknowledged_by=user)

    def shelve(self, user: str, at_ns: int, until_ns: int) -> Alarm:
        if until_ns <= at_ns:
            raise AlarmTransitionError(self.id, "shelve", "the shelf end must be in the future")
        if not self.active:
            raise AlarmTransitionError(self.id, "shelve", "it is cleared")
        return replace(self, shelved_until_ns=until_ns, shelved_by=user)

    def unshelve(self) -> Alarm:
        if self.shelved_until_ns is None:
            raise AlarmTransitionError(self.id, "unshelve", "it is not shelved")
        return replace(self, shelved_until_ns=None, shelved_by=None)

    def comment(self, user: str, at_ns: int, text: str) -> Alarm:
        if not text.strip():
            raise AlarmTransitionError(self.id, "comment", "the comment is empty")
        return replace(self, comments=(*self.comments, Comment(user, at_ns, text.strip())))

    def set_label(self, label: Label | None, user: str | None) -> Alarm:
        """Label (or, with None, unlabel) the alarm; relabeling is allowed and reverses feedback."""
        return replace(self, label=label, labeled_by=user if label is not None else None)


def alarm_from_event(event: AnomalyEvent) -> Alarm:
    """The alarm record a ``raised`` anomaly event opens."""
    if not event.alarm_id:
        raise ValueError(f"anomaly event for {event.device.sensor_id(event.sensor)} has no alarm_id")
    details = dict(event.details)
    return Alarm(
        id=event.alarm_id,
        sensor_id=event.device.sensor_id(event.sensor),
        detector=event.detector,
        model_version=str(details.get("model_version", "")),
        severity=Severity(details.get("severity", Severity.WARNING.value)),
        raised_ns=event.time_ns,
        details=details,
    )


@dataclass(frozen=True, slots=True)
class Sensitivity:
    """How much less sensitive a sensor's detection is, and why (shown with the sensor)."""

    factor: float
    labeled: int
    false_labels: int
    reason: str


def sensitivity_for(
    labels: Sequence[Label | None], *, recent: int = 20, min_labeled: int = 5, max_factor: float = 1.6
) -> Sensitivity:
    """Threshold factor from a sensor's alarm labels, newest last.

    Among the ``recent`` newest real/false labels (planned work says nothing about the detector),
    a false share above one half raises the factor linearly up to ``max_factor`` at all false.
    Fewer than ``min_labeled`` labels leave the sensor at its default sensitivity.
    """
    judged = [label for label in labels if label in (Label.REAL, Label.FALSE)][-recent:]
    false = sum(1 for label in judged if label is Label.FALSE)
    if len(judged) < min_labeled:
        return Sensitivity(1.0, len(judged), false, f"{len(judged)} labeled alarm(s), fewer than {min_labeled}")
    share = false / len(judged)
    if share <= 0.5:
        return Sensitivity(1.0, len(judged), false, f"{false} of {len(judged)} recent alarms labeled false")
    factor = 1.0 + (share - 0.5) * 2.0 * (max_factor - 1.0)
    return Sensitivity(
        round(factor, 3),
        len(judged),
        false,
        f"{false} of {len(judged)} recent alarms labeled false: threshold x{factor:.2f}",
    )
