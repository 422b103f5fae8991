"""The simulator: deterministic, realistic structure, and faults exactly where the ground truth says."""

from __future__ import annotations

import itertools
import random
import statistics
from collections import defaultdict
from pathlib import Path

import pytest

from ganlink.assets import PlantFile, bundled_plant_files, load_plant_file
from ganlink.schema import Reading
from gateway.simulator import FaultKind, FaultSettings, GroundTruth, PlantSimulator, simulate
from gateway.simulator.signals import ArNoise, quantize

S = 1_000_000_000
# 2026-11-20 00:00 Asia/Shanghai
START = 1_763_568_000 * S


def plant(plant_id: str) -> PlantFile:
    return next(load_plant_file(p) for p in bundled_plant_files() if p.stem == plant_id)


def series(readings: list[Reading]) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for r in readings:
        out[r.sensor_id].append((r.time_ns, r.value))
    return out


def flat(run: object) -> list[Reading]:
    return [r for batch in run for r in batch]  # type: ignore[attr-defined]


def test_same_seed_and_start_give_identical_readings_and_faults() -> None:
    settings = FaultSettings(per_sensor_per_day=24)
    first = simulate(plant("guixi-smelter"), START, START + 1800 * S, seed=5, faults=settings)
    second = simulate(plant("guixi-smelter"), START, START + 1800 * S, seed=5, faults=settings)
    assert flat(first) == flat(second)
    assert list(first.ground_truth) == list(second.ground_truth)
    assert len(first.ground_truth) > 0


def test_other_seed_gives_other_readings() -> None:
    a = flat(simulate(plant("conch-cement"), START, START + 60 * S, seed=1))
    b = flat(simulate(plant("conch-cement"), START, START + 60 * S, seed=2))
    assert [r.value for r in a] != [r.value for r in b]


def test_each_batch_is_one_device_at_one_tick_and_sample_periods_hold() -> None:
    run = simulate(plant("guixi-smelter"), START, START + 60 * S, seed=1, faults=FaultSettings())
    batches = list(run)
    for batch in batches:
        assert len({r.device for r in batch}) == 1
        assert len({r.time_ns for r in batch}) == 1
    per_sensor = series([r for b in batches for r in b])
    shaft = per_sensor["guixi-smelter.smelting.flash-furnace-1.reaction-shaft.shaft-temp"]
    slag = per_sensor["guixi-smelter.smelting.flash-furnace-1.settler.slag-level"]
    assert len(shaft) == 60
    assert len(slag) == 12
    assert all(t % (5 * S) == 0 for t, _ in slag)


def test_values_stay_in_engineering_range_and_are_quantized() -> None:
    plant_file = plant("liuzhou-auto")
    ranges = {ref.sensor_id: ref.sensor.range for ref in plant_file.sensors()}
    resolution = {ref.sensor_id: ref.sensor.simulation.get("resolution", 0) for ref in plant_file.sensors()}
    for r in flat(simulate(plant_file, START, START + 3600 * S, seed=3, faults=FaultSettings(per_sensor_per_day=48))):
        low, high = ranges[r.sensor_id]
        assert low <= r.value <= high
        step = resolution[r.sensor_id]
        if step:
            assert abs(r.value / step - round(r.value / step)) < 1e-6


def test_counters_only_grow_and_good_plus_reject_equals_strokes() -> None:
    readings = flat(simulate(plant("liuzhou-auto"), START, START + 4 * 3600 * S, seed=9))
    by = series(readings)
    press = "liuzhou-auto.stamping.press-line-1.press-1"
    for sensor_id, points in by.items():
        if sensor_id.endswith("-count"):
            values = [v for _, v in points]
            assert all(b >= a for a, b in itertools.pairwise(values)), sensor_id
            assert values[-1] > values[0], f"{sensor_id} never counted"
    strokes = dict(by[f"{press}.stroke-count"])
    for t, good in by[f"{press}.good-count"]:
        reject = dict(by[f"{press}.reject-count"])[t]
        assert good + reject == strokes[t]


