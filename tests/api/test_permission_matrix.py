"""The permission matrix, generated: every operation in the OpenAPI x {no token, bad token, each role,
a key of another plant}, with the expected outcome computed from api/permissions.py alone."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from api.app import create_app
from api.permissions import CROSS_PLANT_READERS, PUBLIC_ROUTES, ROLE_PERMISSIONS, ROUTE_PERMISSIONS, Permission
from ganlink.alarms import alarm_from_event
from ganlink.assets import PlantFile
from ganlink.embedded_store import EmbeddedStore
from ganlink.registry import Registry, Role, alarm_comments, alarms, pending_sensors
from ganlink.schema import AnomalyEvent, Reading
from ganlink.settings import Settings
from ganlink.timestamps import now_ns
from ganlink.topics import DevicePath

# Path values inside the smelter; every key in this test is scoped to the smelter only.
IN_SCOPE = {
    "plant": "test-smelter",
    "area": "smelting",
    "line": "furnace-1",
    "sensor_id": "test-smelter.smelting.furnace-1.burner-1.gas-temp",
    "alarm_id": "matrix-smelter",
    "device": "burner-1",
    "pending": "test-smelter.smelting.furnace-1.burner-1.new-probe",
}
OTHER_PLANT = {
    "plant": "test-auto",
    "area": "stamping",
    "line": "press-line-1",
    "sensor_id": "test-auto.stamping.press-line-1.press-1.force",
    "alarm_id": "matrix-auto",
    "device": "press-1",
    "pending": "test-auto.stamping.press-line-1.press-1.new-probe",
}
SENSOR_SPEC = {"unit": "Cel", "kind": "temperature", "range_min": 0, "range_max": 1600, "sample_period_s": 1}
PLANT_SPEC = {"name": "P", "industry": "nonferrous", "timezone": "UTC", "nameplate_value": 1, "nameplate_unit": "t/d",
              "gateway": "gw"}  # fmt: skip
CSV = (
    "area,line,device,sensor,unit,kind,range_min,range_max,sample_period_s\n"
    "smelting,furnace-1,burner-1,x,V,voltage,0,1,1\n"
)


def _request(method: str, template: str, values: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """A well-formed request for one operation (so only the permission decides the answer)."""
    if "pending-sensors/{sensor_id}" in template:
        values = values | {"sensor_id": values["pending"]}
    path = _fill(template, values)
    last = template.rsplit("/", 1)[-1]
    if method == "PUT" and last == "{plant}":
        return path, {"json": PLANT_SPEC}
    if method == "PUT" and (last == "{sensor_id}" or last == "approve"):
        return path, {"json": SENSOR_SPEC}
    if method == "POST" and last == "approve":
        return path, {"json": SENSOR_SPEC}
    if method == "PUT" and last in ("{area}", "{line}", "{device}"):
        return path, {"json": {"name": "renamed"}}
    if last == "series":
        return path, {"params": {"sensor": values["sensor_id"]}}
    if last == "stream":
        return path, {"params": {"duration_s": "0"}}
    if last == "import":
        return path, {"content": CSV.replace("smelting,furnace-1,burner-1", _fill("{area},{line},{device}", values)),
                      "params": {"dry_run": "false"}}  # fmt: skip
    bodies: dict[str, dict[str, Any]] = {
        "shelve": {"minutes": 5},
        "comments": {"text": "checked"},
        "label": {"label": "real"},
    }
    return path, {"json": bodies[last]} if last in bodies else {}


ALLOWED = "allowed"


def _operations(settings: Settings, registry: Registry) -> list[tuple[str, str]]:
    app = create_app(settings, store=object(), registry=registry)  # type: ignore[arg-type]
    return sorted((m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops)


def _fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


def _expected(method: str, template: str, who: str) -> str | int:
    """What the permission table says ``who`` gets; ``ALLOWED`` means a 2xx (state is reset after each change)."""
    if (method, template) in PUBLIC_ROUTES:
        return ALLOWED
    if who in ("no-token", "bad-token"):
        return 401
    role = Role(who.removeprefix("other-plant-"))
    if ROUTE_PERMISSIONS[(method, template)] not in ROLE_PERMISSIONS[role]:
        return 403
    if who.startswith("other-plant-"):
        if role in CROSS_PLANT_READERS and method == "GET" and ROUTE_PERMISSIONS[(method, template)] is Permission.READ:
            return ALLOWED
        if "{alarm_id}" in template:
            return 404  # objects of another plant are not revealed
        if "{plant}" in template or "{sensor_id}" in template:
            return 403
    return ALLOWED


def _reset(registry: Registry, plant_files: dict[str, PlantFile]) -> None:
    """Undo what allowed requests changed: the plants' trees, the pending probes, the alarms."""
    for plant_file in plant_files.values():
        registry.load_plant_file(plant_file)
    with registry.engine.begin() as conn:
        for table in (pending_sensors, alarms, alarm_comments):
            conn.execute(table.delete())
    for values in (IN_SCOPE, OTHER_PLANT):
        registry.delete_sensor(values["pending"])
        path = DevicePath(*values["pending"].split(".")[:4])
        registry.report_unknown_readings([Reading(path, "new-probe", now_ns(), 1.0)])
        sensor = values["sensor_id"].split(".")[-1]
        raised = now_ns() - 10_000_000_000
        alarm = alarm_from_event(AnomalyEvent(path, sensor, "range", raised, 0.9, 1.0, values["alarm_id"]))
        registry.open_alarm(alarm.shelve("setup", raised, raised + 3600 * 1_000_000_000))  # so unshelve applies


async def test_every_operation_answers_as_the_permission_table_says(
    settings: Settings, registry: Registry, plant_files: dict[str, PlantFile], tmp_path: Path
) -> None:
    tokens = {role.value: registry.create_api_key(role, ["test-smelter"], name=role.value)[1] for role in Role}
    headers: dict[str, dict[str, str]] = {"no-token": {}, "bad-token": {"Authorization": "Bearer glk_wrong"}}
    headers |= {role: {"Authorization": f"Bearer {token}"} for role, token in tokens.items()}
    headers |= {f"other-plant-{role}": h for role, h in list(headers.items()) if role in tokens}
    operations = _operations(settings, registry)
    assert len(operations) == len(ROUTE_PERMISSIONS) + len(PUBLIC_ROUTES)
    _reset(registry, plant_files)
    unexpected = []
    checked = 0
    async with await EmbeddedStore.open(tmp_path / "matrix.sqlite") as store:
        app = create_app(settings, store=store, registry=registry)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            for method, template in operations:
                for who, header in headers.items():
                    values = OTHER_PLANT if who.startswith("other-plant-") else IN_SCOPE
                    path, extra = _request(method, template, values)
                    response = await client.request(method, path, headers=header, **extra)
                    if method != "GET":
                        _reset(registry, plant_files)
                    expected = _expected(method, template, who)
                    code = response.status_code
                    ok = 200 <= code < 300 if expected == ALLOWED else code == expected
                    checked += 1
                    if not ok:
                        unexpected.append((method, template, who, expected, code, response.text[:160]))
    assert unexpected == []
    assert checked == len(operations) * len(headers)
