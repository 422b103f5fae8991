"""GET /plants/{plant}/gateways shows each gateway's binding (which plant the collectors accept its
telemetry for, declared or learned), read-only from the registry."""

from __future__ import annotations

import httpx

from ganlink.registry import GatewayStatusRecord, Registry

URL = "/api/v1/plants/test-smelter/gateways"


async def test_gateways_carry_their_plant_binding_and_learned_ones_are_listed_under_their_plant(
    client: httpx.AsyncClient, registry: Registry, auth: dict[str, dict[str, str]]
) -> None:
    [declared] = (await client.get(URL, headers=auth["viewer"])).json()
    assert (declared["gateway"], declared["plant_binding"], declared["binding_source"]) == (
        "test-smelter-gw", "test-smelter", "declared"
    )  # fmt: skip

    registry.bind_gateways({"gw-learned": "test-smelter", "gw-elsewhere": "test-auto"}, "collector-1")
    # A gateway that reported status here but is bound to another plant shows where its telemetry goes.
    registry.record_gateway_status(GatewayStatusRecord(plant="test-smelter", gateway="gw-elsewhere",
                                                       status="online", updated_ns=1))  # fmt: skip
    body = (await client.get(URL, headers=auth["viewer"])).json()
    bindings = {g["gateway"]: (g["status"], g["plant_binding"], g["binding_source"]) for g in body}
    assert bindings == {
        "gw-elsewhere": ("online", "test-auto", "learned"),
        "gw-learned": ("unknown", "test-smelter", "learned"),
        "test-smelter-gw": ("unknown", "test-smelter", "declared"),
    }
    assert [g["gateway"] for g in body] == sorted(bindings)
