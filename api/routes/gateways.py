"""Gateways of a plant: each one's latest status (online/offline, outbox backlog and hours left) as
the collector recorded it from the gateway's retained status message, and which plant the gateway may
publish telemetry for (its binding in the registry, read-only)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel

from api.deps import RegistryDep
from api.permissions import API_PREFIX
from ganlink.registry import GatewaySequenceRecord, GatewayStatusRecord, Registry

router = APIRouter(prefix=API_PREFIX, tags=["gateways"])


class GatewayStatus(BaseModel):
    """One gateway's latest status. ``status`` is what the gateway said (``online``, or ``offline`` from
    its Will), ``unknown`` for the plant's declared gateway when no status was ever recorded; ``state``
    is the same with ``backfilling`` for an online gateway replaying its outbox. Outbox fields are null
    when the gateway did not report them (no outbox, or offline). ``plant_binding`` is the plant the
    collectors accept the gateway's telemetry for (others are dead-lettered ``wrong-plant``), null while
    unbound; ``binding_source`` says why: ``declared`` by a plant, or ``learned`` from the first plant a
    collector saw it publish for."""

    gateway: str
    status: str
    state: str
    since_ms: int | None
    reported_ms: int | None
    updated_ms: int | None
    outbox_depth: int | None
    oldest_age_s: float | None
    hours_left: float | None
    backfilling: bool | None
    drops: int | None
    plant_binding: str | None = None
    binding_source: Literal["declared", "learned"] | None = None


def _ms(ns: int | None) -> int | None:
    return None if ns is None else ns // 1_000_000


def gateway_status_view(record: GatewayStatusRecord) -> GatewayStatus:
    return GatewayStatus(
        gateway=record.gateway,
        status=record.status,
        state="backfilling" if record.status == "online" and record.backfilling else record.status,
        since_ms=_ms(record.since_ns),
        reported_ms=_ms(record.reported_ns),
        updated_ms=_ms(record.updated_ns),
        outbox_depth=record.outbox_depth,
        oldest_age_s=record.oldest_age_s,
        hours_left=record.hours_left,
        backfilling=record.backfilling,
        drops=record.drops,
    )


class GatewaySequence(BaseModel):
    """A gateway's message sequence (``seq`` increases per gateway) as the collectors counted it.

    ``partial``: the collectors read through a shared subscription, each seeing only its share of the
    gateway's messages; ``received`` is then their sum and gaps, duplicates and late messages cannot
    be told (null). Otherwise the counts are one collector's complete view (the latest updated)."""

    gateway: str
    collectors: int
    partial: bool
    received: int
    gaps: int | None
    duplicates: int | None
    out_of_order: int | None
    last_seq: int
    updated_ms: int


def gateway_sequences(registry: Registry, gateways: Iterable[str]) -> list[GatewaySequence]:
    """Sequence totals of these gateways (those no collector has counted are left out)."""
    by_gateway: dict[str, list[GatewaySequenceRecord]] = {}
    for record in registry.gateway_sequences(gateways):
        by_gateway.setdefault(record.gateway, []).append(record)
    out = []
    for gateway, records in sorted(by_gateway.items()):
        whole = [r for r in records if not r.shared]
        if whole:
            view = max(whole, key=lambda r: r.updated_ns)
            out.append(GatewaySequence(
                gateway=gateway, collectors=len(records), partial=False, received=view.received, gaps=view.gaps,
                duplicates=view.duplicates, out_of_order=view.out_of_order, last_seq=view.last_seq,
                updated_ms=view.updated_ns // 1_000_000,
            ))  # fmt: skip
            continue
        out.append(GatewaySequence(
            gateway=gateway, collectors=len(records), partial=True, received=sum(r.received for r in records),
            gaps=None, duplicates=None, out_of_order=None, last_seq=max(r.last_seq for r in records),
            updated_ms=max(r.updated_ns for r in records) // 1_000_000,
        ))  # fmt: skip
    return out


@router.get("/plants/{plant}/gateways")
async def plant_gateways(plant: str, registry: RegistryDep) -> list[GatewayStatus]:
    """The plant's gateways with their latest status and binding, by gateway id (the declared one and
    those bound to the plant always listed)."""
    info = registry.plant(plant)
    if info is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no plant {plant!r}")
    views = {record.gateway: gateway_status_view(record) for record in registry.gateway_statuses(plant)}
    bindings = {binding.gateway: binding for binding in registry.gateway_binding_records()}
    bound_here = {gateway for gateway, binding in bindings.items() if binding.plant == plant}
    for gateway in ({info.gateway} | bound_here) - views.keys():
        views[gateway] = GatewayStatus(
            gateway=gateway, status="unknown", state="unknown", since_ms=None, reported_ms=None, updated_ms=None,
            outbox_depth=None, oldest_age_s=None, hours_left=None, backfilling=None, drops=None,
        )  # fmt: skip
    for gateway, view in views.items():
        if (binding := bindings.get(gateway)) is not None:
            views[gateway] = view.model_copy(update={"plant_binding": binding.plant, "binding_source": binding.source})
    return [views[gateway] for gateway in sorted(views)]
