"""Onboarding: sensors the collector saw but the registry does not know wait here until an integrator
approves them (with unit, range, class, ...) or rejects them. Their readings are stored meanwhile."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status

from api.deps import CurrentUser, RegistryDep, actor_of, client_address
from api.permissions import API_PREFIX
from ganlink.registry import PendingSensor, SensorInfo, SensorSpec

router = APIRouter(prefix=API_PREFIX, tags=["onboarding"])

PendingStatus = Literal["pending", "accepted", "rejected", "all"]


@router.get("/plants/{plant}/pending-sensors")
async def pending_sensors(
    plant: str, registry: RegistryDep, state: Annotated[PendingStatus, Query(alias="status")] = "pending"
) -> list[PendingSensor]:
    """Sensors seen on the wire of this plant but not registered (by default only those still pending)."""
    return registry.pending_sensors(plant, None if state == "all" else state)


@router.post("/pending-sensors/{sensor_id}/approve", status_code=status.HTTP_201_CREATED)
async def approve(
    sensor_id: str, body: SensorSpec, *, request: Request, registry: RegistryDep, user: CurrentUser
) -> SensorInfo:
    """Register the pending sensor at the path it was seen on; its stored readings become its series."""
    try:
        info = registry.approve_pending(sensor_id, body)
    except LookupError as exc:
        pending = registry.pending_sensor(sensor_id)
        code = status.HTTP_404_NOT_FOUND if pending is None else status.HTTP_409_CONFLICT
        detail = f"no pending sensor {sensor_id!r}" if pending is None else str(exc).strip("'\"")
        if pending is not None and pending.status != "pending":
            detail = f"sensor {sensor_id} was already {pending.status}"
        raise HTTPException(code, detail) from None
    registry.audit(actor_of(user), "onboard-approve", f"sensor/{sensor_id}", body.model_dump(),
                   source=client_address(request))  # fmt: skip
    return info


@router.post("/pending-sensors/{sensor_id}/reject", status_code=status.HTTP_204_NO_CONTENT)
async def reject(sensor_id: str, request: Request, registry: RegistryDep, user: CurrentUser) -> None:
    if not registry.reject_pending(sensor_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no pending sensor {sensor_id!r}")
    registry.audit(actor_of(user), "onboard-reject", f"sensor/{sensor_id}", source=client_address(request))
