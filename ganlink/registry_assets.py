"""The asset tree part of the registry: read it, load plant files into it, change it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from ganlink.assets import PlantFile
from ganlink.registry_core import RegistryCore, sensor_info
from ganlink.registry_records import AreaNode, AssetTree, DeviceNode, LineNode, PlantInfo, SensorInfo, SensorSpec
from ganlink.registry_tables import areas, devices, lines, plants, sensors
from ganlink.topics import DevicePath, is_slug

__all__ = ["AssetRegistry"]


class AssetRegistry(RegistryCore):
    """Plants, areas, lines, devices and sensors."""

    # -- asset tree -------------------------------------------------------------------------

    def load_plant_file(self, plant_file: PlantFile) -> int:
        """Upsert a plant's asset tree (idempotent); returns how many sensors it defines.

        Assets missing from the file are kept: they may have been onboarded through the API.
        """
        plant = plant_file.plant
        plant_row = {
            "id": plant.id,
            "name": plant.name,
            "industry": str(plant.industry),
            "timezone": plant.timezone,
            "shifts": [s.model_dump(mode="json") for s in plant.shifts],
            "nameplate_value": plant.nameplate.value,
            "nameplate_unit": plant.nameplate.unit,
            "gateway": plant.gateway,
            "updated_ns": time.time_ns(),
        }
        area_rows = [{"plant": plant.id, "id": a.id, "name": a.name or a.id} for a in plant.areas]
        line_rows = [
            {"plant": plant.id, "area": a.id, "id": ln.id, "name": ln.name or ln.id, "kind": ln.kind}
            for a in plant.areas
            for ln in a.lines
        ]
        device_rows = [
            {"plant": plant.id, "area": a.id, "line": ln.id, "id": d.id, "name": d.name or d.id}
            for a in plant.areas
            for ln in a.lines
            for d in ln.devices
        ]
        sensor_rows = [
            {
                "sensor_id": ref.sensor_id,
                "plant": ref.device.plant,
                "area": ref.device.area,
                "line": ref.device.line,
                "device": ref.device.device,
                "id": ref.sensor.id,
                "name": ref.sensor.name or ref.sensor.id,
                "unit": ref.sensor.unit,
                "kind": ref.sensor.kind,
                "range_min": ref.sensor.range[0],
                "range_max": ref.sensor.range[1],
                "sample_period_s": ref.sensor.sample_period_s,
                "data_class": ref.sensor.data_class,
                "description": ref.sensor.description,
                "key": ref.sensor.key,
            }
            for ref in plant_file.sensors()
        ]
        with self._begin() as conn:
            for table, rows in (
                (plants, [plant_row]),
                (areas, area_rows),
                (lines, line_rows),
                (devices, device_rows),
                (sensors, sensor_rows),
            ):
                self._upsert(conn, table, rows)
        return len(sensor_rows)

    def is_empty(self) -> bool:
        with self._begin() as conn:
            return conn.execute(select(plants.c.id).limit(1)).first() is None

    def plants(self) -> list[PlantInfo]:
        with self._begin() as conn:
            rows = conn.execute(select(plants).order_by(plants.c.id)).all()
        return [PlantInfo.model_validate(dict(r._mapping)) for r in rows]

    def plant(self, plant_id: str) -> PlantInfo | None:
        with self._begin() as conn:
            row = conn.execute(select(plants).where(plants.c.id == plant_id)).first()
        return PlantInfo.model_validate(dict(row._mapping)) if row else None

    def asset_tree(self, plant_id: str) -> AssetTree | None:
        """The plant with all its areas, lines, devices and sensors, ordered by id."""
        with self._begin() as conn:
            plant_row = conn.execute(select(plants).where(plants.c.id == plant_id)).first()
            if plant_row is None:
                return None
            area_rows = conn.execute(select(areas).where(areas.c.plant == plant_id).order_by(areas.c.id)).all()
            line_rows = conn.execute(select(lines).where(lines.c.plant == plant_id).order_by(lines.c.id)).all()
            device_rows = conn.execute(select(devices).where(devices.c.plant == plant_id).order_by(devices.c.id)).all()
            sensor_rows = conn.execute(select(sensors).where(sensors.c.plant == plant_id).order_by(sensors.c.id)).all()
        sensors_of: dict[tuple[str, str, str], list[SensorInfo]] = {}
        for row in sensor_rows:
            info = sensor_info(row)
            sensors_of.setdefault((info.area, info.line, info.device), []).append(info)
        devices_of: dict[tuple[str, str], list[DeviceNode]] = {}
        for d in device_rows:
            node = DeviceNode(id=d.id, name=d.name, sensors=sensors_of.get((d.area, d.line, d.id), []))
            devices_of.setdefault((d.area, d.line), []).append(node)
        lines_of: dict[str, list[LineNode]] = {}
        for ln in line_rows:
            line_node = LineNode(id=ln.id, name=ln.name, kind=ln.kind, devices=devices_of.get((ln.area, ln.id), []))
            lines_of.setdefault(ln.area, []).append(line_node)
        return AssetTree(
            **dict(plant_row._mapping),
            areas=[AreaNode(id=a.id, name=a.name, lines=lines_of.get(a.id, [])) for a in area_rows],
        )

    def line(self, plant: str, area: str, line: str) -> LineNode | None:
        """One line with its devices and sensors."""
        query = select(lines).where(lines.c.plant == plant, lines.c.area == area, lines.c.id == line)
        device_query = (
            select(devices)
            .where(devices.c.plant == plant, devices.c.area == area, devices.c.line == line)
            .order_by(devices.c.id)
        )
        with self._begin() as conn:
            row = conn.execute(query).first()
            device_rows = conn.execute(device_query).all() if row else []
        if row is None:
            return None
        sensors_by_device: dict[str, list[SensorInfo]] = {}
        for info in self.sensors_of(plant, area, line):
            sensors_by_device.setdefault(info.device, []).append(info)
        nodes = [DeviceNode(id=d.id, name=d.name, sensors=sensors_by_device.get(d.id, [])) for d in device_rows]
        return LineNode(id=row.id, name=row.name, kind=row.kind, devices=nodes)

    def sensor(self, sensor_id: str) -> SensorInfo | None:
        """One sensor by its dotted full id."""
        with self._begin() as conn:
            row = conn.execute(select(sensors).where(sensors.c.sensor_id == sensor_id)).first()
        return sensor_info(row) if row else None

    def sensors_of(
        self, plant: str, area: str | None = None, line: str | None = None, *, key_only: bool = False
    ) -> list[SensorInfo]:
        """Sensors of a plant, narrowed to an area and line when given; ``key_only`` keeps key sensors."""
        query = select(sensors).where(sensors.c.plant == plant)
        if area is not None:
            query = query.where(sensors.c.area == area)
        if line is not None:
            query = query.where(sensors.c.line == line)
        if key_only:
            query = query.where(sensors.c.key.is_(True))
        query = query.order_by(sensors.c.area, sensors.c.line, sensors.c.device, sensors.c.id)
        with self._begin() as conn:
            return [sensor_info(r) for r in conn.execute(query).all()]

    def key_sensors(self, plant: str, area: str | None = None, line: str | None = None) -> list[SensorInfo]:
        return self.sensors_of(plant, area, line, key_only=True)

    # -- changing the asset tree (integrators) -----------------------------------------------

    def upsert_plant(self, plant: PlantInfo) -> bool:
        """Create or change a plant's own fields; True when it was created."""
        row = plant.model_dump() | {"updated_ns": time.time_ns()}
        with self._begin() as conn:
            created = conn.execute(select(plants.c.id).where(plants.c.id == plant.id)).first() is None
            self._upsert(conn, plants, [row])
        return created

    @staticmethod
    def _require(conn: Connection, table: Table, where: dict[str, str], what: str) -> None:
        query = select(table.c.id).where(*(table.c[k] == v for k, v in where.items()))
        if conn.execute(query).first() is None:
            raise LookupError(f"{what} does not exist; create it first")

    def upsert_area(self, plant: str, area: str, name: str = "") -> None:
        with self._begin() as conn:
            self._require(conn, plants, {"id": plant}, f"plant {plant}")
            self._upsert(conn, areas, [{"plant": plant, "id": area, "name": name or area}])

    def upsert_line(self, plant: str, area: str, line: str, name: str = "", kind: str = "continuous") -> None:
        with self._begin() as conn:
            self._require(conn, areas, {"plant": plant, "id": area}, f"area {plant}/{area}")
            self._upsert(conn, lines, [{"plant": plant, "area": area, "id": line, "name": name or line, "kind": kind}])

    def upsert_device(self, path: DevicePath, name: str = "") -> None:
        with self._begin() as conn:
            self._require(conn, lines, {"plant": path.plant, "area": path.area, "id": path.line}, "its line")
            row = {"plant": path.plant, "area": path.area, "line": path.line, "id": path.device}
            self._upsert(conn, devices, [row | {"name": name or path.device}])

    @staticmethod
    def _sensor_row(path: DevicePath, sensor: str, spec: SensorSpec) -> dict[str, Any]:
        return {
            "sensor_id": path.sensor_id(sensor),
            "plant": path.plant,
            "area": path.area,
            "line": path.line,
            "device": path.device,
            "id": sensor,
            **spec.model_dump(),
            "name": spec.name or sensor,
        }

    def upsert_sensor(self, path: DevicePath, sensor: str, spec: SensorSpec) -> bool:
        """Create or change a sensor of an existing device; True when it was created."""
        if not is_slug(sensor):
            raise ValueError(f"sensor id {sensor!r} is not a slug")
        with self._begin() as conn:
            where = {"plant": path.plant, "area": path.area, "line": path.line, "id": path.device}
            self._require(conn, devices, where, f"device {path.plant}/{path.area}/{path.line}/{path.device}")
            created = conn.execute(select(sensors.c.id).where(sensors.c.sensor_id == path.sensor_id(sensor))).first()
            self._upsert(conn, sensors, [self._sensor_row(path, sensor, spec)])
        return created is None

    def apply_sensor_specs(self, specs: Sequence[tuple[DevicePath, str, SensorSpec]]) -> tuple[int, int]:
        """Create or change many sensors in one transaction, creating missing areas, lines and devices
        (the plants must exist); returns (created, updated)."""
        with self._begin() as conn:
            for plant in {path.plant for path, _, _ in specs}:
                self._require(conn, plants, {"id": plant}, f"plant {plant}")
            ids = [path.sensor_id(sensor) for path, sensor, _ in specs]
            known = {r.sensor_id for r in conn.execute(select(sensors.c.sensor_id).where(sensors.c.sensor_id.in_(ids)))}
            self._ensure_parents(conn, [path for path, _, _ in specs])
            self._upsert(conn, sensors, [self._sensor_row(path, sensor, spec) for path, sensor, spec in specs])
        created = len(set(ids) - known)
        return created, len(set(ids)) - created

    def _ensure_parents(self, conn: Connection, paths: Sequence[DevicePath]) -> None:
        """Insert missing areas, lines and devices (named by their ids), leaving existing ones alone."""
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        for table, rows in (
            (areas, {(p.plant, p.area): {"plant": p.plant, "id": p.area, "name": p.area} for p in paths}),
            (
                lines,
                {
                    (p.plant, p.area, p.line): {
                        "plant": p.plant,
                        "area": p.area,
                        "id": p.line,
                        "name": p.line,
                        "kind": "continuous",
                    }
                    for p in paths
                },
            ),
            (
                devices,
                {
                    (p.plant, p.area, p.line, p.device): {
                        "plant": p.plant,
                        "area": p.area,
                        "line": p.line,
                        "id": p.device,
                        "name": p.device,
                    }
                    for p in paths
                },
            ),
        ):
            if rows:
                conn.execute(dialect.insert(table).on_conflict_do_nothing(), list(rows.values()))

    def delete_asset(
        self, plant: str, area: str | None = None, line: str | None = None, device: str | None = None
    ) -> bool:
        """Delete a plant, area, line or device with everything below it; True when it existed."""
        levels = [("plant", plant), ("area", area), ("line", line), ("device", device)]
        given = [(name, value) for name, value in levels if value is not None]
        if [name for name, _ in given] != [name for name, _ in levels[: len(given)]]:
            raise ValueError("give the levels from the plant down without gaps")
        table = (plants, areas, lines, devices)[len(given) - 1]
        own = {"plant": "id", "area": "id", "line": "id", "device": "id"}[given[-1][0]]
        where = [table.c[name] == value for name, value in given[:-1]] + [table.c[own] == given[-1][1]]
        sensor_where = [sensors.c[name] == value for name, value in given]
        with self._begin() as conn:
            # Delete children explicitly too: SQLite foreign keys may be off on foreign connections.
            conn.execute(sensors.delete().where(*sensor_where))
            for child in (devices, lines, areas)[: 4 - len(given)][::-1]:
                conn.execute(child.delete().where(*(child.c[name] == value for name, value in given)))
            return conn.execute(table.delete().where(*where)).rowcount > 0

    def delete_sensor(self, sensor_id: str) -> bool:
        with self._begin() as conn:
            return conn.execute(sensors.delete().where(sensors.c.sensor_id == sensor_id)).rowcount > 0
