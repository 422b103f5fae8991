"""KPI fixtures: a discrete plant in Chicago and a continuous plant in Shanghai with hand-made data."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from ganlink.assets import PlantFile
from ganlink.embedded_store import EmbeddedStore
from ganlink.registry import Registry

AUTO = "kpi-auto"
KILN = "kpi-kiln"


def sensor(sid: str, unit: str, kind: str, hi: float, period: float) -> dict[str, Any]:
    return {"id": sid, "unit": unit, "kind": kind, "range": [0, hi], "sample_period_s": period}


AUTO_FILE = PlantFile.model_validate({"version": 1, "plant": {
    "id": AUTO, "name": "KPI auto", "industry": "automotive", "timezone": "America/Chicago",
    "shifts": [{"name": "day", "start": "06:00", "hours": 8}],
    "nameplate": {"value": 1000, "unit": "{unit}/d"}, "gateway": "gw-kpi-auto",
    "areas": [{"id": "assembly", "lines": [{"id": "line-1", "kind": "discrete", "devices": [{"id": "cell", "sensors": [
        sensor("machine-state", "1", "state", 3, 10),
        sensor("good-count", "{unit}", "count", 1e9, 10),
        sensor("reject-count", "{unit}", "count", 1e9, 10),
    ]}]}]}],
}})
KILN_FILE = PlantFile.model_validate({"version": 1, "plant": {
    "id": KILN, "name": "KPI kiln", "industry": "building-materials", "timezone": "Asia/Shanghai",
    "nameplate": {"value": 3000, "unit": "t/d"}, "gateway": "gw-kpi-kiln",
    "areas": [{"id": "clinker", "lines": [{"id": "kiln-1", "kind": "continuous", "devices": [{"id": "kiln", "sensors": [
        sensor("feed-rate", "t/h", "flow", 500, 60),
        sensor("main-power", "kW", "power", 5000, 60),
    ]}]}]}],
}})


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    reg = Registry(f"sqlite:///{tmp_path / 'registry.sqlite'}")
    reg.create_schema()
    reg.load_plant_file(AUTO_FILE)
    reg.load_plant_file(KILN_FILE)
    yield reg
    reg.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[EmbeddedStore]:
    async with await EmbeddedStore.open(tmp_path / "timeseries.sqlite") as embedded:
        yield embedded
