"""API test fixtures: a registry on tmp_path with two small plants, a store, the app and tokens per role."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from ganlink.assets import PlantFile
from ganlink.embedded_store import EmbeddedStore
from ganlink.registry import ALL_PLANTS, Registry, Role
from ganlink.settings import Settings

SMELTER = "test-smelter"
AUTO = "test-auto"


def _sensor(sid: str, unit: str, kind: str, lo: float, hi: float, *, key: bool, period: float = 1.0,
            data_class: int = 2) -> dict[str, Any]:
    return {"id": sid, "name": sid.replace("-", " "), "unit": unit, "kind": kind, "range": [lo, hi],
            "sample_period_s": period, "key": key, "data_class": data_class}


def _plant(pid: str, industry: str, area: str, line: str, device: str, sensors: list[dict[str, Any]]) -> PlantFile:
    return PlantFile.model_validate({
        "version": 1,
        "plant": {
            "id": pid, "name": pid.title(), "industry": industry, "timezone": "Asia/Shanghai",
            "nameplate": {"value": 100.0, "unit": "t/d"}, "gateway": f"{pid}-gw",
            "shifts": [{"name": "day", "start": "08:00", "hours": 12}],
            "areas": [{"id": area, "lines": [
                {"id": line, "devices": [{"id": device, "sensors": sensors}]},
                {"id": f"{line}-spare", "devices": [{"id": "spare", "sensors": [
                    _sensor("temp", "Cel", "temperature", 0, 100, key=False)]}]},
            ]}],
        },
    })


SMELTER_FILE = _plant(SMELTER, "nonferrous", "smelting", "furnace-1", "burner-1", [
    _sensor("gas-temp", "Cel", "temperature", 0, 1600, key=True),
    _sensor("o2", "%", "concentration", 0, 25, key=True),
    _sensor("recipe-ratio", "1", "ratio", 0, 1, key=False, data_class=3),
])
AUTO_FILE = _plant(AUTO, "automotive", "stamping", "press-line-1", "press-1", [
    _sensor("force", "kN", "force", 0, 8000, key=True, period=0.5),
])


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    reg = Registry(f"sqlite:///{tmp_path / 'registry.sqlite'}")
    reg.create_schema()
    reg.load_plant_file(SMELTER_FILE)
    reg.load_plant_file(AUTO_FILE)
    yield reg
    reg.close()


@pytest.fixture
def plant_files() -> dict[str, PlantFile]:
    return {SMELTER: SMELTER_FILE, AUTO: AUTO_FILE}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[EmbeddedStore]:
    async with await EmbeddedStore.open(tmp_path / "timeseries.sqlite") as embedded:
        yield embedded


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


@pytest.fixture
def tokens(registry: Registry) -> dict[str, str]:
    """A token per role over all plants, plus ``viewer-smelter`` scoped to the smelter only."""
    out = {role.value: registry.create_api_key(role, [ALL_PLANTS], name=role.value)[1] for role in Role}
    out["viewer-smelter"] = registry.create_api_key(Role.VIEWER, [SMELTER], name="smelter viewer")[1]
    return out


@pytest.fixture
async def client(settings: Settings, store: EmbeddedStore, registry: Registry) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, store=store, registry=registry)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
def auth(tokens: dict[str, str]) -> dict[str, dict[str, str]]:
    """Authorization headers by token name (role names and ``viewer-smelter``)."""
    return {name: {"Authorization": f"Bearer {token}"} for name, token in tokens.items()}
