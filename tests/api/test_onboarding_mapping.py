"""Approving a pending sensor onto another path of its plant: the body's target is validated, the mapping
is kept as an alias with a queued backfill that the pending sensor shows, and the approval is audited."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ganlink.registry import Registry, SensorSpec, SensorTarget, TargetRegistered
from ganlink.schema import Reading
from ganlink.timestamps import now_ns
from ganlink.topics import DevicePath

SPEC = {"unit": "Cel", "kind": "temperature", "range_min": 0, "range_max": 1600, "sample_period_s": 1}
WIRE_DEVICE = DevicePath("test-smelter", "area-x", "line-y", "dev-unknown")
WIRE_ID = WIRE_DEVICE.sensor_id("t7")
TARGET = {"area": "kiln", "line": "line-1", "device": "burner", "sensor": "temp-inlet"}
TARGET_ID = "test-smelter.kiln.line-1.burner.temp-inlet"


@pytest.fixture
def wire_sensor(registry: Registry) -> str:
    registry.report_unknown_readings([Reading(WIRE_DEVICE, "t7", now_ns() - k * 1_000_000_000, 20.0) for k in range(3)])
    return WIRE_ID


async def _approve(client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]) -> httpx.Response:
    return await client.post(f"/api/v1/pending-sensors/{WIRE_ID}/approve", json=body, headers=headers)


async def test_approval_with_a_target_registers_there_and_queues_the_backfill(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], registry: Registry, wire_sensor: str
) -> None:
    h = auth["integrator"]
    response = await _approve(client, h, SPEC | {"target": TARGET | {"plant": "test-smelter"}})

    assert response.status_code == 201
    body = response.json()
    assert (body["sensor_id"], body["wire_sensor_id"], body["unit"]) == (TARGET_ID, WIRE_ID, "Cel")
    assert (body["backfill"]["status"], body["backfill"]["moved"]) == ("queued", 0)
    assert registry.sensor(TARGET_ID) is not None
    assert registry.sensor(WIRE_ID) is None  # the wire path is not registered
    [alias] = registry.sensor_aliases("test-smelter")
    assert (alias.wire_sensor_id, alias.sensor_id) == (WIRE_ID, TARGET_ID)
    one = (await client.get(f"/api/v1/pending-sensors/{WIRE_ID}", headers=h)).json()
    assert (one["status"], one["target_sensor_id"], one["backfill"]["status"]) == ("accepted", TARGET_ID, "queued")
    listed = (await client.get("/api/v1/plants/test-smelter/pending-sensors", params={"status": "all"}, headers=h))
    assert [p["backfill"]["status"] for p in listed.json() if p["sensor_id"] == WIRE_ID] == ["queued"]
    [audit] = [r for r in registry.audit_records() if r["action"] == "onboard-approve"]
    assert (audit["target"], audit["detail"]["sensor_id"], audit["detail"]["wire_sensor_id"]) == (
        f"sensor/{WIRE_ID}", TARGET_ID, WIRE_ID
    )


async def test_approval_without_a_target_registers_at_the_seen_path_with_no_backfill(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], registry: Registry, wire_sensor: str
) -> None:
    response = await _approve(client, auth["integrator"], SPEC)

    assert response.status_code == 201
    assert (response.json()["sensor_id"], response.json()["backfill"]) == (WIRE_ID, None)
    assert registry.sensor_aliases() == []


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (TARGET | {"plant": "test-auto"}, "mapped only within its own plant"),
        (TARGET | {"sensor": "temp_inlet"}, "should match pattern"),
        (TARGET | {"area": "Kiln"}, "should match pattern"),
        ({"area": "kiln", "line": "line-1", "sensor": "x"}, "Field required"),
    ],
)
async def test_a_target_in_another_plant_or_not_a_slug_is_422(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], registry: Registry, wire_sensor: str,
    target: dict[str, str], message: str,
) -> None:  # fmt: skip
    response = await _approve(client, auth["integrator"], SPEC | {"target": target})

    assert response.status_code == 422
    assert message in str(response.json()["detail"])
    pending = registry.pending_sensor(WIRE_ID)
    assert pending is not None
    assert pending.status == "pending"  # nothing changed


async def test_a_target_that_is_a_registered_sensor_is_409(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], registry: Registry, wire_sensor: str
) -> None:
    taken = {"area": "smelting", "line": "furnace-1", "device": "burner-1", "sensor": "gas-temp"}
    before = registry.sensor("test-smelter.smelting.furnace-1.burner-1.gas-temp")

    response = await _approve(client, auth["integrator"], SPEC | {"target": taken})

    assert response.status_code == 409
    assert "already a registered sensor" in response.json()["detail"]
    assert registry.sensor("test-smelter.smelting.furnace-1.burner-1.gas-temp") == before  # spec untouched
    assert registry.sensor_aliases() == []


async def test_another_plants_pending_sensor_is_not_approvable_nor_visible(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], registry: Registry, tokens: dict[str, str]
) -> None:
    device = DevicePath("test-auto", "stamping", "press-line-1", "press-1")
    registry.report_unknown_readings([Reading(device, "probe", now_ns(), 1.0)])
    smelter_integrator = {"Authorization": "Bearer " + registry.create_api_key("integrator", ["test-smelter"])[1]}
    sid = device.sensor_id("probe")
    assert (await client.get(f"/api/v1/pending-sensors/{sid}", headers=smelter_integrator)).status_code == 403
    response = await client.post(f"/api/v1/pending-sensors/{sid}/approve", json=SPEC | {"target": TARGET},
                                 headers=smelter_integrator)  # fmt: skip
    assert response.status_code == 403
    missing = await client.get("/api/v1/pending-sensors/test-auto.a.b.c.nothing", headers=auth["admin"])
    assert missing.status_code == 404


def test_registry_keeps_one_alias_per_wire_sensor_and_ignores_registered_wire_paths(
    registry: Registry, wire_sensor: str
) -> None:
    spec = SensorSpec.model_validate(SPEC)
    registry.approve_pending(WIRE_ID, spec, SensorTarget.model_validate(TARGET))
    with pytest.raises(LookupError):
        registry.approve_pending(WIRE_ID, spec, SensorTarget.model_validate(TARGET))
    registry.report_unknown_readings([Reading(WIRE_DEVICE, "t9", now_ns(), 1.0)])
    with pytest.raises(TargetRegistered):
        registry.approve_pending(WIRE_DEVICE.sensor_id("t9"), spec, SensorTarget.model_validate(TARGET))
    assert [a.wire_sensor_id for a in registry.sensor_aliases()] == [WIRE_ID]
    registry.apply_sensor_specs([(WIRE_DEVICE, "t7", spec)])  # someone registers the wire path itself
    assert registry.sensor_aliases() == []  # then its readings are its own again
