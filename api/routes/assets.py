"""Changing the asset tree (integrators): create, change and delete plants, areas, lines, devices and
sensors; bulk import (CSV or plant YAML, with a dry run) and export. Every change is audited."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from api.bulk import parse_plant_yaml, parse_sensor_csv, plant_yaml, sensors_csv
from api.deps import CurrentUser, RegistryDep, actor_of, client_address
from api.permissions import API_PREFIX
from ganlink.assets import Industry
from ganlink.registry import PlantInfo, Registry, SensorInfo, SensorSpec
from ganlink.topics import DevicePath

router = APIRouter(prefix=API_PREFIX, tags=["assets"])

_LINE = "/plants/{plant}/areas/{area}/lines/{line}"


class PlantSpec(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    industry: Industry
    timezone: str = Field(min_length=1, max_length=64)
    nameplate_value: float = Field(gt=0)
    nameplate_unit: str = Field(min_length=1, max_length=40)
    gateway: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    shifts: list[dict[str, str | float]] = Field(default_factory=list, max_length=10)


class NameSpec(BaseModel):
    name: str = Field("", max_length=200)


class LineSpec(NameSpec):
    kind: Literal["discrete", "continuous"] = "continuous"


class ImportReport(BaseModel):
    """What an import did (or, in a dry run, would do); ``errors`` lists every problem with its row."""

    dry_run: bool
    created: int
    updated: int
    errors: list[dict[str, str | int | None]]


def _audit(request: Request, registry: Registry, user: CurrentUser, action: str, target: str, *,
           detail: dict[str, object] | None = None) -> None:  # fmt: skip
    registry.audit(actor_of(user), action, target, detail, source=client_address(request))


def _conflict(exc: LookupError) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, str(exc).strip("'\""))


@router.put("/plants/{plant}")
async def put_plant(
    plant: str, body: PlantSpec, *, request: Request, registry: RegistryDep, user: CurrentUser
) -> PlantInfo:
    """Create a plant or change its own fields (its areas are changed separately)."""
    info = PlantInfo(id=plant, **body.model_dump(mode="json"))
    created = registry.upsert_plant(info)
    _audit(request, registry, user, "plant-create" if created else "plant-update", f"plant/{plant}")
    return info


@router.put("/plants/{plant}/areas/{area}", status_code=status.HTTP_204_NO_CONTENT)
async def put_area(plant: str, area: str, body: NameSpec, *, request: Request, registry: RegistryDep,
                   user: CurrentUser) -> None:  # fmt: skip
    try:
        registry.upsert_area(plant, area, body.name)
    except LookupError as exc:
        raise _conflict(exc) from None
    _audit(request, registry, user, "area-put", f"area/{plant}/{area}")


@router.put(_LINE, status_code=status.HTTP_204_NO_CONTENT)
async def put_line(plant: str, area: str, line: str, *, body: LineSpec, request: Request, registry: RegistryDep,
                   user: CurrentUser) -> None:  # fmt: skip
    try:
        registry.upsert_line(plant, area, line, body.name, body.kind)
    except LookupError as exc:
        raise _conflict(exc) from None
    _audit(request, registry, user, "line-put", f"line/{plant}/{area}/{line}")


@router.put(_LINE + "/devices/{device}", status_code=status.HTTP_204_NO_CONTENT)
async def put_device(plant: str, area: str, line: str, device: str, *, body: NameSpec, request: Request,
                     registry: RegistryDep, user: CurrentUser) -> None:  # fmt: skip
    try:
        registry.upsert_device(DevicePath(plant, area, line, device), body.name)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except LookupError as exc:
        raise _conflict(exc) from None
    _audit(request, registry, user, "device-put", f"device/{plant}/{area}/{line}/{device}")


@router.put("/sensors/{sensor_id}")
async def put_sensor(sensor_id: str, body: SensorSpec, *, request: Request, response: Response,
                     registry: RegistryDep, user: CurrentUser) -> SensorInfo:  # fmt: skip
    """Create or change a sensor of an existing device; the path is the dotted full id."""
    parts = sensor_id.split(".")
    if len(parts) != 5:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"sensor id {sensor_id!r} must be "
                            "plant.area.line.device.sensor")  # fmt: skip
    try:
        created = registry.upsert_sensor(DevicePath(*parts[:4]), parts[4], body)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except LookupError as exc:
        raise _conflict(exc) from None
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    action = "sensor-create" if created else "sensor-update"
    _audit(request, registry, user, action, f"sensor/{sensor_id}", detail=body.model_dump())
    info = registry.sensor(sensor_id)
    assert info is not None
    return info


def _deleted(found: bool, what: str) -> None:
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {what}")


@router.delete("/plants/{plant}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_plant(plant: str, request: Request, registry: RegistryDep, user: CurrentUser) -> None:
    _deleted(registry.delete_asset(plant), f"plant {plant!r}")
    _audit(request, registry, user, "plant-delete", f"plant/{plant}")


@router.delete("/plants/{plant}/areas/{area}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_area(plant: str, area: str, request: Request, registry: RegistryDep, user: CurrentUser) -> None:
    _deleted(registry.delete_asset(plant, area), f"area {plant}/{area}")
    _audit(request, registry, user, "area-delete", f"area/{plant}/{area}")


@router.delete(_LINE, status_code=status.HTTP_204_NO_CONTENT)
async def delete_line(plant: str, area: str, line: str, *, request: Request, registry: RegistryDep,
                      user: CurrentUser) -> None:  # fmt: skip
    _deleted(registry.delete_asset(plant, area, line), f"line {plant}/{area}/{line}")
    _audit(request, registry, user, "line-delete", f"line/{plant}/{area}/{line}")


@router.delete(_LINE + "/devices/{device}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_device(plant: str, area: str, line: str, device: str, *, request: Request, registry: RegistryDep,
                        user: CurrentUser) -> None:  # fmt: skip
    _deleted(registry.delete_asset(plant, area, line, device), f"device {plant}/{area}/{line}/{device}")
    _audit(request, registry, user, "device-delete", f"device/{plant}/{area}/{line}/{device}")


@router.delete("/sensors/{sensor_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_sensor(sensor_id: str, request: Request, registry: RegistryDep, user: CurrentUser) -> None:
    """Unregister a sensor; its stored readings stay in the time-series store."""
    _deleted(registry.delete_sensor(sensor_id), f"sensor {sensor_id!r}")
    _audit(request, registry, user, "sensor-delete", f"sensor/{sensor_id}")


ImportFormat = Annotated[Literal["csv", "yaml"], Query(description="csv: one row per sensor; yaml: a plant file")]


@router.post(
    "/plants/{plant}/import",
    responses={422: {"description": "the import has errors; nothing was changed"}},
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}},
                                               "application/yaml": {"schema": {"type": "string"}}}}},
)  # fmt: skip
async def import_sensors(
    plant: str,
    *,
    request: Request,
    registry: RegistryDep,
    user: CurrentUser,
    format: ImportFormat = "csv",
    dry_run: bool = True,
) -> ImportReport:
    """Create or change the plant's sensors from CSV (``CSV_COLUMNS``) or a plant YAML. Nothing changes
    unless the whole import is valid; ``dry_run`` (the default) only reports."""
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "body is not UTF-8 text") from None
    known = registry.known_sensor_ids(plant)
    if format == "csv":
        if registry.plant(plant) is None:
            raise HTTPException(status.HTTP_409_CONFLICT, f"plant {plant} does not exist; create it first")
        rows, errors = parse_sensor_csv(text, plant)
        ids = {path.sensor_id(sensor) for path, sensor, _ in rows}
    else:
        plant_file, errors = parse_plant_yaml(text, plant)
        ids = {ref.sensor_id for ref in plant_file.sensors()} if plant_file else set()
    report = ImportReport(
        dry_run=dry_run,
        created=len(ids - known),
        updated=len(ids & known),
        errors=[{"row": e.row, "field": e.field, "message": e.message} for e in errors],
    )
    if errors:
        _audit(request, registry, user, "import", f"plant/{plant}", detail={"format": format, "errors": len(errors)})
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, report.model_dump())
    if not dry_run:
        if format == "csv":
            registry.apply_sensor_specs(rows)
        elif plant_file is not None:
            registry.load_plant_file(plant_file)
        _audit(request, registry, user, "import", f"plant/{plant}", detail=report.model_dump() | {"format": format})
    return report


@router.get(
    "/plants/{plant}/export",
    response_model=None,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}},
                                 "application/yaml": {"schema": {"type": "string"}}}}},
)  # fmt: skip
async def export_sensors(plant: str, *, request: Request, registry: RegistryDep, user: CurrentUser,
                         format: ImportFormat = "csv") -> PlainTextResponse:  # fmt: skip
    """The plant's asset tree as CSV or plant YAML, importable as it is."""
    tree = registry.asset_tree(plant)
    if tree is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no plant {plant!r}")
    _audit(request, registry, user, "export-assets", f"plant/{plant}", detail={"format": format})
    if format == "csv":
        return PlainTextResponse(sensors_csv(tree), media_type="text/csv; charset=utf-8")
    return PlainTextResponse(plant_yaml(tree), media_type="application/yaml; charset=utf-8")

