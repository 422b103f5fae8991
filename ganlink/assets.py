"""The asset model (ISA-95: plant / area / line / device / sensor) and the plant YAML that defines it.

One YAML file per plant ships in ``ganlink/plants/``; its ``simulation`` blocks are read only by
the gateway's simulator, everything else is the registry's contract.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import time
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from ganlink.errors import ConfigError
from ganlink.topics import DevicePath

__all__ = [
    "Area",
    "Device",
    "Industry",
    "Line",
    "Nameplate",
    "Plant",
    "PlantFile",
    "Sensor",
    "SensorRef",
    "Shift",
    "bundled_plant_files",
    "load_plant_file",
]

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


class Industry(StrEnum):
    NONFERROUS = "nonferrous"
    AUTOMOTIVE = "automotive"
    BUILDING_MATERIALS = "building-materials"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sensor(_Model):
    id: Slug
    name: str = ""
    unit: str = Field(min_length=1, description="UCUM-style unit, e.g. Cel, kA, V, %, t/h")
    kind: str = Field(min_length=1, description="temperature, pressure, current, state, count, ...")
    range: tuple[float, float] = Field(description="engineering range [min, max]")
    sample_period_s: float = Field(gt=0)
    data_class: Literal[1, 2, 3] = Field(2, description="1 public/low, 2 internal/medium, 3 restricted/high")
    description: str = ""
    key: bool = Field(False, description="shown on the line's dashboard by default")
    simulation: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _range_ordered(self) -> Sensor:
        if self.range[0] >= self.range[1]:
            raise ValueError(f"sensor {self.id}: range min {self.range[0]} must be below max {self.range[1]}")
        return self


class Device(_Model):
    id: Slug
    name: str = ""
    sensors: list[Sensor] = Field(min_length=1)


class Line(_Model):
    id: Slug
    name: str = ""
    kind: Literal["discrete", "continuous"] = "continuous"
    devices: list[Device] = Field(min_length=1)


class Area(_Model):
    id: Slug
    name: str = ""
    lines: list[Line] = Field(min_length=1)


class Shift(_Model):
    name: str
    start: time
    hours: float = Field(gt=0, le=24)


class Nameplate(_Model):
    value: float = Field(gt=0)
    unit: str


class Plant(_Model):
    id: Slug
    name: str
    industry: Industry
    timezone: str
    shifts: list[Shift] = Field(default_factory=list)
    nameplate: Nameplate
    gateway: Slug
    areas: list[Area] = Field(min_length=1)


class SensorRef(_Model):
    """A sensor with its full ISA-95 path, as the registry and the stores name it."""

    device: DevicePath
    sensor: Sensor

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    @property
    def sensor_id(self) -> str:
        return self.device.sensor_id(self.sensor.id)


class PlantFile(_Model):
    """A whole plant YAML: version, plant asset tree, and the simulator's settings."""

    version: Literal[1]
    plant: Plant
    simulation: dict[str, Any] = Field(default_factory=dict)

    def sensors(self) -> Iterator[SensorRef]:
        for area in self.plant.areas:
            for line in area.lines:
                for device in line.devices:
                    path = DevicePath(self.plant.id, area.id, line.id, device.id)
                    for sensor in device.sensors:
                        yield SensorRef(device=path, sensor=sensor)

    @model_validator(mode="after")
    def _unique_ids(self) -> PlantFile:
        seen: set[str] = set()
        for ref in self.sensors():
            if ref.sensor_id in seen:
                raise ValueError(f"sensor {ref.sensor_id} is defined twice")
            seen.add(ref.sensor_id)
        return self


def _line_of(document: str, location: tuple[int | str, ...]) -> int | None:
    """Best-effort line number of a pydantic error location in the YAML source."""
    node: Any = yaml.compose(document)
    for key in location:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
        if node is None:
            return None
    return int(node.start_mark.line) + 1 if node is not None else None


def load_plant_file(path: Path) -> PlantFile:
    """Read and validate one plant YAML; errors name the file, the line and what to fix."""
    try:
        document = path.read_text(encoding="utf-8")
        raw = yaml.safe_load(document)
    except OSError as exc:
        raise ConfigError(f"cannot read plant file: {exc.strerror}", path=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"not valid YAML: {exc}", path=str(path), line=mark.line + 1 if mark else None) from None
    try:
        return PlantFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"{where}: {first['msg']} ({len(exc.errors())} error(s) in all)",
            path=str(path),
            line=_line_of(document, tuple(first["loc"])),
        ) from None


def bundled_plant_files() -> list[Path]:
    """The plant YAML files that ship with ganlink (one per industry)."""
    folder = resources.files("ganlink") / "plants"
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".yaml"))
