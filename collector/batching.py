"""Batches: readings, events and dead letters of many messages, sealed by size, window or age.

The MQTT network thread appends; the writer takes sealed batches. A message is never split across
batches, so a batch's acknowledgement tokens can be released once the batch is handled.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from collector.dead_letter import DeadLetter
from collector.intake import Intake
from collector.ledger import AckToken
from ganlink.schema import AnomalyEvent, Reading

__all__ = ["Batch", "BatchBuilder", "Origin"]

# Where a run of readings came from: (index of its first reading in the batch, gateway, seq).
Origin = tuple[int, str | None, int | None]


@dataclass(slots=True)
class Batch:
    """What the writer stores in one go, and the messages it settles."""

    readings: list[Reading] = field(default_factory=list)
    events: list[AnomalyEvent] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    tokens: list[AckToken] = field(default_factory=list)
    origins: list[Origin] = field(default_factory=list)
    opened_at: float = 0.0

    @property
    def empty(self) -> bool:
        return not (self.readings or self.events or self.dead_letters or self.tokens)

    def add(self, intake: Intake, token: AckToken | None) -> None:
        if intake.readings:
            self.origins.append((len(self.readings), intake.gateway, intake.seq))
        self.readings.extend(intake.readings)
        self.events.extend(intake.events)
        self.dead_letters.extend(intake.dead_letters)
        if token is not None:
            self.tokens.append(token)


class BatchBuilder:
    """Collects messages into the open batch and seals it when it is full.

    Sealed when ``max_readings`` readings or ``max_messages`` messages are in it (the latter keeps
    the MQTT in-flight window from filling up with messages nobody writes), or on :meth:`seal_aged`.
    ``on_sealed`` is called (from the appending thread) whenever a batch becomes ready.
    """

    def __init__(
        self,
        *,
        max_readings: int,
        max_messages: int,
        on_sealed: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_readings < 1 or max_messages < 1:
            raise ValueError("batch limits must be positive")
        self._max_readings = max_readings
        self._max_messages = max_messages
        self._on_sealed = on_sealed
        self._clock = clock
        self._lock = threading.Lock()
        self._open = Batch()
        self._sealed: deque[Batch] = deque()

    def add(self, intake: Intake, token: AckToken | None) -> None:
        with self._lock:
            batch = self._open
            if batch.empty:
                batch.opened_at = self._clock()
            batch.add(intake, token)
            full = len(batch.readings) >= self._max_readings or len(batch.tokens) >= self._max_messages
            if full:
                self._seal_locked()
        if full:
            self._on_sealed()

    def _seal_locked(self) -> None:
        if not self._open.empty:
            self._sealed.append(self._open)
            self._open = Batch()

    def seal_aged(self, max_age_s: float) -> None:
        """Seal the open batch if it has waited ``max_age_s`` or more."""
        with self._lock:
            if not self._open.empty and self._clock() - self._open.opened_at >= max_age_s:
                self._seal_locked()

    def seal_now(self) -> None:
        with self._lock:
            self._seal_locked()

    def take(self) -> list[Batch]:
        """All sealed batches, oldest first."""
        with self._lock:
            batches = list(self._sealed)
            self._sealed.clear()
            return batches

    def age(self) -> float:
        """Seconds the open batch has waited, 0 when it is empty."""
        with self._lock:
            return 0.0 if self._open.empty else self._clock() - self._open.opened_at

    @property
    def pending_readings(self) -> int:
        with self._lock:
            return len(self._open.readings) + sum(len(b.readings) for b in self._sealed)
