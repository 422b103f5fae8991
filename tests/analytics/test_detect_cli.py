"""`ganlink analytics detect` on real NAB data: the output contract and causality."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from analytics.detectors import DETECTORS
from ganlink.cli import main

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "anomaly"
NAB_FILE = SHARED_DATA / "nab" / "realKnownCause" / "ec2_request_latency_system_failure.csv"


def _read(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def _detect(tmp_path: Path, rows: list[list[str]], name: str) -> list[list[str]]:
    source = tmp_path / f"{name}.csv"
    with source.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    target = tmp_path / f"{name}.out.csv"
    assert main(["analytics", "detect", str(source), str(target)]) == 0
    return _read(target)


@pytest.fixture
def nab_rows() -> list[list[str]]:
    if not NAB_FILE.exists():
        pytest.skip(f"shared anomaly data not found at {SHARED_DATA}")
    return _read(NAB_FILE)


def test_detect_writes_one_scored_row_per_input_row(tmp_path: Path, nab_rows: list[list[str]]) -> None:
    output = _detect(tmp_path, nab_rows, "full")
    assert output[0] == ["timestamp", "score", "anomaly"]
    assert [row[0] for row in output[1:]] == [row[0] for row in nab_rows[1:]]
    scores = [float(row[1]) for row in output[1:]]
    flags = [row[2] for row in output[1:]]
    assert all(math.isfinite(s) and 0.0 <= s <= 1.0 for s in scores)
    assert set(flags) <= {"0", "1"}
    assert 0 < flags.count("1") < 20, "alarms are incidents, not runs of points"


def test_detect_is_causal_prefix_gives_the_same_rows(tmp_path: Path, nab_rows: list[list[str]]) -> None:
    full = _detect(tmp_path, nab_rows, "full")
    half = len(nab_rows) // 2
    prefix = _detect(tmp_path, nab_rows[:half], "prefix")
    assert prefix == full[:half]


def test_detect_does_not_flag_training_rows(
    tmp_path: Path, nab_rows: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVAL_TRAIN_ROWS", "3000")
    output = _detect(tmp_path, nab_rows, "trained")
    assert all(row[2] == "0" for row in output[1:3001])
    assert any(row[2] == "1" for row in output[3001:])


def test_detect_scores_several_columns_with_epoch_timestamps(tmp_path: Path) -> None:
    rows = [["timestamp", "pump-current", "outlet-pressure"]]
    for t in range(1200):
        shift = 6.0 if t >= 900 else 0.0
        rows.append([str(1_700_000_000 + t), f"{10 + math.sin(t / 7):.4f}", f"{3 + 0.1 * math.cos(t / 5) + shift:.4f}"])
    output = _detect(tmp_path, rows, "device")
    flags = [int(row[2]) for row in output[1:]]
    assert len(flags) == 1200
    assert any(flags[900:960]), "the pressure step is flagged within a minute"
    assert not any(flags[:900])


@pytest.mark.parametrize("name", sorted(DETECTORS))
@pytest.mark.parametrize("columns", [1, 3])
def test_every_registered_detector_can_be_named(tmp_path: Path, name: str, columns: int) -> None:
    rows = [["timestamp", *(f"sensor-{c}" for c in range(columns))]]
    for t in range(400):
        rows.append(
            [f"2026-11-27T09:{t // 60:02d}:{t % 60:02d}", *(f"{math.sin(t / (5 + c)):.5f}" for c in range(columns))]
        )
    source = tmp_path / "in.csv"
    with source.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    target = tmp_path / "out.csv"
    assert main(["analytics", "detect", str(source), str(target), "--detector", name]) == 0
    output = _read(target)
    assert len(output) == 401
    assert all(0.0 <= float(row[1]) <= 1.0 and row[2] in {"0", "1"} for row in output[1:])


def test_unknown_detector_is_refused_before_writing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.csv"
    source.write_text("timestamp,value\n2026-11-27T09:00:00,1\n")
    target = tmp_path / "out.csv"
    assert main(["analytics", "detect", str(source), str(target), "--detector", "crystal-ball"]) == 2
    assert "known: combined" in capsys.readouterr().err
    assert not target.exists()
