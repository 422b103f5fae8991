"""Bulk import and export of a plant's sensors: CSV (one row per sensor) and the plant YAML format.

Parsing is pure and reports every error with its row (CSV) or location (YAML) so a dry run can show
them all before anything changes.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

from ganlink.assets import PlantFile
from ganlink.registry import AssetTree, SensorSpec
from ganlink.topics import DevicePath, is_slug

__all__ = ["CSV_COLUMNS", "ImportError_", "parse_plant_yaml", "parse_sensor_csv", "plant_yaml", "sensors_csv"]

CSV_COLUMNS = (
    "area", "line", "device", "sensor", "name", "unit", "kind",
    "range_min", "range_max", "sample_period_s", "data_class", "key", "description",
)  # fmt: skip
_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n", ""}
MAX_ROWS = 20_000


@dataclass(frozen=True, slots=True)
class ImportError_:  # noqa: N801 - the trailing underscore keeps clear of the builtin ImportError
    """One problem in an import: the CSV row (1 = header) or YAML location, the field, what is wrong."""

    row: int | None
    field: str
    message: str


SensorRow = tuple[DevicePath, str, SensorSpec]


def parse_sensor_csv(text: str, plant: str) -> tuple[list[SensorRow], list[ImportError_]]:
    """Rows of ``CSV_COLUMNS`` into sensor specs of ``plant``; every bad cell is reported."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in CSV_COLUMNS if c not in header and c not in ("name", "description", "key", "data_class")]
    if missing:
        return [], [ImportError_(1, ",".join(missing), "missing column(s); expected " + ",".join(CSV_COLUMNS))]
    rows: list[SensorRow] = []
    errors: list[ImportError_] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(reader, start=2):
        if number - 1 > MAX_ROWS:
            errors.append(ImportError_(number, "", f"more than {MAX_ROWS} rows"))
            break
        cells = {k: (v or "").strip() for k, v in raw.items() if k is not None}
        row_errors = [ImportError_(number, f, "not a slug id") for f in ("area", "line", "device", "sensor")
                      if not is_slug(cells.get(f, ""))]  # fmt: skip
        key_text = cells.get("key", "").lower()
        if key_text not in _TRUE | _FALSE:
            row_errors.append(ImportError_(number, "key", f"{cells['key']!r} is not true/false"))
        spec = None
        try:
            spec = SensorSpec.model_validate({
                "name": cells.get("name", ""),
                "unit": cells.get("unit", ""),
                "kind": cells.get("kind", ""),
                "range_min": cells.get("range_min", ""),
                "range_max": cells.get("range_max", ""),
                "sample_period_s": cells.get("sample_period_s", ""),
                "data_class": cells.get("data_class") or 2,
                "description": cells.get("description", ""),
                "key": key_text in _TRUE,
            })
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(p) for p in error["loc"]) or "range"
                row_errors.append(ImportError_(number, where, error["msg"]))
        if not row_errors and spec is not None:
            path = DevicePath(plant, cells["area"], cells["line"], cells["device"])
            sensor_id = path.sensor_id(cells["sensor"])
            if sensor_id in seen:
                row_errors.append(ImportError_(number, "sensor", f"{sensor_id} already given in row {seen[sensor_id]}"))
            else:
                seen[sensor_id] = number
                rows.append((path, cells["sensor"], spec))
        errors.extend(row_errors)
    return rows, errors


def sensors_csv(tree: AssetTree) -> str:
    """The plant's sensors as CSV with ``CSV_COLUMNS`` (importable as it is)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for area in tree.areas:
        for line in area.lines:
            for device in line.devices:
                for s in device.sensors:
                    writer.writerow([
                        area.id, line.id, device.id, s.id, s.name, s.unit, s.kind, repr(s.range_min),
                        repr(s.range_max), repr(s.sample_period_s), s.data_class, str(s.key).lower(), s.description,
                    ])  # fmt: skip
    return out.getvalue()


def parse_plant_yaml(text: str, plant: str) -> tuple[PlantFile | None, list[ImportError_]]:
    """A plant YAML for ``plant``; every validation error is reported with its location."""
    try:
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, [ImportError_(mark.line + 1 if mark else None, "", f"not valid YAML: {exc}")]
    try:
        plant_file = PlantFile.model_validate(raw)
    except ValidationError as exc:
        return None, [ImportError_(None, ".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
    if plant_file.plant.id != plant:
        return None, [ImportError_(None, "plant.id", f"file is for plant {plant_file.plant.id!r}, not {plant!r}")]
    return plant_file, []


def plant_yaml(tree: AssetTree) -> str:
    """The plant in the plant-file YAML format (importable as it is; no simulation blocks)."""
    document = {
        "version": 1,
        "plant": {
            "id": tree.id,
            "name": tree.name,
            "industry": tree.industry,
            "timezone": tree.timezone,
            "shifts": tree.shifts,
            "nameplate": {"value": tree.nameplate_value, "unit": tree.nameplate_unit},
            "gateway": tree.gateway,
            "areas": [
                {"id": a.id, "name": a.name, "lines": [
                    {"id": ln.id, "name": ln.name, "kind": ln.kind, "devices": [
                        {"id": d.id, "name": d.name, "sensors": [
                            {"id": s.id, "name": s.name, "unit": s.unit, "kind": s.kind,
                             "range": [s.range_min, s.range_max], "sample_period_s": s.sample_period_s,
                             "data_class": s.data_class, "description": s.description, "key": s.key}
                            for s in d.sensors
                        ]} for d in ln.devices
                    ]} for ln in a.lines
                ]} for a in tree.areas
            ],
        },
    }  # fmt: skip
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
