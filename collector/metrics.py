"""The collector's counters, and their Prometheus text exposition.

Each counter has one writing thread (the MQTT network thread or the writer), so plain ints suffice.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field

from collector.ledger import SequenceLedger

__all__ = ["WRITE_SECONDS_BUCKETS", "CollectorMetrics"]

# Upper bounds of the write-duration histogram's buckets, seconds (+Inf follows).
WRITE_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _zero_buckets() -> list[int]:
    return [0] * (len(WRITE_SECONDS_BUCKETS) + 1)


@dataclass(slots=True)
class CollectorMetrics:
    """What the collector has seen and done since it started."""

    messages_received: int = 0
    readings_received: int = 0
    readings_written: int = 0
    events_written: int = 0
    write_retries: int = 0
    batches_written: int = 0
    batches_spooled: int = 0
    readings_spooled: int = 0
    spool_depth_batches: int = 0
    in_flight_messages: int = 0
    in_flight_peak: int = 0
    write_seconds_total: float = 0.0
    writes: int = 0  # settled batches, the count of the write-duration histogram
    write_seconds_buckets: list[int] = field(default_factory=_zero_buckets)  # per bucket, not cumulative
    lag_seconds_last: float = 0.0
    auth_alarm: bool = False
    dead_lettered: Counter[str] = field(default_factory=Counter)

    def observe_write(self, seconds: float) -> None:
        """One batch settled in ``seconds`` (store write, or spool, dead letters and acks included)."""
        self.write_seconds_total += seconds
        self.writes += 1
        self.write_seconds_buckets[bisect.bisect_left(WRITE_SECONDS_BUCKETS, seconds)] += 1

    def prometheus(self, sequences: SequenceLedger | None = None) -> str:
        """Prometheus text format 0.0.4."""
        lines: list[str] = []

        def metric(name: str, kind: str, help_text: str, value: float, labels: str = "") -> None:
            lines.append(f"# HELP ganlink_collector_{name} {help_text}")
            lines.append(f"# TYPE ganlink_collector_{name} {kind}")
            lines.append(f"ganlink_collector_{name}{labels} {value}")

        metric("messages_received_total", "counter", "MQTT messages received", self.messages_received)
        metric("readings_received_total", "counter", "valid readings received", self.readings_received)
        metric("readings_written_total", "counter", "readings written to the store", self.readings_written)
        metric("events_written_total", "counter", "anomaly events written to the store", self.events_written)
        metric("write_retries_total", "counter", "store writes retried", self.write_retries)
        metric("batches_written_total", "counter", "batches written to the store", self.batches_written)
        metric("batches_spooled_total", "counter", "batches put in the disk spool", self.batches_spooled)
        metric("spool_depth_batches", "gauge", "batches waiting in the disk spool", self.spool_depth_batches)
        metric("in_flight_messages", "gauge", "messages received but not yet acknowledged", self.in_flight_messages)
        metric("in_flight_peak", "gauge", "most messages held unacknowledged at once", self.in_flight_peak)
        metric("write_seconds_total", "counter", "time spent in store writes", self.write_seconds_total)
        lines.append("# HELP ganlink_collector_write_duration_seconds time to settle one batch")
        lines.append("# TYPE ganlink_collector_write_duration_seconds histogram")
        cumulative = 0
        for bound, count in zip((*map(str, WRITE_SECONDS_BUCKETS), "+Inf"), self.write_seconds_buckets, strict=True):
            cumulative += count
            lines.append(f'ganlink_collector_write_duration_seconds_bucket{{le="{bound}"}} {cumulative}')
        lines.append(f"ganlink_collector_write_duration_seconds_sum {self.write_seconds_total}")
        lines.append(f"ganlink_collector_write_duration_seconds_count {self.writes}")
        metric("lag_seconds", "gauge", "source time to written, newest batch", self.lag_seconds_last)
        metric("store_auth_alarm", "gauge", "1 while the store refuses our credentials", int(self.auth_alarm))
        lines.append("# HELP ganlink_collector_dead_lettered_total inputs dead-lettered, by reason")
        lines.append("# TYPE ganlink_collector_dead_lettered_total counter")
        lines.extend(
            f'ganlink_collector_dead_lettered_total{{reason="{reason}"}} {count}'
            for reason, count in sorted(self.dead_lettered.items())
        )
        if sequences is not None:
            totals = sequences.totals()
            metric("sequence_gaps", "gauge", "messages missing by gateway seq", totals.gaps)
            metric("sequence_duplicates_total", "counter", "messages seen twice by gateway seq", totals.duplicates)
            metric("sequence_out_of_order_total", "counter", "late messages by gateway seq", totals.out_of_order)
        return "\n".join(lines) + "\n"
