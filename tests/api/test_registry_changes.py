"""Integrators change the asset tree: CRUD, bulk CSV/YAML import with dry run, export, onboarding."""

from __future__ import annotations

import httpx
import pytest

from ganlink.embedded_store import EmbeddedStore
from ganlink.registry import Registry
from ganlink.schema import Reading
from ganlink.timestamps import now_ns
from ganlink.topics import DevicePath

SPEC = {"unit": "bar", "kind": "pressure", "range_min": 0, "range_max": 16, "sample_period_s": 2, "key": True}
NEW = "test-smelter.smelting.furnace-1.burner-1.air-pressure"
PROBE = DevicePath("test-smelter", "smelting", "furnace-1", "burner-1")
CSV_HEADER = "area,line,device,sensor,name,unit,kind,range_min,range_max,sample_period_s,data_class,key,description\n"


async def test_integrator_creates_changes_and_deletes_a_sensor(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], registry: Registry
) -> None:
    h = auth["integrator"]
    created = await client.put(f"/api/v1/sensors/{NEW}", json=SPEC, headers=h)
    assert created.status_code == 201
    assert created.json()["unit"] == "bar"
    changed = await client.put(f"/api/v1/sensors/{NEW}", json=SPEC | {"range_max": 25}, headers=h)
    assert changed.status_code == 200
    assert changed.json()["range_max"] == 25.0
    assert (await client.delete(f"/api/v1/sensors/{NEW}", headers=h)).status_code == 204
    assert registry.sensor(NEW) is None
    assert (await client.delete(f"/api/v1/sensors/{NEW}", headers=h)).status_code == 404
    actions = [r["action"] for r in registry.audit_records() if r["target"] == f"sensor/{NEW}"]
    assert actions == ["sensor-delete", "sensor-update", "sensor-create"]


async def test_sensor_under_a_missing_device_conflicts_and_bad_specs_are_422(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]]
) -> None:
    h = auth["integrator"]
    orphan = await client.put("/api/v1/sensors/test-smelter.smelting.furnace-1.no-device.x", json=SPEC, headers=h)
    assert orphan.status_code == 409
    assert "create it first" in orphan.json()["detail"]
    for bad in (SPEC | {"range_min": 20}, SPEC | {"data_class": 4}, SPEC | {"sample_period_s": 0}, {"unit": "V"}):
        assert (await client.put(f"/api/v1/sensors/{NEW}", json=bad, headers=h)).status_code == 422, bad


async def test_building_a_new_plant_level_by_level(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], registry: Registry
) -> None:
    h = auth["admin"]
    plant = {"name": "Float glass", "industry": "building-materials", "timezone": "Asia/Shanghai",
             "nameplate_value": 600, "nameplate_unit": "t/d", "gateway": "glass-gw"}  # fmt: skip
    assert (await client.put("/api/v1/plants/glass", json=plant, headers=h)).status_code == 200
    area = await client.put("/api/v1/plants/glass/areas/hot-end", json={"name": "Hot end"}, headers=h)
    assert area.status_code == 204
    line = "/api/v1/plants/glass/areas/hot-end/lines/float-1"
    assert (await client.put(line, json={"name": "Float 1", "kind": "continuous"}, headers=h)).status_code == 204
    assert (await client.put(f"{line}/devices/tin-bath", json={}, headers=h)).status_code == 204
    sensor = await client.put("/api/v1/sensors/glass.hot-end.float-1.tin-bath.temp", json=SPEC, headers=h)
    assert sensor.status_code == 201
    tree = registry.asset_tree("glass")
    assert tree is not None
    assert tree.areas[0].lines[0].devices[0].sensors[0].id == "temp"
    assert (await client.delete("/api/v1/plants/glass/areas/hot-end", headers=h)).status_code == 204
    assert registry.sensors_of("glass") == []


