"""Two ledgers kept by the collector, both pure and thread-safe.

- :class:`AckLedger` decides which MQTT messages may be acknowledged: only those whose readings are
  all written (or dead-lettered), released in arrival order, and never a message id from an earlier
  connection (the broker re-sends those and may reuse the id).
- :class:`SequenceLedger` counts, per gateway, sequence gaps, duplicates and late (out-of-order) arrivals.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["AckLedger", "AckToken", "GatewaySequence", "SequenceLedger"]


class AckToken(NamedTuple):
    """One received QoS 1 message: the connection it came on and its packet id.

    (A named tuple: one is made, hashed and looked up per message; a frozen dataclass costs ~1 us more.)
    """

    connection: int
    mid: int


class AckLedger:
    """Messages waiting for their acknowledgement, in arrival order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: OrderedDict[AckToken, bool] = OrderedDict()
        self._connection = 0
        # The most messages held unacknowledged at once since start (memory stays flat if this does).
        self.peak = 0

    @property
    def connection(self) -> int:
        return self._connection

    def __len__(self) -> int:
        return len(self._pending)

    def new_connection(self) -> int:
        """A (re)connect: forget tokens of older connections, the broker re-sends those messages."""
        with self._lock:
            self._connection += 1
            self._pending.clear()
            return self._connection

    def register(self, token: AckToken) -> None:
        with self._lock:
            if token.connection == self._connection:
                self._pending[token] = False
                self.peak = max(self.peak, len(self._pending))

    def complete(self, tokens: list[AckToken]) -> list[AckToken]:
        """Mark messages as durably handled; returns those now ready to ack, in arrival order."""
        ready: list[AckToken] = []
        with self._lock:
            for token in tokens:
                if token in self._pending:
                    self._pending[token] = True
            while self._pending:
                token, done = next(iter(self._pending.items()))
                if not done:
                    break
                self._pending.popitem(last=False)
                ready.append(token)
        return ready


@dataclass(slots=True)
class GatewaySequence:
    """What one gateway's sequence numbers looked like so far."""

    highest: int = -1
    received: int = 0
    gaps: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    missing: set[int] = field(default_factory=set)


class SequenceLedger:
    """Per-gateway counters of gaps, duplicates and late arrivals (seq increases per gateway).

    A gap is counted when seq jumps ahead; a late message that fills it counts as out-of-order and
    closes the gap again. Only the last ``track_missing`` missing numbers are remembered per gateway.
    """

    def __init__(self, *, track_missing: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._gateways: dict[str, GatewaySequence] = {}
        self._track_missing = track_missing

    def observe(self, gateway: str, seq: int) -> None:
        with self._lock:
            state = self._gateways.get(gateway)
            if state is None:
                state = self._gateways[gateway] = GatewaySequence()
            state.received += 1
            if state.highest < 0 or seq == state.highest + 1:
                state.highest = seq
            elif seq > state.highest:
                skipped = seq - state.highest - 1
                state.gaps += skipped
                state.missing.update(range(max(state.highest + 1, seq - self._track_missing), seq))
                state.highest = seq
                if len(state.missing) > self._track_missing:
                    state.missing = set(sorted(state.missing)[-self._track_missing :])
            elif seq in state.missing:
                state.missing.discard(seq)
                state.gaps -= 1
                state.out_of_order += 1
            else:
                state.duplicates += 1

    def snapshot(self) -> dict[str, GatewaySequence]:
        """A copy of every gateway's counters (missing sets left out)."""
        with self._lock:
            return {
                gateway: GatewaySequence(s.highest, s.received, s.gaps, s.duplicates, s.out_of_order)
                for gateway, s in self._gateways.items()
            }

    def totals(self) -> GatewaySequence:
        with self._lock:
            total = GatewaySequence()
            for s in self._gateways.values():
                total.received += s.received
                total.gaps += s.gaps
                total.duplicates += s.duplicates
                total.out_of_order += s.out_of_order
            return total
