"""Plants: the caller's key, the plants in scope, a plant's asset tree and its latest values."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api.deps import CurrentUser, RegistryDep, StoreDep
from api.models import LatestReading, Me, PlantSummary, RangeResult
from api.permissions import API_PREFIX, CROSS_PLANT_READERS
from api.readings import latest_readings
from api.series import sensor_series, time_window, unprocessable
from ganlink.registry import AssetTree
from ganlink.store import Aggregate, SensorSelector

router = APIRouter(prefix=API_PREFIX, tags=["plants"])

MAX_SERIES = 20


@router.get("/me")
async def me(user: CurrentUser) -> Me:
    return Me(name=user.name, role=user.role, plants=user.plants)


@router.get("/plants")
async def list_plants(user: CurrentUser, registry: RegistryDep) -> list[PlantSummary]:
    """The plants this key may see."""
    everything = user.role in CROSS_PLANT_READERS
    return [
        PlantSummary.model_validate(p.model_dump())
        for p in registry.plants()
        if everything or user.can_see_plant(p.id)
    ]


@router.get("/plants/{plant}")
async def plant_tree(plant: str, registry: RegistryDep) -> AssetTree:
    """The plant with its areas, lines, devices and sensors."""
    tree = registry.asset_tree(plant)
    if tree is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no plant {plant!r}")
    return tree


@router.get("/plants/{plant}/latest")
async def plant_latest(
    plant: str, *, registry: RegistryDep, store: StoreDep, user: CurrentUser, key: bool = True
) -> list[LatestReading]:
    """Newest value of every sensor of the plant (only key sensors unless ``key=false``)."""
    if registry.plant(plant) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no plant {plant!r}")
    sensors = registry.sensors_of(plant, key_only=key)
    return await latest_readings(store, SensorSelector(plant), sensors, user)


@router.get("/plants/{plant}/series")
async def plant_series(
    plant: str,
    *,
    registry: RegistryDep,
    store: StoreDep,
    user: CurrentUser,
    sensor: Annotated[list[str], Query(description="full sensor ids of this plant; repeat, at most 20")],
    start: Annotated[str, Query(description="RFC 3339, epoch ms, or now-1h")] = "now-1h",
    end: Annotated[str, Query(description="RFC 3339, epoch ms, or now")] = "now",
    bucket: Annotated[str, Query(description="auto, raw, or a width such as 30s, 5m, 1h")] = "auto",
    aggregate: Aggregate = Aggregate.MEAN,
) -> list[RangeResult]:
    """Range query for several sensors of one plant at once (each bucketed as the single-sensor query)."""
    if not 1 <= len(sensor) <= MAX_SERIES:
        raise unprocessable(f"give between 1 and {MAX_SERIES} sensor ids")
    infos = []
    for sensor_id in sensor:
        info = registry.sensor(sensor_id)
        if info is None or info.plant != plant:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no sensor {sensor_id!r} in plant {plant!r}")
        infos.append(info)
    window = time_window(start, end)
    return [await sensor_series(store, info, user, window, bucket=bucket, aggregate=aggregate) for info in infos]
