"""Gateways of a plant: each one's latest status (online/offline, outbox backlog and hours left) as
the collector recorded it from the gateway's retained status message."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel

from api.deps import RegistryDep
from api.permissions import API_PREFIX
from ganlink.registry import GatewayStatusRecord

router = APIRouter(prefix=API_PREFIX, tags=["gateways"])


class GatewayStatus(BaseModel):
    """One gateway's latest status. ``status`` is ``unknown`` for the plant's declared gateway when no
    status was ever recorded; outbox fields are null when the gateway did not report them."""

    gateway: str
    status: str
    since_ms: int | None
    reported_ms: int | None
    updated_ms: int | None
    outbox_depth: int | None
    oldest_age_s: float | None
    hours_left: float | None
    backfilling: bool | None
    drops: int | None


def _ms(ns: int | None) -> int | None:
    return None if ns is None else ns // 1_000_000


def gateway_status_view(record: GatewayStatusRecord) -> GatewayStatus:
    return GatewayStatus(
        gateway=record.gateway,
        status=record.status,
        since_ms=_ms(record.since_ns),
        reported_ms=_ms(record.reported_ns),
        updated_ms=_ms(record.updated_ns),
        outbox_depth=record.outbox_depth,
        oldest_age_s=record.oldest_age_s,
        hours_left=record.hours_left,
        backfilling=record.backfilling,
        drops=record.drops,
    )


@router.get("/plants/{plant}/gateways")
async def plant_gateways(plant: str, registry: RegistryDep) -> list[GatewayStatus]:
    """The plant's gateways with their latest status, by gateway id (the declared one always listed)."""
    info = registry.plant(plant)
    if info is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no plant {plant!r}")
    views = {record.gateway: gateway_status_view(record) for record in registry.gateway_statuses(plant)}
    if info.gateway not in views:
        views[info.gateway] = GatewayStatus(
            gateway=info.gateway, status="unknown", since_ms=None, reported_ms=None, updated_ms=None,
            outbox_depth=None, oldest_age_s=None, hours_left=None, backfilling=None, drops=None,
        )  # fmt: skip
    return [views[gateway] for gateway in sorted(views)]
