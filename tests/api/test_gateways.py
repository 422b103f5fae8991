"""GET /plants/{plant}/gateways: the latest recorded status of each gateway of the plant."""

from __future__ import annotations

import httpx

from ganlink.registry import GatewayStatusRecord, Registry

S = 1_000_000_000


async def test_gateways_lists_recorded_status_with_outbox_fields_and_the_declared_gateway_as_unknown(
    client: httpx.AsyncClient, registry: Registry, auth: dict[str, dict[str, str]]
) -> None:
    empty = (await client.get("/api/v1/plants/test-smelter/gateways", headers=auth["viewer"])).json()
    assert [(g["gateway"], g["status"]) for g in empty] == [("test-smelter-gw", "unknown")]

    registry.record_gateway_status(GatewayStatusRecord(
        plant="test-smelter", gateway="test-smelter-gw", status="online", since_ns=100 * S, reported_ns=200 * S,
        updated_ns=201 * S, outbox_depth=42, oldest_age_s=3.5, hours_left=71.0, backfilling=True, drops=0,
    ))  # fmt: skip
    registry.record_gateway_status(GatewayStatusRecord(
        plant="test-smelter", gateway="test-smelter-gw", status="offline", since_ns=300 * S, updated_ns=301 * S,
    ))  # fmt: skip
    registry.record_gateway_status(GatewayStatusRecord(plant="test-auto", gateway="other", status="online",
                                                       updated_ns=5 * S))  # fmt: skip
    body = (await client.get("/api/v1/plants/test-smelter/gateways", headers=auth["viewer"])).json()
    assert len(body) == 1
    latest = body[0]
    assert latest["status"] == "offline"  # the later record replaced the earlier one
    assert latest["since_ms"] == 300_000
    assert latest["outbox_depth"] is None  # an offline Will carries no outbox fields

    registry.record_gateway_status(GatewayStatusRecord(
        plant="test-smelter", gateway="test-smelter-gw", status="online", updated_ns=400 * S,
        outbox_depth=42, oldest_age_s=3.5, hours_left=71.0, backfilling=True, drops=2,
    ))  # fmt: skip
    back = (await client.get("/api/v1/plants/test-smelter/gateways", headers=auth["viewer"])).json()[0]
    assert (back["outbox_depth"], back["oldest_age_s"], back["hours_left"], back["backfilling"], back["drops"]) == (
        42, 3.5, 71.0, True, 2
    )
    assert (await client.get("/api/v1/plants/nowhere/gateways", headers=auth["admin"])).status_code == 404
