"""Rule detectors from the sensor registry, and the fallback robust z-score."""

from __future__ import annotations

import random

import pytest

from analytics.robust import RobustZScore
from analytics.rules import (
    RULE_THRESHOLD,
    RangeRule,
    RateOfChangeRule,
    SilenceWatch,
    StuckRule,
    rules_for_sensor,
    sensor_silence_limit_s,
)
from analytics.silence import SilenceMonitor
from ganlink.assets import Sensor
from ganlink.topics import DevicePath

S = 1_000_000_000


def _sensor(kind: str = "temperature", period: float = 1.0) -> Sensor:
    return Sensor(id="gas-temp", unit="Cel", kind=kind, range=(0.0, 1600.0), sample_period_s=period)


def test_range_rule_flags_only_values_outside_the_engineering_range() -> None:
    rule = RangeRule(0.0, 100.0)
    assert rule.score_one(0.0) == 0.0
    assert rule.score_one(100.0) == 0.0
    assert rule.score_one(100.01) >= RULE_THRESHOLD
    assert rule.score_one(-0.5) >= RULE_THRESHOLD
    assert rule.score_one(150.0) == 1.0
    assert rule.expected() == (0.0, 100.0)


def test_rate_rule_flags_a_step_larger_than_its_share_of_the_span() -> None:
    rule = RateOfChangeRule(span=100.0, max_step_fraction=0.2)
    assert rule.score_one(50.0) == 0.0, "no previous value yet"
    rule.learn_one(50.0)
    assert rule.score_one(65.0) < RULE_THRESHOLD
    assert rule.score_one(75.0) >= RULE_THRESHOLD
    assert rule.score_one(20.0) >= RULE_THRESHOLD
    assert rule.expected() == (30.0, 70.0)


def _feed(rule: StuckRule, values: list[float]) -> list[float]:
    scores = []
    for x in values:
        scores.append(rule.score_one(x))
        rule.learn_one(x)
    return scores


def test_stuck_rule_flags_a_flatline_on_a_noisy_sensor_after_min_run() -> None:
    rng = random.Random(1)
    rule = StuckRule(min_run=10)
    noisy = [round(800 + rng.gauss(0, 2), 1) for _ in range(300)]
    assert max(_feed(rule, noisy)) < RULE_THRESHOLD
    flat = _feed(rule, [812.3] * 30)
    first_flag = next(i for i, s in enumerate(flat) if s >= RULE_THRESHOLD)
    assert first_flag == 9, "a run of min_run equal values on a sensor that always moves is a flatline"


def test_stuck_rule_tolerates_runs_that_quantization_makes_likely() -> None:
    rng = random.Random(2)
    rule = StuckRule(min_run=10)
    # A coarse sensor: the value repeats about 70 % of the time.
    values, level = [], 50.0
    for _ in range(2000):
        if rng.random() < 0.3:
            level += rng.choice((-1.0, 1.0))
        values.append(level)
    scores = _feed(rule, values)
    assert max(scores) < RULE_THRESHOLD, "ordinary repeat runs of a quantized sensor are not a flatline"
    flat = _feed(rule, [level] * 200)
    assert max(flat) >= RULE_THRESHOLD, "a long enough flatline still stands out"


def test_stuck_rule_is_silent_during_warm_up() -> None:
    rule = StuckRule(min_run=5, warmup=60)
    assert max(_feed(rule, [1.0] * 59)) == 0.0


def test_discrete_sensors_get_only_the_range_rule() -> None:
    assert [type(r) for r in rules_for_sensor(_sensor(kind="state"))] == [RangeRule]
    assert {type(r) for r in rules_for_sensor(_sensor())} == {RangeRule, RateOfChangeRule, StuckRule}


def test_silence_limit_is_five_periods_but_at_least_fifteen_seconds() -> None:
    assert sensor_silence_limit_s(_sensor(period=1.0)) == 15.0
    assert sensor_silence_limit_s(_sensor(period=10.0)) == 50.0


def test_silence_watch_reports_keys_heard_once_then_silent_past_their_limit() -> None:
    watch = SilenceWatch()
    watch.watch("a", 10.0)
    watch.watch("b", 10.0)
    watch.heard("a", 100 * S)
    assert list(watch.overdue(110 * S)) == []
    overdue = list(watch.overdue(111 * S))
    assert [o.key for o in overdue] == ["a"], "b was never heard, so it is not overdue"
    assert overdue[0].silent_s == pytest.approx(11.0)
    watch.heard("a", 109 * S)
    assert list(watch.overdue(111 * S)) == []
    watch.heard("unwatched", 1)
    assert "unwatched" not in watch.last_seen_ns


def test_robust_z_scores_zero_in_warm_up_and_flags_a_spike_but_not_noise() -> None:
    rng = random.Random(3)
    detector = RobustZScore(warmup=60)
    scores = []
    for _ in range(2000):
        x = 100 + rng.gauss(0, 1)
        scores.append(detector.score_one(x))
        detector.learn_one(x)
    assert scores[:60] == [0.0] * 60
    assert sum(s >= 0.5 for s in scores) <= 2
    assert detector.score_one(112.0) >= 0.5
    low, high = detector.expected() or (0.0, 0.0)
    assert low < 100 < high


def test_robust_z_barely_moves_on_a_spike() -> None:
    rng = random.Random(4)
    detector = RobustZScore()
    for _ in range(500):
        detector.learn_one(10 + rng.gauss(0, 0.5))
    level = detector.level
    detector.learn_one(1000.0)
    assert abs(detector.level - level) < 0.1


def test_silence_noting_a_message_at_once_equals_noting_each_reading() -> None:
    device = DevicePath("p", "a", "l", "d")
    sensors = [Sensor(id=name, unit="1", kind="flow", range=(0, 1), sample_period_s=1) for name in ("x", "y", "z")]
    one_by_one, at_once = SilenceMonitor(), SilenceMonitor()
    for monitor in (one_by_one, at_once):
        monitor.add_device("gw", device, sensors)
        monitor.gateway_status("p", online=False)
    for t in (5, 7):
        for name in ("y", "x", "unknown"):
            one_by_one.heard(device, name, t)
        at_once.heard_all(device, ["y", "x", "unknown"], t)
    assert list(at_once.watch.last_seen_ns.items()) == list(one_by_one.watch.last_seen_ns.items())
    assert at_once.offline == one_by_one.offline == set()
