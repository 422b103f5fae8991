"""`ganlink analytics detect` on real NAB data: the output contract and causality."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

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
