"""Pure KPI math on hand-made readings."""

from __future__ import annotations

from api.kpi.calendar import Interval, PlannedTime
from api.kpi.formulas import (
    Confidence,
    MachineState,
    confidence_of,
    counter_increase,
    integrate_rate,
    ratio,
    running_ns,
    state_times,
)

S = 1_000_000_000
PLANNED = PlannedTime(Interval(0, 100 * S), (Interval(0, 100 * S),))


def test_time_in_state_holds_each_reading_until_the_next_and_gaps_count_as_no_data() -> None:
    points = [(0, 1.0), (10 * S, 1.0), (20 * S, 1.0), (30 * S, 0.0), (40 * S, 0.0), (50 * S, 2.0)]
    times = state_times(points, PLANNED, max_hold_ns=10 * S)
    assert times.of(MachineState.RUNNING) == 30 * S
    assert times.of(MachineState.STOPPED) == 20 * S
    assert times.of(MachineState.FAULT) == 10 * S
    assert times.no_data_ns == 40 * S
    assert ratio(times.of(MachineState.RUNNING), times.observed_ns) == 0.5


def test_state_outside_planned_busy_time_is_not_counted() -> None:
    planned = PlannedTime(Interval(0, 100 * S), (Interval(0, 20 * S), Interval(60 * S, 80 * S)))
    times = state_times([(0, 1.0), (50 * S, 2.0)], planned, max_hold_ns=100 * S)
    assert times.of(MachineState.RUNNING) == 20 * S
    assert times.of(MachineState.FAULT) == 20 * S
    assert times.planned_ns == 40 * S


def test_a_reading_before_the_period_sets_the_state_at_its_start() -> None:
    times = state_times([(-5 * S, 3.0), (5 * S, 1.0)], PLANNED, max_hold_ns=200 * S)
    assert times.of(MachineState.CHANGEOVER) == 5 * S
    assert times.of(MachineState.RUNNING) == 95 * S


def test_counter_increase_uses_a_baseline_before_the_period_and_survives_a_reset() -> None:
    points = [(-5 * S, 100.0), (5 * S, 110.0), (15 * S, 125.0), (25 * S, 3.0), (35 * S, 8.0), (120 * S, 50.0)]
    assert counter_increase(points, PLANNED) == 10 + 15 + 3 + 5


def test_rate_integrals_and_running_time_from_minute_buckets() -> None:
    minute = 60 * S
    planned = PlannedTime(Interval(0, 4 * minute), (Interval(0, 3 * minute),))
    buckets = [(0, 120.0), (minute, 60.0), (2 * minute, 5.0), (3 * minute, 600.0)]
    assert integrate_rate(buckets, minute, planned) == (120 + 60 + 5) / 60
    assert running_ns(buckets, minute, planned, threshold=10.0) == (2 * minute, 3 * minute)


def test_confidence_marks_follow_completeness() -> None:
    assert confidence_of(0.95) is Confidence.HIGH
    assert confidence_of(0.5) is Confidence.LOW
    assert confidence_of(0.0) is Confidence.NONE
    assert confidence_of(None) is Confidence.NONE
    assert ratio(1.0, 0.0) is None
