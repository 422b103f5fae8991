"""The permission matrix, generated: every operation in the OpenAPI x {no token, bad token, each role,
a key of another plant}, with the expected outcome computed from api/permissions.py alone."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from api.alarm_sync import apply_events
from api.app import create_app
from api.permissions import PUBLIC_ROUTES, ROLE_PERMISSIONS, ROUTE_PERMISSIONS
from ganlink.embedded_store import EmbeddedStore
from ganlink.registry import Registry, Role
from ganlink.schema import AnomalyEvent
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
}
OTHER_PLANT = {
    "plant": "test-auto",
    "area": "stamping",
    "line": "press-line-1",
    "sensor_id": "test-auto.stamping.press-line-1.press-1.force",
    "alarm_id": "matrix-auto",
}
BODIES: dict[str, dict[str, Any]] = {
    "shelve": {"minutes": 5},
    "comments": {"text": "checked on site"},
    "label": {"label": "real"},
}
ALLOWED = "allowed"


def _operations(settings: Settings, registry: Registry) -> list[tuple[str, str]]:
    app = create_app(settings, store=object(), registry=registry)  # type: ignore[arg-type]
    return sorted((m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops)


def _fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


def _expected(method: str, template: str, who: str) -> str | int:
    """What the permission table says ``who`` gets; ``ALLOWED`` means a 2xx (or 409 for a repeated action)."""
    if (method, template) in PUBLIC_ROUTES:
        return ALLOWED
    if who in ("no-token", "bad-token"):
        return 401
    role = Role(who.removeprefix("other-plant-"))
    if ROUTE_PERMISSIONS[(method, template)] not in ROLE_PERMISSIONS[role]:
        return 403
    if who.startswith("other-plant-"):
        if "{alarm_id}" in template:
            return 404  # objects of another plant are not revealed
        if "{plant}" in template or "{sensor_id}" in template:
            return 403
    return ALLOWED


@pytest.fixture
async def matrix_client(settings: Settings, registry: Registry, tmp_path: Any) -> Any:
    at = now_ns() - 10_000_000_000
    apply_events(registry, [
        AnomalyEvent(DevicePath(*IN_SCOPE["sensor_id"].split(".")[:4]), "gas-temp", "range", at, 0.9, 1.0,
                     "matrix-smelter", {"state": "raised"}),
        AnomalyEvent(DevicePath(*OTHER_PLANT["sensor_id"].split(".")[:4]), "force", "range", at, 0.9, 1.0,
                     "matrix-auto", {"state": "raised"}),
    ])
    async with await EmbeddedStore.open(tmp_path / "matrix.sqlite") as store:
        app = create_app(settings, store=store, registry=registry)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            yield http


async def test_every_operation_answers_as_the_permission_table_says(
    matrix_client: httpx.AsyncClient, settings: Settings, registry: Registry
) -> None:
    tokens = {role.value: registry.create_api_key(role, ["test-smelter"], name=role.value)[1] for role in Role}
    headers: dict[str, dict[str, str]] = {"no-token": {}, "bad-token": {"Authorization": "Bearer glk_wrong"}}
    headers |= {role: {"Authorization": f"Bearer {token}"} for role, token in tokens.items()}
    headers |= {f"other-plant-{role}": h for role, h in list(headers.items()) if role in tokens}
    operations = _operations(settings, registry)
    assert len(operations) == len(ROUTE_PERMISSIONS) + len(PUBLIC_ROUTES)
    unexpected = []
    checked = 0
    for method, template in operations:
        for who, header in headers.items():
            values = OTHER_PLANT if who.startswith("other-plant-") else IN_SCOPE
            path = _fill(template, values)
            body = BODIES.get(template.rsplit("/", 1)[-1])
            response = await matrix_client.request(method, path, headers=header, json=body)
            expected = _expected(method, template, who)
            ok = (200 <= response.status_code < 300 or response.status_code == 409) if expected == ALLOWED else (
                response.status_code == expected
            )
            checked += 1
            if not ok:
                unexpected.append((method, template, who, expected, response.status_code, response.text[:120]))
    assert unexpected == []
    assert checked == len(operations) * len(headers)
