"""GET /plants/{plant}/gateways: the latest recorded status of each gateway of the plant."""

from __future__ import annotations

import httpx

from ganlink.registry import GatewaySequenceRecord, GatewayStatusRecord, Registry

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
    assert latest["status"] == latest["state"] == "offline"  # the later record replaced the earlier one
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
    assert (back["status"], back["state"]) == ("online", "backfilling")
    assert (await client.get("/api/v1/plants/nowhere/gateways", headers=auth["admin"])).status_code == 404


def _sequence(gateway: str, collector: str, *, shared: bool, received: int, gaps: int, updated_s: int
              ) -> GatewaySequenceRecord:  # fmt: skip
    return GatewaySequenceRecord(gateway=gateway, collector=collector, shared=shared, received=received, gaps=gaps,
                                 duplicates=1, out_of_order=2, last_seq=received + gaps - 1,
                                 updated_ns=updated_s * S)  # fmt: skip


async def test_completeness_reports_gateway_sequences_whole_or_marked_partial_for_shared_collectors(
    client: httpx.AsyncClient, registry: Registry, auth: dict[str, dict[str, str]]
) -> None:
    url = "/api/v1/plants/test-smelter/completeness"
    assert (await client.get(url, headers=auth["viewer"])).json()["sequences"] == []
    registry.record_gateway_sequences([
        _sequence("test-smelter-gw", "collector-a", shared=True, received=600, gaps=400, updated_s=10),
        _sequence("test-smelter-gw", "collector-b", shared=True, received=400, gaps=600, updated_s=12),
        _sequence("test-auto-gw", "collector-c", shared=False, received=50, gaps=0, updated_s=10),
    ])  # fmt: skip
    [shared] = (await client.get(url, headers=auth["viewer"])).json()["sequences"]
    assert shared == {"gateway": "test-smelter-gw", "collectors": 2, "partial": True, "received": 1000, "gaps": None,
                      "duplicates": None, "out_of_order": None, "last_seq": 999,
                      "updated_ms": 12_000}  # fmt: skip

    registry.record_gateway_sequences([
        _sequence("test-smelter-gw", "collector-whole", shared=False, received=990, gaps=10, updated_s=20),
    ])  # fmt: skip
    [whole] = (await client.get(url, headers=auth["viewer"])).json()["sequences"]
    assert (whole["partial"], whole["received"], whole["gaps"], whole["collectors"]) == (False, 990, 10, 3)
