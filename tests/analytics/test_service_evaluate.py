"""`ganlink analytics evaluate`: alarms scored against a recording's ground truth."""

from __future__ import annotations

import argparse
import csv
import json
import random
from pathlib import Path

import pytest

from analytics.evaluate import FaultWindow, evaluate_stream, read_recorded, run
from ganlink.assets import PlantFile, load_plant_file
from ganlink.cli import main
from ganlink.errors import ConfigError
from ganlink.schema import Reading
from ganlink.timestamps import format_rfc3339
from ganlink.topics import DevicePath

S = 1_000_000_000
T0 = 1_790_000_000 * S
PLANT_YAML = Path(__file__).with_name("analytics_test_plant.yaml")
BURNER_1 = DevicePath("test-smelter", "smelting", "furnace-1", "burner-1")
GAS_TEMP = "test-smelter.smelting.furnace-1.burner-1.gas-temp"


def _plant() -> PlantFile:
    return load_plant_file(PLANT_YAML)


def _batches(seconds: int, stuck: tuple[int, int]) -> list[list[Reading]]:
    """burner-1 only: gas-temp (stuck at one value during ``stuck``), fan-current and state."""
    rng = random.Random(5)
    batches = []
    for i in range(seconds):
        time_ns = T0 + i * S
        temp = 1199.0 if stuck[0] <= i < stuck[1] else round(1200 + rng.gauss(0, 3), 2)
        batches.append(
            [
                Reading(BURNER_1, "gas-temp", time_ns, temp),
                Reading(BURNER_1, "fan-current", time_ns, round(80 + rng.gauss(0, 1), 2)),
                Reading(BURNER_1, "state", time_ns, 1.0),
            ]
        )
    return batches


def test_a_detected_fault_counts_toward_recall_and_an_undetected_one_against_it() -> None:
    faults = [
        FaultWindow(GAS_TEMP, "stuck", T0 + 900 * S, T0 + 1000 * S),
        # Nothing happens on fan-current: a fault the recording does not show cannot be detected.
        FaultWindow(GAS_TEMP.replace("gas-temp", "fan-current"), "drift", T0 + 1100 * S, T0 + 1150 * S),
    ]
    report = evaluate_stream(_plant(), _batches(1300, (900, 1000)), faults, warmup_s=600)
    assert (report.faults, report.detected, report.recall) == (2, 1, 0.5)
    assert report.by_kind == {"drift": {"faults": 1, "detected": 0}, "stuck": {"faults": 1, "detected": 1}}
    assert report.median_delay_s is not None
    assert report.median_delay_s < 30


def test_alarms_outside_every_fault_window_are_false_alarms() -> None:
    report = evaluate_stream(_plant(), _batches(1300, (900, 1000)), [], warmup_s=600)
    assert report.faults == 0
    assert report.false_alarms == report.alarms == 1
    assert report.false_by_detector == {"stuck": 1}
    assert report.false_alarms_per_hour > 0


def test_faults_and_alarms_in_the_warm_up_are_not_scored() -> None:
    faults = [FaultWindow(GAS_TEMP, "stuck", T0 + 300 * S, T0 + 400 * S)]
    report = evaluate_stream(_plant(), _batches(1000, (300, 400)), faults, warmup_s=600)
    assert (report.faults, report.alarms) == (0, 0)


def _write_recording(folder: Path, batches: list[list[Reading]], faults: list[FaultWindow]) -> None:
    with (folder / "readings.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["timestamp", "sensor_id", "value"])
        for batch in batches:
            for r in batch:
                writer.writerow([format_rfc3339(r.time_ns), r.sensor_id, repr(r.value)])
    with (folder / "ground_truth.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["sensor_id", "kind", "start", "end", "start_ns", "end_ns", "magnitude"])
        for f in faults:
            writer.writerow(
                [f.sensor_id, f.kind, format_rfc3339(f.start_ns), format_rfc3339(f.end_ns), f.start_ns, f.end_ns, 0.0]
            )


def test_the_command_scores_a_recorded_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    faults = [FaultWindow(GAS_TEMP, "stuck", T0 + 900 * S, T0 + 1000 * S)]
    _write_recording(tmp_path, _batches(1200, (900, 1000)), faults)
    batches, read_faults = read_recorded(tmp_path)
    assert read_faults == faults
    assert sum(len(b) for b in batches) == 3600
    args = argparse.Namespace(data=tmp_path, plant="test-smelter", plant_file=PLANT_YAML, json=True)
    assert run(args) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (result["recall"], result["false_alarms"]) == (1.0, 0)


def test_a_folder_without_the_recording_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="gateway simulate"):
        read_recorded(tmp_path)


def test_the_command_line_runs_the_plant_simulator_and_scores_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analytics", "evaluate", "--plant", "guixi-smelter", "--hours", "0.25", "--seed", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["plant"] == "guixi-smelter"
    assert result["readings"] > 5_000
    assert result["hours"] == pytest.approx(0.25 - 600 / 3600, abs=0.01)
    assert 0.0 <= result["recall"] <= 1.0
