"""Plants: the caller's key, the plants in scope, a plant's asset tree and its latest values."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from api.deps import CurrentUser, RegistryDep, StoreDep
from api.models import LatestReading, Me, PlantSummary
from api.permissions import API_PREFIX, CROSS_PLANT_READERS
from api.readings import latest_readings
from ganlink.registry import AssetTree
from ganlink.store import SensorSelector

router = APIRouter(prefix=API_PREFIX, tags=["plants"])


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
