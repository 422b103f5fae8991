"""The collector's Prometheus exposition: the write-duration histogram."""

from __future__ import annotations

import re

from collector.metrics import WRITE_SECONDS_BUCKETS, CollectorMetrics


def _samples(text: str, name: str) -> dict[str, float]:
    """``le`` label (or "" for unlabelled) -> value of every sample of ``name``."""
    pattern = re.compile(rf'^{name}(?:\{{le="([^"]+)"\}})? (\S+)$', re.MULTILINE)
    return {le or "": float(value) for le, value in pattern.findall(text)}


def test_write_durations_fill_cumulative_buckets_with_sum_and_count() -> None:
    metrics = CollectorMetrics()
    for seconds in (0.003, 0.02, 0.02, 3.0, 20.0):
        metrics.observe_write(seconds)
    text = metrics.prometheus()
    assert "# TYPE ganlink_collector_write_duration_seconds histogram" in text
    buckets = _samples(text, "ganlink_collector_write_duration_seconds_bucket")
    assert list(buckets) == [*map(str, WRITE_SECONDS_BUCKETS), "+Inf"]
    assert (buckets["0.005"], buckets["0.01"], buckets["0.025"], buckets["2.5"], buckets["5.0"]) == (1, 1, 3, 3, 4)
    assert buckets["+Inf"] == 5
    assert _samples(text, "ganlink_collector_write_duration_seconds_count") == {"": 5}
    assert _samples(text, "ganlink_collector_write_duration_seconds_sum")[""] == sum((0.003, 0.02, 0.02, 3.0, 20.0))


def test_a_duration_on_a_bound_counts_in_that_bucket() -> None:
    metrics = CollectorMetrics()
    metrics.observe_write(0.1)  # Prometheus buckets are "less than or equal"
    buckets = _samples(metrics.prometheus(), "ganlink_collector_write_duration_seconds_bucket")
    assert (buckets["0.05"], buckets["0.1"]) == (0, 1)