def test_discrete_lines_stop_for_breaks_and_machines_report_known_states() -> None:
    # day shift starts 08:00 local; the 40-minute lunch break starts 4.5 h in (12:30-13:10)
    day_start = START + 8 * 3600 * S
    readings = flat(simulate(plant("liuzhou-auto"), day_start, day_start + 6 * 3600 * S, seed=4))
    state = dict(series(readings)["liuzhou-auto.stamping.press-line-1.press-1.machine-state"])
    assert set(state.values()) <= {0.0, 1.0, 2.0, 3.0}
    assert state[day_start + 5 * S] == 3.0  # changeover at shift start
    lunch = [v for t, v in state.items() if day_start + 4.6 * 3600 * S <= t < day_start + 5.1 * 3600 * S]
    assert lunch
    assert all(v in (0.0, 2.0) for v in lunch)
    running = [v for t, v in state.items() if day_start + 1 * 3600 * S <= t < day_start + 2 * 3600 * S]
    assert running.count(1.0) > 0.8 * len(running)
    tonnage = dict(series(readings)["liuzhou-auto.stamping.press-line-1.press-1.tonnage"])
    assert all(tonnage[t] == 0 for t, v in state.items() if v != 1.0)


def test_correlated_signals_follow_their_drivers() -> None:
    by = series(flat(simulate(plant("guixi-smelter"), START, START + 10 * 3600 * S, seed=2, faults=FaultSettings())))
    current = [v for _, v in by["guixi-smelter.electrolysis.tankhouse-1.rectifier-1.cell-current"]]
    voltage = [v for _, v in by["guixi-smelter.electrolysis.tankhouse-1.rectifier-1.cell-voltage"]]
    assert statistics.correlation(current, voltage) > 0.5
    oxygen = [v for _, v in by["guixi-smelter.smelting.flash-furnace-1.feed-system.oxygen-enrichment"]]
    so2 = [v for _, v in by["guixi-smelter.smelting.flash-furnace-1.uptake.offgas-so2"]]
    assert statistics.correlation(oxygen, so2) > 0.3


def test_tankhouse_runs_harder_on_night_tariff() -> None:
    by = series(flat(simulate(plant("guixi-smelter"), START, START + 16 * 3600 * S, seed=2, faults=FaultSettings())))
    current = by["guixi-smelter.electrolysis.tankhouse-1.rectifier-1.cell-current"]
    night = [v for t, v in current if t < START + 8 * 3600 * S]  # shift C, 00:00-08:00 local
    day = [v for t, v in current if START + 8 * 3600 * S <= t < START + 16 * 3600 * S]
    assert statistics.mean(night) > statistics.mean(day) + 0.3


def _faulted(kind: FaultKind, hours: int = 4) -> tuple[GroundTruth, dict[str, list[tuple[int, float]]]]:
    settings = FaultSettings(per_sensor_per_day=36, kinds=[kind], min_s=120, max_s=600)
    run = simulate(plant("conch-cement"), START, START + hours * 3600 * S, seed=11, faults=settings)
    by = series(flat(run))
    assert len(run.ground_truth) > 0, f"no {kind} fault drawn"
    return run.ground_truth, by


def _inside(points: list[tuple[int, float]], start: int, end: int) -> list[float]:
    return [v for t, v in points if start <= t < end]


def test_stuck_fault_repeats_one_value_for_its_whole_window() -> None:
    truth, by = _faulted(FaultKind.STUCK)
    for fault in truth:
        assert fault.kind is FaultKind.STUCK
        values = _inside(by[fault.sensor_id], fault.start_ns, fault.end_ns)
        assert len(values) >= 2, fault
        assert len(set(values)) == 1, fault
        before = _inside(by[fault.sensor_id], fault.start_ns - 120 * S, fault.start_ns)
        assert not before or values[0] == before[-1]


def test_dropout_fault_leaves_exactly_its_window_without_readings() -> None:
    truth, by = _faulted(FaultKind.DROPOUT)
    for fault in truth:
        times = [t for t, _ in by[fault.sensor_id]]
        assert not [t for t in times if fault.start_ns <= t < fault.end_ns]
        assert any(t < fault.start_ns for t in times) or fault.start_ns == START


