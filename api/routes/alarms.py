"""Alarms: list per plant or line, and the operator actions (acknowledge, clear, shelve, comment, label).

Actions are atomic per alarm (``Registry.update_alarm``), audited, and a transition the alarm's
state does not allow answers 409 with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from api.deps import CurrentUser, RegistryDep, actor_of, client_address, raw_values_allowed
from api.models import AlarmComment, AlarmView
from api.permissions import API_PREFIX
from ganlink.alarms import Alarm, AlarmTransitionError, Label
from ganlink.registry import ApiKey, Registry
from ganlink.timestamps import now_ns

router = APIRouter(prefix=API_PREFIX, tags=["alarms"])

_MS = 1_000_000
MAX_SHELVE_MINUTES = 7 * 24 * 60


def alarm_view(alarm: Alarm, at_ns: int, *, withhold_values: bool = False) -> AlarmView:
    """The alarm as the API shows it; ``withhold_values`` drops its details (data class 3 elsewhere)."""
    def ms(ns: int | None) -> int | None:
        return ns // _MS if ns is not None else None

    return AlarmView(
        id=alarm.id,
        sensor_id=alarm.sensor_id,
        detector=alarm.detector,
        model_version=alarm.model_version,
        severity=str(alarm.severity),
        status=str(alarm.status),
        active=alarm.active,
        acknowledged=alarm.acknowledged,
        shelved=alarm.shelved(at_ns),
        raised_ms=alarm.raised_ns // _MS,
        cleared_ms=ms(alarm.cleared_ns),
        acknowledged_ms=ms(alarm.acknowledged_ns),
        acknowledged_by=alarm.acknowledged_by,
        shelved_until_ms=ms(alarm.shelved_until_ns),
        shelved_by=alarm.shelved_by,
        label=str(alarm.label) if alarm.label else None,
        labeled_by=alarm.labeled_by,
        details={} if withhold_values else alarm.details,
        comments=[AlarmComment(user=c.user, time_ms=c.time_ns // _MS, text=c.text) for c in alarm.comments],
    )


ActiveOnly = Annotated[bool, Query(description="only alarms not yet cleared")]
Limit = Annotated[int, Query(ge=1, le=1000)]


def _views(registry: Registry, user: ApiKey, alarms: list[Alarm]) -> list[AlarmView]:
    now = now_ns()
    withheld: set[str] = set()
    for plant in {a.sensor_id.split(".", 1)[0] for a in alarms}:
        if not user.can_see_plant(plant):
            withheld |= {s.sensor_id for s in registry.sensors_of(plant) if not raw_values_allowed(user, s)}
    return [alarm_view(a, now, withhold_values=a.sensor_id in withheld) for a in alarms]


@router.get("/plants/{plant}/alarms")
async def plant_alarms(
    plant: str, *, registry: RegistryDep, user: CurrentUser, active: ActiveOnly = False, limit: Limit = 200
) -> list[AlarmView]:
    """Alarms of a plant, newest first."""
    return _views(registry, user, registry.alarms(plant, active_only=active, limit=limit))


@router.get("/plants/{plant}/areas/{area}/lines/{line}/alarms")
async def line_alarms(
    plant: str,
    area: str,
    line: str,
    *,
    registry: RegistryDep,
    user: CurrentUser,
    active: ActiveOnly = False,
    limit: Limit = 200,
) -> list[AlarmView]:
    """Alarms of one line, newest first."""
    return _views(registry, user, registry.alarms(plant, area, line, active_only=active, limit=limit))


@router.get("/alarms/{alarm_id}")
async def get_alarm(alarm_id: str, registry: RegistryDep, user: CurrentUser) -> AlarmView:
    alarm = registry.alarm(alarm_id)
    if alarm is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alarm {alarm_id!r}")
    return _views(registry, user, [alarm])[0]


def _act(
    request: Request,
    registry: RegistryDep,
    user: CurrentUser,
    alarm_id: str,
    *,
    action: str,
    change: Callable[[Alarm], Alarm],
    detail: dict[str, object] | None = None,
) -> AlarmView:
    source = client_address(request)
    try:
        after = registry.update_alarm(alarm_id, change)
    except AlarmTransitionError as exc:
        registry.audit(actor_of(user), f"alarm-{action}", f"alarm/{alarm_id}", detail, source=source, result="rejected")
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    if after is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alarm {alarm_id!r}")
    registry.audit(actor_of(user), f"alarm-{action}", f"alarm/{alarm_id}", detail, source=source)
    return alarm_view(after, now_ns())


class ShelveRequest(BaseModel):
    minutes: int = Field(ge=1, le=MAX_SHELVE_MINUTES, description="how long notifications are held back")
    reason: str = Field("", max_length=500)


class CommentRequest(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class LabelRequest(BaseModel):
    label: Label | None = Field(description="real, false or planned; null removes the label")


@router.post("/alarms/{alarm_id}/acknowledge")
async def acknowledge(alarm_id: str, request: Request, registry: RegistryDep, user: CurrentUser) -> AlarmView:
    at = now_ns()
    who = actor_of(user)
    return _act(request, registry, user, alarm_id, action="acknowledge", change=lambda a: a.acknowledge(who, at))


@router.post("/alarms/{alarm_id}/clear")
async def clear(alarm_id: str, request: Request, registry: RegistryDep, user: CurrentUser) -> AlarmView:
    at = now_ns()
    return _act(request, registry, user, alarm_id, action="clear", change=lambda a: a.clear(at))


@router.post("/alarms/{alarm_id}/shelve")
async def shelve(
    alarm_id: str, body: ShelveRequest, request: Request, registry: RegistryDep, user: CurrentUser
) -> AlarmView:
    at = now_ns()
    until = at + body.minutes * 60 * 1_000_000_000

    def change(alarm: Alarm) -> Alarm:
        shelved = alarm.shelve(actor_of(user), at, until)
        return shelved.comment(actor_of(user), at, f"shelved: {body.reason}") if body.reason.strip() else shelved

    return _act(request, registry, user, alarm_id, action="shelve", change=change, detail={"minutes": body.minutes})


@router.post("/alarms/{alarm_id}/unshelve")
async def unshelve(alarm_id: str, request: Request, registry: RegistryDep, user: CurrentUser) -> AlarmView:
    return _act(request, registry, user, alarm_id, action="unshelve", change=lambda a: a.unshelve())


@router.post("/alarms/{alarm_id}/comments")
async def comment(
    alarm_id: str, body: CommentRequest, request: Request, registry: RegistryDep, user: CurrentUser
) -> AlarmView:
    at = now_ns()
    return _act(
        request, registry, user, alarm_id, action="comment", change=lambda a: a.comment(actor_of(user), at, body.text)
    )


@router.put("/alarms/{alarm_id}/label")
async def label(
    alarm_id: str, body: LabelRequest, request: Request, registry: RegistryDep, user: CurrentUser
) -> AlarmView:
    who = actor_of(user) if body.label else None
    detail: dict[str, object] = {"label": str(body.label) if body.label else None}
    change: Callable[[Alarm], Alarm] = lambda a: a.set_label(body.label, who)  # noqa: E731
    return _act(request, registry, user, alarm_id, action="label", change=change, detail=detail)
