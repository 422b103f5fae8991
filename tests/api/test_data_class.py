"""Data class 3 (restricted): raw values only for keys scoped to the sensor's plant; managers looking
across plants get aggregates, never raw series of another plant."""

from __future__ import annotations

import httpx
import pytest

from ganlink.embedded_store import EmbeddedStore
from ganlink.registry import Registry, Role
from ganlink.schema import Reading
from ganlink.timestamps import now_ns
from ganlink.topics import DevicePath

FURNACE = DevicePath("test-smelter", "smelting", "furnace-1", "burner-1")
RECIPE = FURNACE.sensor_id("recipe-ratio")  # data class 3
GAS = FURNACE.sensor_id("gas-temp")  # data class 2
LINE = "/api/v1/plants/test-smelter/areas/smelting/lines/furnace-1"
S = 1_000_000_000


@pytest.fixture
async def data(store: EmbeddedStore) -> None:
    t0 = now_ns() - 600 * S
    await store.write_readings([Reading(FURNACE, s, t0 + k * S, 0.5 + k / 10_000) for k in range(600)
                                for s in ("recipe-ratio", "gas-temp")])  # fmt: skip


def _key(registry: Registry, role: Role, plant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {registry.create_api_key(role, [plant])[1]}"}


async def test_manager_of_another_plant_sees_class_3_only_as_aggregates(
    client: httpx.AsyncClient, registry: Registry, data: None
) -> None:
    manager = _key(registry, Role.MANAGER, "test-auto")
    raw = await client.get(f"/api/v1/sensors/{RECIPE}/range", params={"start": "now-5m", "bucket": "raw"},
                           headers=manager)  # fmt: skip
    assert raw.status_code == 403
    assert "data class 3" in raw.json()["detail"]
    auto = (await client.get(f"/api/v1/sensors/{RECIPE}/range", params={"start": "now-5m"}, headers=manager)).json()
    assert auto["bucket_s"] >= 60
    assert len(auto["points"]) <= 6
    fine = (await client.get(f"/api/v1/sensors/{RECIPE}/range", params={"start": "now-5m", "bucket": "1s"},
                             headers=manager)).json()  # fmt: skip
    assert fine["bucket_s"] == 60.0  # asked-for finer buckets are widened
    class_2 = (await client.get(f"/api/v1/sensors/{GAS}/range", params={"start": "now-5m"}, headers=manager)).json()
    assert class_2["bucket_s"] is None
    assert len(class_2["points"]) >= 290


async def test_manager_latest_withholds_class_3_values_of_other_plants(
    client: httpx.AsyncClient, registry: Registry, data: None
) -> None:
    latest = (await client.get(f"{LINE}/latest", headers=_key(registry, Role.MANAGER, "test-auto"))).json()
    by_sensor = {r["sensor"]: r for r in latest}
    assert by_sensor["recipe-ratio"]["restricted"] is True
    assert by_sensor["recipe-ratio"]["value"] is None
    assert by_sensor["gas-temp"]["value"] is not None
    own = (await client.get(f"{LINE}/latest", headers=_key(registry, Role.MANAGER, "test-smelter"))).json()
    assert {r["sensor"]: r["value"] is not None for r in own}["recipe-ratio"] is True


async def test_scoped_roles_get_class_3_raw_of_their_plant_and_nothing_of_others(
    client: httpx.AsyncClient, registry: Registry, data: None
) -> None:
    params = {"start": "now-5m", "bucket": "raw"}
    own = await client.get(f"/api/v1/sensors/{RECIPE}/range", params=params,
                           headers=_key(registry, Role.VIEWER, "test-smelter"))  # fmt: skip
    assert own.status_code == 200
    assert own.json()["bucket_s"] is None
    other = await client.get(f"/api/v1/sensors/{RECIPE}/range", params=params,
                             headers=_key(registry, Role.ENGINEER, "test-auto"))  # fmt: skip
    assert other.status_code == 403


async def test_manager_lists_every_plant(client: httpx.AsyncClient, registry: Registry) -> None:
    plants = (await client.get("/api/v1/plants", headers=_key(registry, Role.MANAGER, "test-auto"))).json()
    assert [p["id"] for p in plants] == ["test-auto", "test-smelter"]
