"""Authentication, role and plant-scope rules of the /api/v1 routes."""

from __future__ import annotations

import httpx
import pytest

from api.app import create_app
from api.deps import get_store
from api.permissions import PUBLIC_ROUTES, ROUTE_PERMISSIONS
from ganlink.embedded_store import EmbeddedStore
from ganlink.errors import StoreUnavailable
from ganlink.registry import Registry, Role
from ganlink.settings import Settings

SMELTER_LINE = "/api/v1/plants/test-smelter/areas/smelting/lines/furnace-1"
AUTO_SENSOR = "/api/v1/sensors/test-auto.stamping.press-line-1.press-1.force"
PROTECTED = [
    "/api/v1/me",
    "/api/v1/plants",
    "/api/v1/plants/test-smelter",
    "/api/v1/plants/test-smelter/latest",
    SMELTER_LINE,
    f"{SMELTER_LINE}/latest",
    f"{SMELTER_LINE}/anomalies",
    "/api/v1/sensors/test-smelter.smelting.furnace-1.burner-1.gas-temp",
    "/api/v1/sensors/test-smelter.smelting.furnace-1.burner-1.gas-temp/range",
]


async def test_health_needs_no_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize("path", PROTECTED)
async def test_missing_token_gives_401_with_bearer_challenge(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize("path", PROTECTED)
async def test_every_role_with_full_scope_can_read(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], path: str
) -> None:
    for role in Role:
        response = await client.get(path, headers=auth[role.value])
        assert response.status_code == 200, (role, response.text)


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer glk_not-a-real-token", "glk_token-without-scheme"]
)
async def test_malformed_or_unknown_token_gives_401(client: httpx.AsyncClient, header: str) -> None:
    response = await client.get("/api/v1/plants", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_revoked_token_gives_401(client: httpx.AsyncClient, registry: Registry) -> None:
    key, token = registry.create_api_key(Role.ADMIN, name="leaving")
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/plants", headers=headers)).status_code == 200
    assert registry.revoke_api_key(key.id)
    assert (await client.get("/api/v1/plants", headers=headers)).status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/plants/test-auto",
        "/api/v1/plants/test-auto/latest",
        "/api/v1/plants/test-auto/areas/stamping/lines/press-line-1/latest",
        AUTO_SENSOR,
        f"{AUTO_SENSOR}/range",
    ],
)
async def test_key_scoped_to_one_plant_gets_403_on_another(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], path: str
) -> None:
    response = await client.get(path, headers=auth["viewer-smelter"])
    assert response.status_code == 403
    assert "test-auto" in response.json()["detail"]


async def test_scope_is_checked_before_existence(client: httpx.AsyncClient, auth: dict[str, dict[str, str]]) -> None:
    # A key must not learn which plants exist outside its scope.
    response = await client.get("/api/v1/plants/no-such-plant", headers=auth["viewer-smelter"])
    assert response.status_code == 403
    response = await client.get("/api/v1/plants/no-such-plant", headers=auth["admin"])
    assert response.status_code == 404


async def test_plant_list_shows_only_plants_in_scope(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]]
) -> None:
    scoped = await client.get("/api/v1/plants", headers=auth["viewer-smelter"])
    everything = await client.get("/api/v1/plants", headers=auth["viewer"])
    assert [p["id"] for p in scoped.json()] == ["test-smelter"]
    assert [p["id"] for p in everything.json()] == ["test-auto", "test-smelter"]


async def test_me_reports_role_and_scope(client: httpx.AsyncClient, auth: dict[str, dict[str, str]]) -> None:
    body = (await client.get("/api/v1/me", headers=auth["viewer-smelter"])).json()
    assert body == {"name": "smelter viewer", "role": "viewer", "plants": ["test-smelter"]}


def test_every_api_route_is_in_the_permission_table(settings: Settings, registry: Registry) -> None:
    app = create_app(settings, store=object(), registry=registry)  # type: ignore[arg-type]
    routes = {(method.upper(), path) for path, operations in app.openapi()["paths"].items() for method in operations}
    assert routes == set(ROUTE_PERMISSIONS) | PUBLIC_ROUTES


class _BrokenStore:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def latest(self, *_: object, **__: object) -> list[object]:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status", "detail"),
    [
        (
            StoreUnavailable("connection refused", url="http://influx:8086"),
            503,
            "time-series store unavailable, retry later",
        ),
        (RuntimeError("secret internals /etc/passwd"), 500, "internal error"),
    ],
)
async def test_failures_answer_json_without_internals(
    settings: Settings,
    registry: Registry,
    store: EmbeddedStore,
    tokens: dict[str, str],
    error: Exception,
    status: int,
    detail: str,
) -> None:
    app = create_app(settings, store=store, registry=registry)
    app.dependency_overrides[get_store] = lambda: _BrokenStore(error)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get(f"{SMELTER_LINE}/latest", headers={"Authorization": f"Bearer {tokens['viewer']}"})
    assert response.status_code == status
    assert response.json() == {"detail": detail}
    assert "passwd" not in response.text
    assert "Traceback" not in response.text
