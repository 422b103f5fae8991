"""Data completeness: readings received vs expected from each sensor's sample period over a window,
per sensor and summed per line and for the plant's gateway."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel

from api.deps import RegistryDep, StoreDep
from api.permissions import API_PREFIX
from api.routes.gateways import GatewaySequence, gateway_sequences
from api.series import time_window
from api.timerange import NS_PER_S
from ganlink.store import SensorSelector

router = APIRouter(prefix=API_PREFIX, tags=["completeness"])

MAX_WINDOW_NS = 31 * 86400 * NS_PER_S


class Completeness(BaseModel):
    """``ratio`` = received / expected, capped at 1 (a sensor reporting faster is complete, not over)."""

    id: str
    expected: int
    received: int
    ratio: float


class CompletenessReport(BaseModel):
    """``sequences``: the plant's gateways' message sequences as counted by the collectors since they
    started (gaps, duplicates, late messages; not limited to the window)."""

    plant: str
    gateway: str
    start_ms: int
    end_ms: int
    overall: Completeness
    lines: list[Completeness]
    sensors: list[Completeness]
    sequences: list[GatewaySequence] = []


def _completeness(ident: str, expected: int, received: int) -> Completeness:
    ratio = 1.0 if expected == 0 else min(1.0, received / expected)
    return Completeness(id=ident, expected=expected, received=received, ratio=round(ratio, 4))


@router.get("/plants/{plant}/completeness")
async def plant_completeness(
    plant: str,
    *,
    registry: RegistryDep,
    store: StoreDep,
    start: Annotated[str, Query(description="RFC 3339, epoch ms, or now-1h")] = "now-1h",
    end: Annotated[str, Query(description="RFC 3339, epoch ms, or now")] = "now",
    area: str | None = None,
    line: str | None = None,
) -> CompletenessReport:
    """Received vs expected readings of every registered sensor of the plant (or of one area/line)."""
    info = registry.plant(plant)
    if info is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no plant {plant!r}")
    start_ns, end_ns = time_window(start, end, max_span_ns=MAX_WINDOW_NS)
    span_s = (end_ns - start_ns) / NS_PER_S
    sensors: list[Completeness] = []
    per_line: dict[str, list[int]] = {}
    for sensor in registry.sensors_of(plant, area, line):
        selector = SensorSelector(plant, sensor.area, sensor.line, sensor.device, sensor.id)
        received = await store.count_readings(selector, start_ns, end_ns)
        expected = int(span_s // sensor.sample_period_s)
        sensors.append(_completeness(sensor.sensor_id, expected, received))
        totals = per_line.setdefault(f"{plant}.{sensor.area}.{sensor.line}", [0, 0])
        totals[0] += expected
        totals[1] += min(received, expected)
    lines = [_completeness(ident, e, r) for ident, (e, r) in sorted(per_line.items())]
    expected_all = sum(e for e, _ in per_line.values())
    received_all = sum(r for _, r in per_line.values())
    return CompletenessReport(
        plant=plant,
        gateway=info.gateway,
        start_ms=start_ns // 1_000_000,
        end_ms=end_ns // 1_000_000,
        overall=_completeness(info.gateway, expected_all, received_all),
        lines=lines,
        sensors=sensors,
        sequences=gateway_sequences(registry, {info.gateway} | {g.gateway for g in registry.gateway_statuses(plant)}),
    )