async def test_scoped_integrator_cannot_touch_another_plant(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    from ganlink.registry import Role  # noqa: PLC0415

    _, token = registry.create_api_key(Role.INTEGRATOR, ["test-smelter"])
    response = await client.delete("/api/v1/plants/test-auto", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert registry.plant("test-auto") is not None


async def test_csv_dry_run_reports_every_bad_row_and_changes_nothing(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], registry: Registry
) -> None:
    body = CSV_HEADER + (
        "smelting,furnace-1,burner-1,gas-temp,Gas,Cel,temperature,0,1700,1,2,true,\n"
        "smelting,furnace-1,burner-1,Bad_Id,x,V,voltage,0,1,1,2,false,\n"
        "smelting,furnace-1,burner-1,flow,x,m3/h,flow,10,5,1,2,false,\n"
        "smelting,furnace-1,burner-1,amps,x,A,current,0,100,abc,2,maybe,\n"
    )
    response = await client.post("/api/v1/plants/test-smelter/import", params={"format": "csv", "dry_run": "false"},
                                  content=body, headers=auth["integrator"])  # fmt: skip
    assert response.status_code == 422
    errors = response.json()["detail"]["errors"]
    assert sorted({(e["row"], e["field"]) for e in errors}) == [
        (3, "sensor"), (4, "range"), (5, "key"), (5, "sample_period_s"),
    ]
    gas = registry.sensor("test-smelter.smelting.furnace-1.burner-1.gas-temp")
    assert gas is not None
    assert gas.range_max == 1600.0  # nothing applied


async def test_csv_import_creates_parents_and_sensors_after_a_clean_dry_run(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], registry: Registry
) -> None:
    body = CSV_HEADER + (
        "smelting,furnace-1,burner-1,gas-temp,Gas,Cel,temperature,0,1700,1,2,true,\n"
        "converting,converter-2,tuyere-1,air-flow,Air,Nm3/h,flow,0,50000,1,3,true,blast air\n"
    )
    url = "/api/v1/plants/test-smelter/import"
    dry = await client.post(url, params={"format": "csv"}, content=body, headers=auth["integrator"])
    assert dry.json() == {"dry_run": True, "created": 1, "updated": 1, "errors": []}
    assert registry.sensor("test-smelter.converting.converter-2.tuyere-1.air-flow") is None
    params = {"format": "csv", "dry_run": "false"}
    real = await client.post(url, params=params, content=body, headers=auth["integrator"])
    assert real.json()["dry_run"] is False
    flow = registry.sensor("test-smelter.converting.converter-2.tuyere-1.air-flow")
    assert flow is not None
    assert (flow.data_class, flow.key, flow.description) == (3, True, "blast air")


@pytest.mark.parametrize("fmt", ["csv", "yaml"])
async def test_export_then_import_round_trips_with_no_creations(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], registry: Registry, fmt: str
) -> None:
    before = registry.asset_tree("test-smelter")
    exported = await client.get("/api/v1/plants/test-smelter/export", params={"format": fmt}, headers=auth["viewer"])
    assert exported.status_code == 200
    report = await client.post("/api/v1/plants/test-smelter/import", params={"format": fmt, "dry_run": "false"},
                               content=exported.content, headers=auth["integrator"])  # fmt: skip
    assert report.json() == {"dry_run": False, "created": 0, "updated": 4, "errors": []}
    assert registry.asset_tree("test-smelter") == before


async def test_yaml_for_another_plant_is_refused(client: httpx.AsyncClient, auth: dict[str, dict[str, str]]) -> None:
    exported = await client.get("/api/v1/plants/test-auto/export", params={"format": "yaml"}, headers=auth["admin"])
    response = await client.post("/api/v1/plants/test-smelter/import", params={"format": "yaml"},
                                 content=exported.content, headers=auth["admin"])  # fmt: skip
    assert response.status_code == 422
    assert response.json()["detail"]["errors"][0]["field"] == "plant.id"


async def test_unknown_sensor_waits_pending_then_approval_shows_its_stored_data(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], registry: Registry, store: EmbeddedStore
) -> None:
    t0 = now_ns() - 60 * 1_000_000_000
    readings = [Reading(PROBE, "new-probe", t0 + k * 1_000_000_000, 5.0 + k) for k in range(10)]
    await store.write_readings(readings)  # the collector stores them and reports them
    assert registry.report_unknown_readings(readings) == 1
    assert registry.report_unknown_readings(readings[:2]) == 0
    h = auth["integrator"]
    pending = (await client.get("/api/v1/plants/test-smelter/pending-sensors", headers=h)).json()
    assert [(p["sensor"], p["seen_count"], p["last_value"]) for p in pending] == [("new-probe", 12, 14.0)]
    sid = pending[0]["sensor_id"]
    approved = await client.post(f"/api/v1/pending-sensors/{sid}/approve", json=SPEC, headers=h)
    assert approved.status_code == 201
    assert (await client.get("/api/v1/plants/test-smelter/pending-sensors", headers=h)).json() == []
    series = (await client.get(f"/api/v1/sensors/{sid}/range", params={"start": "now-5m"}, headers=h)).json()
    assert [p[1] for p in series["points"]] == [5.0 + k for k in range(10)]
    again = await client.post(f"/api/v1/pending-sensors/{sid}/approve", json=SPEC, headers=h)
    assert again.status_code == 409
    assert "already accepted" in again.json()["detail"]


async def test_rejected_sensor_leaves_the_list_and_viewers_cannot_onboard(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], registry: Registry
) -> None:
    registry.report_unknown_readings([Reading(PROBE, "stray", now_ns(), 1.0)])
    sid = PROBE.sensor_id("stray")
    assert (await client.post(f"/api/v1/pending-sensors/{sid}/reject", headers=auth["viewer"])).status_code == 403
    assert (await client.post(f"/api/v1/pending-sensors/{sid}/reject", headers=auth["integrator"])).status_code == 204
    assert registry.pending_sensors("test-smelter") == []
    assert registry.report_unknown_readings([Reading(PROBE, "stray", now_ns(), 2.0)]) == 0
    rejected = await client.get("/api/v1/plants/test-smelter/pending-sensors", params={"status": "rejected"},
                                headers=auth["integrator"])  # fmt: skip
    assert [p["sensor"] for p in rejected.json()] == ["stray"]
