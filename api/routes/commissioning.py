"""A pending sensor's sample: its latest stored readings and a commissioning report, for the onboarding page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api.commissioning import commissioning_report
from api.deps import RegistryDep, StoreDep
from api.permissions import API_PREFIX
from ganlink.topics import DevicePath

router = APIRouter(prefix=API_PREFIX, tags=["onboarding"])

_NS = 1_000_000_000
SAMPLE_WINDOW_NS = 3600 * _NS


@router.get("/pending-sensors/{sensor_id}/sample")
async def pending_sample(
    sensor_id: str, registry: RegistryDep, store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=2000, description="newest readings returned")] = 300,
) -> dict[str, object]:
    """The newest stored readings of a pending sensor (up to its last hour) and its commissioning report."""
    pending = registry.pending_sensor(sensor_id)
    if pending is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no pending sensor {sensor_id!r}")
    device = DevicePath(pending.plant, pending.area, pending.line, pending.device)
    start = pending.last_seen_ns - SAMPLE_WINDOW_NS  # not first_seen: a batch records its newest time there
    points = await store.query_range(device, pending.sensor, start, pending.last_seen_ns + 1)
    readings = [(p.time_ns, p.value) for p in points if p.value is not None]
    return {
        "sensor_id": sensor_id,
        "status": pending.status,
        "readings": [{"time_ms": t // 1_000_000, "value": v} for t, v in readings[-limit:]],
        "report": commissioning_report(readings).as_dict(),
    }
