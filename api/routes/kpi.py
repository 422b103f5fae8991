"""KPIs: one plant's ISO 22400 KPI set, the factory comparison across plants (JSON or CSV), the
digitalization scorecard, and the pages that show them (/compare, /onboarding).

Scope: managers and admins (permission ``cross-plant-kpi``) compare every plant; any other key sees
only the plants in its scope. A period without a UTC offset is read in each plant's local time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, PlainTextResponse, Response

from api.deps import CurrentUser, RegistryDep, StoreDep
from api.kpi import PlantKpis, compute_plant_kpis, compute_scorecard, parse_period
from api.kpi.calendar import Interval
from api.kpi.export import kpi_rows, to_csv
from api.page_views import PageViews
from api.permissions import API_PREFIX, ROLE_PERMISSIONS, Permission
from ganlink.registry import ApiKey, PlantInfo, Registry
from ganlink.store import TimeSeriesStore
from ganlink.timestamps import now_ns

__all__ = ["pages", "router"]

router = APIRouter(prefix=API_PREFIX, tags=["kpi"])
pages = APIRouter(include_in_schema=False)
STATIC_DIR = Path(__file__).resolve().parents[1] / "static"

Start = Annotated[str, Query(description="date, date-time (plant local time when no offset), or now-N(s|m|h|d)")]
End = Annotated[str, Query(description="same forms as start")]
Format = Annotated[Literal["json", "csv"], Query(description="csv: one row per plant/line KPI")]
JSON_OR_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {"schema": {"type": "object"}}, "text/csv": {"schema": {"type": "string"}}},
          "description": "the KPIs as JSON, or CSV with format=csv"},
}


def _period(plant: PlantInfo, start: str, end: str) -> tuple[int, int]:
    """The period in the plant's time zone; an unreadable one is a 422 shaped like FastAPI's own."""
    try:
        period = parse_period(start, end, plant.timezone, now_ns=now_ns())
    except ValueError as exc:
        field = "end" if "end" in str(exc) and start not in str(exc) else "start"
        value = end if field == "end" else start
        raise RequestValidationError([{"loc": ("query", field), "msg": str(exc), "type": "value_error",
                                       "input": value}]) from None
    return period.start_ns, period.end_ns


def plants_for(user: ApiKey, registry: Registry) -> list[PlantInfo]:
    """Every plant for cross-plant KPI roles, else the key's own plants."""
    cross_plant = Permission.CROSS_PLANT_KPI in ROLE_PERMISSIONS[user.role]
    return [p for p in registry.plants() if cross_plant or user.can_see_plant(p.id)]


async def _kpis(store: TimeSeriesStore, registry: Registry, plant: PlantInfo, start: str, end: str) -> PlantKpis:
    return await compute_plant_kpis(store, registry, plant.id, Interval(*_period(plant, start, end)))


def _csv(rows: list[dict[str, object]], name: str) -> Response:
    return PlainTextResponse(
        to_csv(rows), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@router.get("/plants/{plant}/kpi", response_model=None, responses=JSON_OR_CSV)
async def plant_kpi(
    plant: str, *, registry: RegistryDep, store: StoreDep, start: Start = "now-24h", end: End = "now",
    format: Format = "json",
) -> dict[str, object] | Response:
    """The plant's KPI set for the period: plant-level and per line, each with formula, inputs and confidence."""
    info = registry.plant(plant)
    if info is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no plant {plant!r}")
    kpis = await _kpis(store, registry, info, start, end)
    return _csv(kpi_rows([kpis]), f"kpi-{plant}") if format == "csv" else kpis.as_dict()


@router.get("/compare", response_model=None, responses=JSON_OR_CSV)
async def compare(
    user: CurrentUser, *, registry: RegistryDep, store: StoreDep, start: Start = "now-24h", end: End = "now",
    format: Format = "json",
) -> dict[str, object] | Response:
    """KPIs of every plant the key may compare, side by side (each plant's period in its own time zone)."""
    results = [await _kpis(store, registry, p, start, end) for p in plants_for(user, registry)]
    if format == "csv":
        return _csv(kpi_rows(results), "compare")
    return {"start": start, "end": end, "plants": [r.as_dict() for r in results]}


@router.get("/scorecard")
async def scorecard(
    user: CurrentUser, *, registry: RegistryDep, store: StoreDep, start: Start = "now-24h", end: End = "now",
    periods: Annotated[int, Query(ge=1, le=12, description="this period and the ones before it")] = 4,
) -> dict[str, object]:
    """The digitalization scorecard of each plant the key may compare, with its trend over ``periods``."""
    views = PageViews.of(registry)
    cards = []
    for plant in plants_for(user, registry):
        period = Interval(*_period(plant, start, end))
        cards.append((await compute_scorecard(store, registry, views, plant.id, period, periods=periods)).as_dict())
    return {"start": start, "end": end, "plants": cards}


@pages.get("/compare")
async def compare_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "compare.html", headers={"Cache-Control": "no-cache"})


@pages.get("/onboarding")
async def onboarding_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "onboarding.html", headers={"Cache-Control": "no-cache"})