def test_spike_fault_is_an_outlier_against_its_neighbourhood() -> None:
    truth, by = _faulted(FaultKind.SPIKE)
    checked = 0
    for fault in truth:
        points = by[fault.sensor_id]
        spike = _inside(points, fault.start_ns, fault.end_ns)
        around = _inside(points, fault.start_ns - 300 * S, fault.start_ns)
        if len(around) < 10:
            continue
        spread = statistics.pstdev(around) or 1e-9
        assert abs(spike[0] - statistics.mean(around)) > 5 * spread, fault
        checked += 1
    assert checked > 0, "no fault could be checked"


def test_step_fault_shifts_the_level_by_its_magnitude() -> None:
    truth, by = _faulted(FaultKind.STEP)
    plant_file = plant("conch-cement")
    spans = {r.sensor_id: r.sensor.range[1] - r.sensor.range[0] for r in plant_file.sensors()}
    checked = 0
    for fault in truth:
        points = by[fault.sensor_id]
        inside = _inside(points, fault.start_ns, fault.end_ns)
        before = _inside(points, fault.start_ns - 600 * S, fault.start_ns)
        earlier = [f for f in truth.for_sensor(fault.sensor_id) if 0 <= fault.start_ns - f.end_ns < 600 * S]
        if len(before) < 10 or earlier:
            continue
        shift = statistics.mean(inside) - statistics.mean(before)
        assert shift == pytest.approx(fault.magnitude * spans[fault.sensor_id], rel=0.5), fault
        checked += 1
    assert checked > 0, "no fault could be checked"


def test_vibration_faults_hit_only_vibration_sensors_and_raise_them() -> None:
    truth, by = _faulted(FaultKind.VIBRATION, hours=8)
    checked = 0
    for fault in truth:
        assert "vibration" in fault.sensor_id
        points = by[fault.sensor_id]
        inside = _inside(points, fault.start_ns, fault.end_ns)
        before = _inside(points, fault.start_ns - 600 * S, fault.start_ns)
        earlier = [f for f in truth.for_sensor(fault.sensor_id) if 0 <= fault.start_ns - f.end_ns < 600 * S]
        if len(before) < 10 or earlier:
            continue
        assert statistics.mean(inside) > 1.5 * statistics.mean(before)
        checked += 1
    assert checked > 0, "no fault could be checked"


def test_ground_truth_matches_between_run_and_incremental_simulator() -> None:
    settings = FaultSettings(per_sensor_per_day=24)
    run = simulate(plant("guixi-smelter"), START, START + 3 * 3600 * S, seed=8, faults=settings)
    simulator = PlantSimulator(plant("guixi-smelter"), seed=8, start_ns=START, faults=settings)
    for _ in simulator.run(START + 3 * 3600 * S):
        pass
    incremental = [f for f in simulator.ground_truth if f.start_ns < START + 3 * 3600 * S]
    assert [(f.sensor_id, f.kind, f.start_ns) for f in incremental] == [
        (f.sensor_id, f.kind, f.start_ns) for f in run.ground_truth
    ]


def test_ground_truth_writes_csv_and_json(tmp_path: Path) -> None:
    folder = tmp_path
    run = simulate(plant("conch-cement"), START, START + 3600 * S, seed=1, faults=FaultSettings(per_sensor_per_day=48))
    csv_path, json_path = run.ground_truth.write(folder)
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "sensor_id,kind,start,end,start_ns,end_ns,magnitude"
    assert len(lines) == 1 + len(run.ground_truth)
    assert json_path.read_text().count('"sensor_id"') == len(run.ground_truth)


def test_ar_noise_has_the_requested_spread_and_colour() -> None:
    noise = ArNoise(random.Random(1), std=2.0, corr=0.9)
    samples = [noise.next() for _ in range(50_000)]
    assert statistics.pstdev(samples) == pytest.approx(2.0, rel=0.1)
    lag1 = statistics.correlation(samples[:-1], samples[1:])
    assert lag1 == pytest.approx(0.9, abs=0.03)


def test_quantize_rounds_to_resolution() -> None:
    assert quantize(1234.567, 0.1) == 1234.6
    assert quantize(0.30000001, 0.001) == 0.3
    assert quantize(7.25, 0) == 7.25
