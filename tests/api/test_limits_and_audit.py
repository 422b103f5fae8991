"""Per-key rate limit, body size limit, the audit log and the Prometheus metrics."""

from __future__ import annotations

import httpx
import pytest

from api.app import create_app
from api.limits import RateLimiter
from ganlink.embedded_store import EmbeddedStore
from ganlink.registry import Registry, Role
from ganlink.settings import Settings


def test_rate_limiter_allows_a_burst_then_refills_at_the_rate() -> None:
    now = [100.0]
    limiter = RateLimiter(2.0, 3, clock=lambda: now[0])
    assert [limiter.take(1) for _ in range(3)] == [None, None, None]
    assert limiter.take(1) == 1
    assert limiter.take(2) is None  # buckets are per key
    now[0] += 0.5
    assert limiter.take(1) is None
    assert limiter.take(1) == 1


async def test_key_over_its_rate_gets_429_with_retry_after(
    tmp_path: object, registry: Registry, store: EmbeddedStore
) -> None:
    settings = Settings(data_dir=tmp_path, api_rate_limit_per_s=0.5, api_rate_limit_burst=3)
    app = create_app(settings, store=store, registry=registry)
    _, token = registry.create_api_key(Role.VIEWER)
    _, other = registry.create_api_key(Role.VIEWER)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        codes = [(await http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code
                 for _ in range(4)]
        limited = await http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        fresh = await http.get("/api/v1/me", headers={"Authorization": f"Bearer {other}"})
    assert codes == [200, 200, 200, 429]
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert "rate limit" in limited.json()["detail"]
    assert fresh.status_code == 200


async def test_oversized_body_is_refused_with_413(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], settings: Settings
) -> None:
    text = "x" * (settings.api_max_body_bytes + 10)
    response = await client.post(
        "/api/v1/alarms/any/comments", content=f'{{"text": "{text}"}}',
        headers=auth["engineer"] | {"Content-Type": "application/json"},
    )
    assert response.status_code == 413


async def test_denials_are_audited_and_only_admins_read_the_audit_log(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], registry: Registry
) -> None:
    await client.get("/api/v1/plants/test-auto", headers=auth["viewer-smelter"])
    await client.get("/api/v1/plants", headers={"Authorization": "Bearer glk_forged"})
    assert (await client.get("/api/v1/audit", headers=auth["manager"])).status_code == 403
    records = (await client.get("/api/v1/audit", headers=auth["admin"])).json()
    denials = [(r["actor"], r["action"], r["target"], r["result"]) for r in records if r["result"] == "denied"]
    assert ("anonymous", "authenticate", "GET /api/v1/plants", "denied") in denials
    assert any(a.endswith("smelter viewer") and t == "GET /api/v1/plants/{plant}" for a, _, t, _ in denials)
    assert any(a.endswith("manager") and t == "GET /api/v1/audit" for a, _, t, _ in denials)
    assert all(r["source"] for r in records)


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_audit_log_cannot_be_changed_through_the_api(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], method: str
) -> None:
    response = await client.request(method, "/api/v1/audit", headers=auth["admin"])
    assert response.status_code == 405


async def test_metrics_count_requests_by_route_template(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]]
) -> None:
    await client.get("/api/v1/plants/test-smelter", headers=auth["viewer"])
    await client.get("/api/v1/plants/test-auto", headers=auth["viewer-smelter"])
    text = (await client.get("/metrics")).text
    assert 'ganlink_api_requests_total{method="GET",route="/api/v1/plants/{plant}",status="200"} 1' in text
    assert 'ganlink_api_requests_total{method="GET",route="/api/v1/plants/{plant}",status="403"} 1' in text
    assert "test-smelter" not in text
    assert 'ganlink_api_request_seconds_count{route="/api/v1/plants/{plant}"} 2' in text


async def test_method_not_allowed_lists_every_method_of_the_path(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]]
) -> None:
    # GET and PUT/DELETE of a plant live in different routers; Allow must name all of them.
    response = await client.request("PATCH", "/api/v1/plants/test-smelter", headers=auth["admin"])
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PUT"
