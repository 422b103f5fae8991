"""`ganlink kpi`: the KPI set from the configured store and registry, as JSON, CSV or a readable sheet."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ganlink.cli import main
from ganlink.embedded_store import EmbeddedStore
from ganlink.registry import Registry
from ganlink.schema import Reading
from ganlink.settings import get_settings
from ganlink.topics import DevicePath

from .conftest import AUTO_FILE, KILN, KILN_FILE

S = 1_000_000_000
DAY = ["--start", "2026-11-26", "--end", "2026-11-27"]


@pytest.fixture
async def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    registry = Registry(f"sqlite:///{tmp_path / 'registry.sqlite'}")
    registry.create_schema()
    registry.load_plant_file(AUTO_FILE)
    registry.load_plant_file(KILN_FILE)
    registry.close()
    device = DevicePath(KILN, "clinker", "kiln-1", "kiln")
    start = 1_795_622_400 * S  # 2026-11-26T00:00+08:00
    async with await EmbeddedStore.open(tmp_path / "timeseries.sqlite") as store:
        await store.write_readings([Reading(device, "feed-rate", start + m * 60 * S, 120.0) for m in range(24 * 60)])
    monkeypatch.setenv("GANLINK_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("GANLINK_INFLUX_URL", raising=False)
    monkeypatch.delenv("GANLINK_REGISTRY_URL", raising=False)
    get_settings.cache_clear()
    return tmp_path


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    yield
    get_settings.cache_clear()


def test_json_carries_every_kpi_with_formula_in_the_plants_time(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["kpi", "--plant", KILN, *DAY, "--json"]) == 0
    body = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert body["start"] == "2026-11-26T00:00:00+08:00"
    kpis = {k["key"]: k for k in body["kpis"]}
    assert kpis["produced"]["value"] == pytest.approx(24 * 120.0)
    assert kpis["availability"]["value"] == pytest.approx(1.0)
    assert kpis["completeness"]["value"] == pytest.approx(0.5)  # main-power sent nothing
    assert kpis["completeness"]["confidence"] == "low"
    assert all(k["formula"] for k in body["kpis"])


def test_csv_has_one_row_per_kpi(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kpi", "--plant", KILN, *DAY, "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["kpi"] for r in rows if not r["line"]} >= {"availability", "run_rate", "mtta", "completeness"}
    assert {r["line"] for r in rows} == {"", "kiln-1"}


def test_text_sheet_marks_low_confidence(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kpi", "--plant", KILN, *DAY]) == 0
    out = capsys.readouterr().out
    assert "Produced quantity" in out
    assert "[low confidence]" in out


def test_unknown_plant_and_bad_period_exit_2(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kpi", "--plant", "nowhere", *DAY]) == 2
    assert "no plant 'nowhere'" in capsys.readouterr().err
    assert main(["kpi", "--plant", KILN, "--start", "2026-11-27", "--end", "2026-11-26"]) == 2
    assert "empty" in capsys.readouterr().err
