"""Onboarding: sensors the collector saw but the registry does not know wait here until an integrator
approves them (with unit, range, class, ... and optionally a place in the asset tree) or rejects them.
Their readings are stored meanwhile; an approval with a mapping queues a backfill that moves them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import Field

from api.deps import CurrentUser, RegistryDep, actor_of, client_address
from api.permissions import API_PREFIX
from ganlink.registry import BackfillState, PendingSensor, SensorInfo, SensorSpec, SensorTarget, TargetRegistered

router = APIRouter(prefix=API_PREFIX, tags=["onboarding"])

PendingStatus = Literal["pending", "accepted", "rejected", "all"]


class ApprovalTarget(SensorTarget):
    """Where in the pending sensor's own plant it is registered; the plant itself never moves."""

    plant: str | None = Field(None, description="optional; when given it must be the pending sensor's plant")


class SensorApproval(SensorSpec):
    """The registered sensor's spec, and optionally where it goes (default: the path it was seen on)."""

    target: ApprovalTarget | None = None


class ApprovedSensor(SensorInfo):
    """The registered sensor; with a mapping, the wire path it was seen on and its backfill (queued)."""

    wire_sensor_id: str
    backfill: BackfillState | None = None


def _not_pending(registry: RegistryDep, sensor_id: str) -> HTTPException:
    pending = registry.pending_sensor(sensor_id)
    if pending is None:
        return HTTPException(status.HTTP_404_NOT_FOUND, f"no pending sensor {sensor_id!r}")
    return HTTPException(status.HTTP_409_CONFLICT, f"sensor {sensor_id} was already {pending.status}")


@router.get("/plants/{plant}/pending-sensors")
async def pending_sensors(
    plant: str, registry: RegistryDep, state: Annotated[PendingStatus, Query(alias="status")] = "pending"
) -> list[PendingSensor]:
    """Sensors seen on the wire of this plant but not registered (by default only those still pending)."""
    return registry.pending_sensors(plant, None if state == "all" else state)


@router.get("/pending-sensors/{sensor_id}")
async def pending_sensor(sensor_id: str, registry: RegistryDep) -> PendingSensor:
    """One sensor seen on the wire, in any status; after an approval with a mapping, its target and backfill."""
    pending = registry.pending_sensor(sensor_id)
    if pending is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no pending sensor {sensor_id!r}")
    return pending


@router.post("/pending-sensors/{sensor_id}/approve", status_code=status.HTTP_201_CREATED)
async def approve(
    sensor_id: str, body: SensorApproval, *, request: Request, registry: RegistryDep, user: CurrentUser
) -> ApprovedSensor:
    """Register the pending sensor at the path it was seen on, where its stored readings become its series,
    or at ``target`` (area, line, device, sensor) in the same plant: its later readings are stored there
    and a backfill moves the kept ones (status in ``backfill``, also on the pending sensor)."""
    pending = registry.pending_sensor(sensor_id)
    if pending is None or pending.status != "pending":
        raise _not_pending(registry, sensor_id)
    target = body.target
    if target is not None and target.plant not in (None, pending.plant):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"target plant {target.plant!r} is not {pending.plant!r}, the plant {sensor_id} was "
                            "seen in; a sensor is mapped only within its own plant")  # fmt: skip
    spec = SensorSpec.model_validate(body.model_dump(exclude={"target"}))
    mapping = None if target is None else SensorTarget.model_validate(target.model_dump(exclude={"plant"}))
    try:
        info = registry.approve_pending(sensor_id, spec, mapping)
    except TargetRegistered as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except LookupError as exc:  # no longer pending (a concurrent approval), or a parent is missing
        still = registry.pending_sensor(sensor_id)
        if still is None or still.status != "pending":
            raise _not_pending(registry, sensor_id) from None
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc).strip("'\"")) from None
    alias = registry.sensor_alias(sensor_id) if info.sensor_id != sensor_id else None
    detail = spec.model_dump() | {"wire_sensor_id": sensor_id, "sensor_id": info.sensor_id}
    registry.audit(actor_of(user), "onboard-approve", f"sensor/{sensor_id}", detail, source=client_address(request))
    return ApprovedSensor(**info.model_dump(), wire_sensor_id=sensor_id, backfill=alias.backfill if alias else None)


@router.post("/pending-sensors/{sensor_id}/reject", status_code=status.HTTP_204_NO_CONTENT)
async def reject(sensor_id: str, request: Request, registry: RegistryDep, user: CurrentUser) -> None:
    if not registry.reject_pending(sensor_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no pending sensor {sensor_id!r}")
    registry.audit(actor_of(user), "onboard-reject", f"sensor/{sensor_id}", source=client_address(request))
