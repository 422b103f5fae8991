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


@pytest.fixture
async def client(tmp_path: Path, store: EmbeddedStore, registry: Registry) -> AsyncIterator[Any]:
    import httpx  # noqa: PLC0415 - only the route tests need the app

    from api.app import create_app  # noqa: PLC0415
    from ganlink.settings import Settings  # noqa: PLC0415

    app = create_app(Settings(data_dir=tmp_path), store=store, registry=registry, sync_alarms=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http


@pytest.fixture
def auth(registry: Registry) -> dict[str, dict[str, str]]:
    """Headers per key: a manager, an admin, and a viewer scoped to the kiln plant only."""
    from ganlink.registry import ALL_PLANTS, Role  # noqa: PLC0415

    keys = {
        "manager": registry.create_api_key(Role.MANAGER, [KILN], name="manager")[1],
        "admin": registry.create_api_key(Role.ADMIN, [ALL_PLANTS], name="admin")[1],
        "viewer-kiln": registry.create_api_key(Role.VIEWER, [KILN], name="kiln viewer")[1],
    }
    return {name: {"Authorization": f"Bearer {token}"} for name, token in keys.items()}
