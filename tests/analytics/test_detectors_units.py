"""Unit behaviour of the detector building blocks: tails, the alarm gate, windows and the combiner."""

from __future__ import annotations

import math
import random

import pytest

from analytics.detect import seasons_for_step
from analytics.detectors import AlarmGate, make_detector, surprise
from analytics.detectors.combined import DEVICE_PART, DeviceCombiner
from analytics.detectors.multivariate import PCADetector
from analytics.detectors.shift import LevelShift
from analytics.detectors.stats import TailWindow, WindowMoments


def test_surprise_maps_one_in_a_million_to_half_and_is_monotone() -> None:
    assert surprise(1.0) == 0.0
    assert surprise(1e-6) == pytest.approx(0.5)
    assert surprise(0.0) == 1.0
    assert surprise(1e-3) < surprise(1e-4) < surprise(1e-9)


def test_alarm_gate_flags_once_per_incident_with_hysteresis() -> None:
    gate = AlarmGate(on=0.5, off=0.2, clear_after=3, cooldown=0)
    flags = [gate.update(s) for s in (0.1, 0.6, 0.9, 0.3, 0.6, 0.1, 0.1, 0.1, 0.7)]
    # 0.3 is above `off`, so the incident stays open; three quiet readings close it
    assert flags == [False, True, False, False, False, False, False, False, True]


def test_alarm_gate_cooldown_suppresses_a_new_incident() -> None:
    gate = AlarmGate(on=0.5, off=0.2, clear_after=1, cooldown=5)
    flags = [gate.update(s) for s in (0.9, 0.0, 0.9, 0.0, 0.0, 0.9)]
    assert flags == [True, False, False, False, False, True]


@pytest.mark.parametrize(("on", "off"), [(0.0, None), (1.5, None), (0.3, 0.5)])
def test_alarm_gate_rejects_inconsistent_thresholds(on: float, off: float | None) -> None:
    with pytest.raises(ValueError, match="must"):
        AlarmGate(on=on, off=off)


def test_tail_window_is_empirical_in_the_body_and_exponential_beyond() -> None:
    window = TailWindow(1000, min_count=10)
    for value in range(1000):
        window.push(float(value))
    assert window.upper_tail(500.0) == pytest.approx(0.5)
    beyond = [window.upper_tail(v) for v in (1000.0, 1100.0, 1500.0)]
    assert all(0.0 < p < 0.02 for p in beyond)
    assert beyond == sorted(beyond, reverse=True)


def test_tail_window_forgets_values_older_than_its_size() -> None:
    window = TailWindow(100, min_count=10)
    for _ in range(100):
        window.push(1000.0)
    for value in range(100):
        window.push(float(value))
    assert len(window) == 100
    assert window.upper_tail(50.0) == pytest.approx(0.5)


def test_tail_window_gives_no_probability_before_min_count() -> None:
    window = TailWindow(100, min_count=50)
    for value in range(49):
        window.push(float(value))
    assert window.upper_tail(1e9) == 1.0


def test_window_moments_match_the_last_values() -> None:
    moments = WindowMoments(4)
    for value in (100.0, 1.0, 2.0, 3.0, 4.0):
        moments.push(value)
    assert moments.mean == pytest.approx(2.5)
    assert moments.std == pytest.approx(math.sqrt(1.25))


def test_level_shift_running_sums_equal_a_direct_computation() -> None:
    rng = random.Random(5)
    detector = LevelShift(reference=30, gap=8, recent=5, long_window=100)
    history: list[float] = []
    for t in range(300):
        value = rng.gauss(0.0, 1.0) + (4.0 if t > 200 else 0.0)
        statistic = detector._statistic(value)
        window = [*history, value][-30:]
        if len(history) >= 30:
            reference = window[:22]
            mean = sum(reference) / 22
            std = math.sqrt(max(sum(r * r for r in reference) / 22 - mean * mean, 0.0))
            expected = abs(sum(window[-5:]) / 5 - mean) / max(std, 1e-3 * abs(mean) + 1e-9)
            assert statistic == pytest.approx(expected, abs=1e-9)
        else:
            assert statistic is None
        detector.learn_one(value)
        history.append(value)


def test_seasonal_detector_expects_the_daily_pattern() -> None:
    day = 48
    detector = make_detector("seasonal", seasons=(day,))
    rng = random.Random(2)

    def usual(t: int) -> float:
        return 20.0 + (60.0 if (t % day) >= day // 2 else 0.0) + rng.gauss(0.0, 1.0)

    jump_due = day * 20 + day // 2
    for t in range(jump_due):
        detector.learn_one(usual(t))
    expected_jump = detector.score_one(usual(jump_due))
    missing_jump = detector.score_one(20.0)
    assert missing_jump > 0.25 > expected_jump


def test_combiner_corrects_each_part_and_names_the_faulty_sensor() -> None:
    combiner = DeviceCombiner(univariate="shift", multivariate="pca")
    rng = random.Random(9)
    for _ in range(600):
        combiner.learn_one({"bath-temp": rng.gauss(960, 1), "anode-current": rng.gauss(320, 2)})
    for _ in range(15):
        reading = {"bath-temp": rng.gauss(975, 1), "anode-current": rng.gauss(320, 2)}
        combiner.learn_one(reading)
    parts = combiner.part_scores(reading)
    assert set(parts) == {"bath-temp", "anode-current", DEVICE_PART}
    assert max(parts, key=lambda name: parts[name]) in {"bath-temp", DEVICE_PART}
    assert parts["bath-temp"] > 0.5
    assert parts["anode-current"] < 0.25
    assert combiner.score_one(reading) == max(parts.values())


@pytest.mark.parametrize(
    ("step_s", "seasons"), [(300.0, (288, 2016)), (1800.0, (48, 336)), (3600.0, (24, 168)), (1.0, ()), (86400.0, ())]
)
def test_seasons_follow_the_sampling_step(step_s: float, seasons: tuple[int, ...]) -> None:
    assert seasons_for_step(step_s) == seasons


def test_seasonal_slot_follows_the_clock_across_a_gap() -> None:
    day, step = 24, 3600.0
    rng = random.Random(4)
    clocked = make_detector("seasonal", seasons=(day,), step_seconds=step)
    counted = make_detector("seasonal", seasons=(day,))

    def usual(hour: int) -> float:
        return 20.0 + (30.0 if hour % day >= 12 else 0.0) + rng.gauss(0.0, 0.5)

    hour = day * 12 + 12  # afternoon: the high half of the day
    for past in (h for h in range(hour) if not 270 <= h < 275):  # five hours missing, a day ago
        value = usual(past)
        clocked.learn_one((value, past * step))
        counted.learn_one(value)
    value = usual(hour)
    assert clocked.score_one((value, hour * step)) < min(0.25, counted.score_one(value))
    assert clocked._raw_error(value, hour) < counted._raw_error(value, counted.n)


def test_pca_on_a_stopped_machine_learns_nothing_and_warns_nothing() -> None:
    detector = PCADetector(warmup=20, window=40, refit_every=5)
    stopped = {"current": 0.0, "speed": 0.0, "temperature": 21.0}
    scores = []
    for _ in range(200):  # warnings are errors in this suite: a divide by zero would fail here
        scores.append(detector.score_one(stopped))
        detector.learn_one(stopped)
    assert scores == [0.0] * 200
