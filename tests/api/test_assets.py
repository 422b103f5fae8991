"""The registry's asset tree through the API, and the registry's own upsert rules."""

from __future__ import annotations

import httpx

from ganlink.assets import PlantFile
from ganlink.registry import Registry

SENSOR = "test-smelter.smelting.furnace-1.burner-1.gas-temp"


async def test_plant_tree_has_areas_lines_devices_and_sensor_metadata(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]]
) -> None:
    tree = (await client.get("/api/v1/plants/test-smelter", headers=auth["viewer"])).json()
    assert tree["industry"] == "nonferrous"
    assert tree["timezone"] == "Asia/Shanghai"
    assert [a["id"] for a in tree["areas"]] == ["smelting"]
    assert [ln["id"] for ln in tree["areas"][0]["lines"]] == ["furnace-1", "furnace-1-spare"]
    burner = tree["areas"][0]["lines"][0]["devices"][0]
    assert burner["id"] == "burner-1"
    gas = next(s for s in burner["sensors"] if s["id"] == "gas-temp")
    assert gas | {"sensor_id": SENSOR, "unit": "Cel", "range_min": 0.0, "range_max": 1600.0, "key": True} == gas


async def test_sensor_metadata_by_full_id(client: httpx.AsyncClient, auth: dict[str, dict[str, str]]) -> None:
    body = (await client.get(f"/api/v1/sensors/{SENSOR}", headers=auth["viewer"])).json()
    assert (body["plant"], body["area"], body["line"], body["device"], body["id"]) == (
        "test-smelter", "smelting", "furnace-1", "burner-1", "gas-temp"
    )
    assert body["kind"] == "temperature"
    assert body["sample_period_s"] == 1.0
    assert body["data_class"] == 2


async def test_line_lists_its_devices_and_sensors(client: httpx.AsyncClient, auth: dict[str, dict[str, str]]) -> None:
    path = "/api/v1/plants/test-smelter/areas/smelting/lines/furnace-1"
    line = (await client.get(path, headers=auth["viewer"])).json()
    assert line["id"] == "furnace-1"
    assert [s["id"] for s in line["devices"][0]["sensors"]] == ["gas-temp", "o2", "recipe-ratio"]


async def test_unknown_assets_give_404_with_a_message(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]]
) -> None:
    for path in (
        "/api/v1/plants/nowhere",
        "/api/v1/plants/test-smelter/areas/smelting/lines/no-line/latest",
        "/api/v1/sensors/test-smelter.smelting.furnace-1.burner-1.nothing",
        "/api/v1/sensors/test-smelter.smelting.furnace-1.burner-1.nothing/range",
    ):
        response = await client.get(path, headers=auth["admin"])
        assert response.status_code == 404, path
        assert "no " in response.json()["detail"]


def test_loading_a_plant_file_twice_changes_nothing(registry: Registry, plant_files: dict[str, PlantFile]) -> None:
    before = registry.asset_tree("test-smelter")
    assert registry.load_plant_file(plant_files["test-smelter"]) == 4
    assert registry.asset_tree("test-smelter") == before
    assert len(registry.sensors_of("test-smelter")) == 4


def test_reloading_a_changed_plant_file_updates_metadata(
    registry: Registry, plant_files: dict[str, PlantFile]
) -> None:
    raw = plant_files["test-smelter"].model_dump(mode="json")
    raw["plant"]["areas"][0]["lines"][0]["devices"][0]["sensors"][0]["range"] = [100, 1500]
    registry.load_plant_file(PlantFile.model_validate(raw))
    sensor = registry.sensor(SENSOR)
    assert sensor is not None
    assert (sensor.range_min, sensor.range_max) == (100.0, 1500.0)


def test_key_sensors_of_a_line_and_a_plant(registry: Registry) -> None:
    assert [s.id for s in registry.key_sensors("test-smelter", "smelting", "furnace-1")] == ["gas-temp", "o2"]
    assert [s.id for s in registry.key_sensors("test-auto")] == ["force"]
    assert registry.key_sensors("test-smelter", "smelting", "furnace-1-spare") == []
