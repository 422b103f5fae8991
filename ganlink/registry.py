"""The relational registry: plants, areas, lines, devices, sensors, API keys, alarms, pending sensors
and the audit log (SQLAlchemy 2.x Core; SQLite by default, any SQLAlchemy URL such as PostgreSQL).

Calls are short and synchronous; async callers may run them directly or in a thread.
Writers besides the API: the collector records unknown sensors with :meth:`Registry.report_unknown_sensor`
and analytics opens and updates alarm rows in the ``alarms`` table (columns below are the contract).
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.schema import CreateColumn

from ganlink.alarms import Alarm, Comment, Label, Severity
from ganlink.assets import PlantFile, bundled_plant_files, load_plant_file
from ganlink.errors import GanlinkError
from ganlink.schema import Reading
from ganlink.settings import Settings
from ganlink.topics import DevicePath, is_slug

__all__ = [
    "ALL_PLANTS",
    "TOKEN_PREFIX",
    "ApiKey",
    "AreaNode",
    "AssetTree",
    "DeviceNode",
    "LineNode",
    "PendingSensor",
    "PlantInfo",
    "Registry",
    "RegistryError",
    "Role",
    "SensorInfo",
    "SensorSpec",
    "alarm_comments",
    "alarms",
    "api_keys",
    "audit_log",
    "hash_token",
    "metadata",
    "pending_sensors",
]

ALL_PLANTS = "*"
TOKEN_PREFIX = "glk_"  # noqa: S105 - a visible prefix, not a secret


class RegistryError(GanlinkError):
    """The registry database failed; ``url`` names which one (without credentials)."""

    def __init__(self, message: str, *, url: str) -> None:
        self.url = url
        super().__init__(f"{message} (registry {url})")


class Role(StrEnum):
    VIEWER = "viewer"
    ENGINEER = "engineer"
    INTEGRATOR = "integrator"
    MANAGER = "manager"
    ADMIN = "admin"


metadata = MetaData()

plants = Table(
    "plants",
    metadata,
    Column("id", String(63), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("industry", String(40), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("shifts", JSON, nullable=False),
    Column("nameplate_value", Float, nullable=False),
    Column("nameplate_unit", String(40), nullable=False),
    Column("gateway", String(63), nullable=False),
    Column("updated_ns", BigInteger, nullable=False),
)
areas = Table(
    "areas",
    metadata,
    Column("plant", String(63), primary_key=True),
    Column("id", String(63), primary_key=True),
    Column("name", String(200), nullable=False),
    ForeignKeyConstraint(["plant"], ["plants.id"], ondelete="CASCADE"),
)
lines = Table(
    "lines",
    metadata,
    Column("plant", String(63), primary_key=True),
    Column("area", String(63), primary_key=True),
    Column("id", String(63), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    ForeignKeyConstraint(["plant", "area"], ["areas.plant", "areas.id"], ondelete="CASCADE"),
)
devices = Table(
    "devices",
    metadata,
    Column("plant", String(63), primary_key=True),
    Column("area", String(63), primary_key=True),
    Column("line", String(63), primary_key=True),
    Column("id", String(63), primary_key=True),
    Column("name", String(200), nullable=False),
    ForeignKeyConstraint(["plant", "area", "line"], ["lines.plant", "lines.area", "lines.id"], ondelete="CASCADE"),
)
sensors = Table(
    "sensors",
    metadata,
    Column("sensor_id", String(320), primary_key=True),  # dotted full path
    Column("plant", String(63), nullable=False),
    Column("area", String(63), nullable=False),
    Column("line", String(63), nullable=False),
    Column("device", String(63), nullable=False),
    Column("id", String(63), nullable=False),
    Column("name", String(200), nullable=False),
    Column("unit", String(40), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("range_min", Float, nullable=False),
    Column("range_max", Float, nullable=False),
    Column("sample_period_s", Float, nullable=False),
    Column("data_class", Integer, nullable=False),
    Column("description", Text, nullable=False),
    Column("key", Boolean, nullable=False),
    ForeignKeyConstraint(
        ["plant", "area", "line", "device"],
        ["devices.plant", "devices.area", "devices.line", "devices.id"],
        ondelete="CASCADE",
    ),
    Index("ix_sensors_line", "plant", "area", "line"),
)
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 hex of the token
    Column("role", String(20), nullable=False),
    Column("plants", JSON, nullable=False),  # ["*"] or a list of plant ids
    Column("created_ns", BigInteger, nullable=False),
    Column("revoked_ns", BigInteger, nullable=True),
)
# Alarms, one row per ganlink.alarms.Alarm (analytics raises and clears, the API acknowledges, shelves,
# labels); the state is derived from the *_ns columns as Alarm.status does. Comments live in alarm_comments.
alarms = Table(
    "alarms",
    metadata,
    Column("id", String(64), primary_key=True),  # AnomalyEvent.alarm_id
    Column("sensor_id", String(320), nullable=False),
    Column("plant", String(63), nullable=False),
    Column("area", String(63), nullable=False),
    Column("line", String(63), nullable=False),
    Column("detector", String(63), nullable=False),
    Column("model_version", String(63), nullable=False),
    Column("severity", String(20), nullable=False),  # ganlink.alarms.Severity
    Column("raised_ns", BigInteger, nullable=False),
    Column("details", JSON, nullable=False),
    Column("cleared_ns", BigInteger, nullable=True),
    Column("acknowledged_ns", BigInteger, nullable=True),
    Column("acknowledged_by", String(200), nullable=True),
    Column("shelved_until_ns", BigInteger, nullable=True),
    Column("shelved_by", String(200), nullable=True),
    Column("label", String(20), nullable=True),  # ganlink.alarms.Label
    Column("labeled_by", String(200), nullable=True),
    Column("updated_ns", BigInteger, nullable=False),
    Index("ix_alarms_line_raised", "plant", "area", "line", "raised_ns"),
    Index("ix_alarms_sensor_raised", "sensor_id", "raised_ns"),
)
alarm_comments = Table(
    "alarm_comments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alarm_id", String(64), nullable=False, index=True),
    Column("user", String(200), nullable=False),
    Column("time_ns", BigInteger, nullable=False),
    Column("text", Text, nullable=False),
)
# Sensors the collector saw on the wire but the registry does not know (onboarding queue).
pending_sensors = Table(
    "pending_sensors",
    metadata,
    Column("sensor_id", String(320), primary_key=True),
    Column("plant", String(63), nullable=False),
    Column("area", String(63), nullable=False),
    Column("line", String(63), nullable=False),
    Column("device", String(63), nullable=False),
    Column("sensor", String(63), nullable=False),
    Column("first_seen_ns", BigInteger, nullable=False),
    Column("last_seen_ns", BigInteger, nullable=False),
    Column("seen_count", Integer, nullable=False),
    Column("last_value", Float, nullable=True),
    Column("status", String(20), nullable=False),  # pending | accepted | rejected
)
# Append-only: rows are inserted, never updated or deleted.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time_ns", BigInteger, nullable=False),
    Column("actor", String(200), nullable=False),  # "key <id> <name>", "cli", "anonymous"
    Column("action", String(60), nullable=False),
    Column("target", String(320), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("source", String(100), nullable=False, server_default=""),  # client address
    Column("result", String(40), nullable=False, server_default="ok"),  # ok, denied, rejected, ...
)


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class SensorInfo(_Record):
    """A sensor's registry metadata with its ISA-95 path."""

    sensor_id: str
    plant: str
    area: str
    line: str
    device: str
    id: str
    name: str
    unit: str
    kind: str
    range_min: float
    range_max: float
    sample_period_s: float
    data_class: int
    description: str
    key: bool

    @property
    def device_path(self) -> DevicePath:
        return DevicePath(self.plant, self.area, self.line, self.device)


class DeviceNode(_Record):
    id: str
    name: str
    sensors: list[SensorInfo]


class LineNode(_Record):
    id: str
    name: str
    kind: str
    devices: list[DeviceNode]


class AreaNode(_Record):
    id: str
    name: str
    lines: list[LineNode]


class PlantInfo(_Record):
    id: str
    name: str
    industry: str
    timezone: str
    shifts: list[dict[str, Any]]
    nameplate_value: float
    nameplate_unit: str
    gateway: str


class AssetTree(PlantInfo):
    """A plant with its areas, lines, devices and sensors."""

    areas: list[AreaNode]


class SensorSpec(_Record):
    """What a person sets when creating or onboarding a sensor (the path comes separately)."""

    name: str = Field("", max_length=200)
    unit: str = Field(min_length=1, max_length=40)
    kind: str = Field(min_length=1, max_length=40)
    range_min: float
    range_max: float
    sample_period_s: float = Field(gt=0, le=86400)
    data_class: int = Field(2, ge=1, le=3)
    description: str = Field("", max_length=2000)
    key: bool = False

    @model_validator(mode="after")
    def _range_ordered(self) -> SensorSpec:
        if not (math.isfinite(self.range_min) and math.isfinite(self.range_max)):
            raise ValueError("range_min and range_max must be finite")
        if self.range_min >= self.range_max:
            raise ValueError(f"range_min {self.range_min} must be below range_max {self.range_max}")
        return self


class PendingSensor(_Record):
    """A sensor seen on the wire but not in the registry; its readings are stored as they arrive."""

    sensor_id: str
    plant: str
    area: str
    line: str
    device: str
    sensor: str
    first_seen_ns: int
    last_seen_ns: int
    seen_count: int
    last_value: float | None
    status: str


class ApiKey(_Record):
    """An API key as stored (never the token itself)."""

    id: int
    name: str
    role: Role
    plants: list[str]
    created_ns: int

    def can_see_plant(self, plant: str) -> bool:
        return ALL_PLANTS in self.plants or plant in self.plants


def hash_token(token: str) -> str:
    """The stored form of a token: sha256 hex (tokens are 256-bit random, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _sensor_info(row: Any) -> SensorInfo:
    return SensorInfo.model_validate(dict(row._mapping))


def _enable_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class Registry:
    """The registry database; build with a SQLAlchemy URL, call :meth:`create_schema` once."""

    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        self.url = url
        self._safe_url = url.rsplit("@", maxsplit=1)[-1]
        self.engine = engine or create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _enable_sqlite_pragmas)

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            message = f"{type(exc).__name__}: {exc.args[0] if exc.args else exc}"
            raise RegistryError(message, url=self._safe_url) from exc

    @classmethod
    def from_settings(cls, settings: Settings, *, load_bundled: bool = True) -> Registry:
        """The configured registry with its schema; loads the bundled plant files when it is empty."""
        if settings.registry_url is None:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        registry = cls(settings.resolved_registry_url)
        registry.create_schema()
        if load_bundled and registry.is_empty():
            for path in bundled_plant_files():
                registry.load_plant_file(load_plant_file(path))
        return registry

    def create_schema(self) -> None:
        """Create missing tables and add missing nullable/defaulted columns (idempotent, additive only)."""
        with self._begin() as conn:
            metadata.create_all(conn)
            existing = inspect(conn)
            for table in metadata.sorted_tables:
                present = {c["name"] for c in existing.get_columns(table.name)}
                for column in table.columns:
                    if column.name not in present:
                        ddl = CreateColumn(column).compile(dialect=conn.dialect)
                        conn.execute(text(f'ALTER TABLE "{table.name}" ADD COLUMN {ddl}'))

    def close(self) -> None:
        self.engine.dispose()

    def _upsert(self, conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        keys = [c.name for c in table.primary_key.columns]
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(table)
        updates = {c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys}
        conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=updates), list(rows))

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
            info = _sensor_info(row)
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
        return _sensor_info(row) if row else None

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
            return [_sensor_info(r) for r in conn.execute(query).all()]

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

    # -- onboarding: sensors seen but not registered --------------------------------------------

    def known_sensor_ids(self, plant: str | None = None) -> set[str]:
        """Every registered sensor id (of one plant when given), for callers that cache the check."""
        query = select(sensors.c.sensor_id)
        if plant is not None:
            query = query.where(sensors.c.plant == plant)
        with self._begin() as conn:
            return {r.sensor_id for r in conn.execute(query)}

    def report_unknown_readings(self, readings: Sequence[Reading]) -> int:
        """Record readings of sensors the registry does not know as pending (the collector calls this
        and still stores the readings, so nothing is lost). Returns how many sensors became newly pending.
        Readings of registered or rejected sensors are ignored here."""
        newest: dict[str, Reading] = {}
        counts: dict[str, int] = {}
        for reading in readings:
            sid = reading.sensor_id
            counts[sid] = counts.get(sid, 0) + 1
            if sid not in newest or reading.time_ns > newest[sid].time_ns:
                newest[sid] = reading
        if not newest:
            return 0
        ids = list(newest)
        with self._begin() as conn:
            registered = {
                r.sensor_id for r in conn.execute(select(sensors.c.sensor_id).where(sensors.c.sensor_id.in_(ids)))
            }
            pending = {
                r.sensor_id: r
                for r in conn.execute(select(pending_sensors).where(pending_sensors.c.sensor_id.in_(ids)))
            }
            added = 0
            for sid, reading in newest.items():
                if sid in registered:
                    continue
                row = pending.get(sid)
                if row is None:
                    conn.execute(
                        pending_sensors.insert().values(
                            sensor_id=sid,
                            plant=reading.device.plant,
                            area=reading.device.area,
                            line=reading.device.line,
                            device=reading.device.device,
                            sensor=reading.sensor,
                            first_seen_ns=reading.time_ns,
                            last_seen_ns=reading.time_ns,
                            seen_count=counts[sid],
                            last_value=reading.value,
                            status="pending",
                        )
                    )
                    added += 1
                elif row.status == "pending":
                    conn.execute(
                        pending_sensors.update()
                        .where(pending_sensors.c.sensor_id == sid)
                        .values(
                            last_seen_ns=max(row.last_seen_ns, reading.time_ns),
                            first_seen_ns=min(row.first_seen_ns, reading.time_ns),
                            seen_count=row.seen_count + counts[sid],
                            last_value=reading.value if reading.time_ns >= row.last_seen_ns else row.last_value,
                        )
                    )
        return added

    def pending_sensors(self, plant: str, status: str | None = "pending") -> list[PendingSensor]:
        query = select(pending_sensors).where(pending_sensors.c.plant == plant)
        if status is not None:
            query = query.where(pending_sensors.c.status == status)
        with self._begin() as conn:
            rows = conn.execute(query.order_by(pending_sensors.c.sensor_id)).all()
        return [PendingSensor.model_validate(dict(r._mapping)) for r in rows]

    def pending_sensor(self, sensor_id: str) -> PendingSensor | None:
        with self._begin() as conn:
            row = conn.execute(select(pending_sensors).where(pending_sensors.c.sensor_id == sensor_id)).first()
        return PendingSensor.model_validate(dict(row._mapping)) if row else None

    def approve_pending(self, sensor_id: str, spec: SensorSpec) -> SensorInfo:
        """Register a pending sensor at the path it was seen on (creating missing area, line and device);
        its readings already stored under that path become visible as its normal series."""
        with self._begin() as conn:
            row = conn.execute(select(pending_sensors).where(pending_sensors.c.sensor_id == sensor_id)).first()
            if row is None or row.status != "pending":
                raise LookupError(f"no pending sensor {sensor_id}")
            self._require(conn, plants, {"id": row.plant}, f"plant {row.plant}")
            path = DevicePath(row.plant, row.area, row.line, row.device)
            self._ensure_parents(conn, [path])
            self._upsert(conn, sensors, [self._sensor_row(path, row.sensor, spec)])
            conn.execute(
                pending_sensors.update().where(pending_sensors.c.sensor_id == sensor_id).values(status="accepted")
            )
        info = self.sensor(sensor_id)
        assert info is not None
        return info

    def reject_pending(self, sensor_id: str) -> bool:
        """Mark a pending sensor rejected (its later readings are no longer listed); True when it was pending."""
        query = pending_sensors.update().where(
            pending_sensors.c.sensor_id == sensor_id, pending_sensors.c.status == "pending"
        )
        with self._begin() as conn:
            return conn.execute(query.values(status="rejected")).rowcount > 0

    # -- API keys ---------------------------------------------------------------------------

    def create_api_key(
        self, role: Role, plants_scope: Iterable[str] = (ALL_PLANTS,), name: str = ""
    ) -> tuple[ApiKey, str]:
        """Create a key; returns it with the token, which is shown once and stored only hashed."""
        scope = sorted(set(plants_scope)) or [ALL_PLANTS]
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = {
            "name": name or f"{role}-key",
            "token_hash": hash_token(token),
            "role": str(Role(role)),
            "plants": [ALL_PLANTS] if ALL_PLANTS in scope else scope,
            "created_ns": time.time_ns(),
        }
        with self._begin() as conn:
            key_id = conn.execute(api_keys.insert().values(**row)).inserted_primary_key[0]  # type: ignore[index]
        key = ApiKey(id=key_id, name=row["name"], role=Role(role), plants=row["plants"], created_ns=row["created_ns"])
        return key, token

    def authenticate(self, token: str) -> ApiKey | None:
        """The live key a token belongs to, or None."""
        query = select(api_keys).where(api_keys.c.token_hash == hash_token(token), api_keys.c.revoked_ns.is_(None))
        with self._begin() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return ApiKey(id=row.id, name=row.name, role=Role(row.role), plants=list(row.plants), created_ns=row.created_ns)

    def revoke_api_key(self, key_id: int) -> bool:
        query = api_keys.update().where(api_keys.c.id == key_id, api_keys.c.revoked_ns.is_(None))
        with self._begin() as conn:
            return conn.execute(query.values(revoked_ns=time.time_ns())).rowcount > 0

    # -- alarms -----------------------------------------------------------------------------

    @staticmethod
    def _alarm_row(alarm: Alarm) -> dict[str, Any]:
        plant, area, line = alarm.sensor_id.split(".")[:3]
        return {
            "id": alarm.id,
            "sensor_id": alarm.sensor_id,
            "plant": plant,
            "area": area,
            "line": line,
            "detector": alarm.detector,
            "model_version": alarm.model_version,
            "severity": str(alarm.severity),
            "raised_ns": alarm.raised_ns,
            "details": alarm.details,
            "cleared_ns": alarm.cleared_ns,
            "acknowledged_ns": alarm.acknowledged_ns,
            "acknowledged_by": alarm.acknowledged_by,
            "shelved_until_ns": alarm.shelved_until_ns,
            "shelved_by": alarm.shelved_by,
            "label": str(alarm.label) if alarm.label else None,
            "labeled_by": alarm.labeled_by,
            "updated_ns": time.time_ns(),
        }

    @staticmethod
    def _alarm_of(row: Any, comments: Sequence[Any]) -> Alarm:
        return Alarm(
            id=row.id,
            sensor_id=row.sensor_id,
            detector=row.detector,
            model_version=row.model_version,
            severity=Severity(row.severity),
            raised_ns=row.raised_ns,
            details=dict(row.details),
            cleared_ns=row.cleared_ns,
            acknowledged_ns=row.acknowledged_ns,
            acknowledged_by=row.acknowledged_by,
            shelved_until_ns=row.shelved_until_ns,
            shelved_by=row.shelved_by,
            label=Label(row.label) if row.label else None,
            labeled_by=row.labeled_by,
            comments=tuple(Comment(c.user, c.time_ns, c.text) for c in comments),
        )

    def _load_alarms(self, conn: Connection, rows: Sequence[Any]) -> list[Alarm]:
        ids = [r.id for r in rows]
        comments: dict[str, list[Any]] = {}
        if ids:
            query = select(alarm_comments).where(alarm_comments.c.alarm_id.in_(ids)).order_by(alarm_comments.c.id)
            for c in conn.execute(query).all():
                comments.setdefault(c.alarm_id, []).append(c)
        return [self._alarm_of(r, comments.get(r.id, [])) for r in rows]

    def open_alarm(self, alarm: Alarm) -> bool:
        """Record a newly raised alarm; False (and nothing changes) when its id is already known."""
        with self._begin() as conn:
            if conn.execute(select(alarms.c.id).where(alarms.c.id == alarm.id)).first() is not None:
                return False
            conn.execute(alarms.insert().values(**self._alarm_row(alarm)))
            self._insert_comments(conn, alarm.id, alarm.comments)
        return True

    @staticmethod
    def _insert_comments(conn: Connection, alarm_id: str, comments: Sequence[Comment]) -> None:
        if comments:
            rows = [{"alarm_id": alarm_id, "user": c.user, "time_ns": c.time_ns, "text": c.text} for c in comments]
            conn.execute(alarm_comments.insert(), rows)

    def update_alarm(self, alarm_id: str, change: Callable[[Alarm], Alarm]) -> Alarm | None:
        """Apply one transition atomically (the row is locked first); None when the alarm is unknown.

        ``change`` may raise (e.g. AlarmTransitionError); then nothing is written.
        """
        with self._begin() as conn:
            # Take the write lock before reading so concurrent writers cannot lose an update.
            touched = conn.execute(
                alarms.update().where(alarms.c.id == alarm_id).values(updated_ns=alarms.c.updated_ns)
            ).rowcount
            if not touched:
                return None
            row = conn.execute(select(alarms).where(alarms.c.id == alarm_id)).one()
            (before,) = self._load_alarms(conn, [row])
            after = change(before)
            values = self._alarm_row(after)
            del values["id"]
            conn.execute(alarms.update().where(alarms.c.id == alarm_id).values(**values))
            self._insert_comments(conn, alarm_id, after.comments[len(before.comments) :])
        return after

    def alarm(self, alarm_id: str) -> Alarm | None:
        with self._begin() as conn:
            row = conn.execute(select(alarms).where(alarms.c.id == alarm_id)).first()
            return self._load_alarms(conn, [row])[0] if row else None

    def alarm_plant(self, alarm_id: str) -> str | None:
        """The plant an alarm belongs to (for scope checks), or None when unknown."""
        with self._begin() as conn:
            row = conn.execute(select(alarms.c.plant).where(alarms.c.id == alarm_id)).first()
        return str(row.plant) if row else None

    def alarms(
        self,
        plant: str,
        area: str | None = None,
        line: str | None = None,
        *,
        active_only: bool = False,
        since_ns: int | None = None,
        limit: int = 200,
    ) -> list[Alarm]:
        """Alarms of a plant (narrowed to an area and line), newest first."""
        query = select(alarms).where(alarms.c.plant == plant)
        if area is not None:
            query = query.where(alarms.c.area == area)
        if line is not None:
            query = query.where(alarms.c.line == line)
        if active_only:
            query = query.where(alarms.c.cleared_ns.is_(None))
        if since_ns is not None:
            query = query.where(alarms.c.raised_ns >= since_ns)
        query = query.order_by(alarms.c.raised_ns.desc(), alarms.c.id).limit(limit)
        with self._begin() as conn:
            return self._load_alarms(conn, conn.execute(query).all())

    def alarm_labels(self, sensor_id: str, recent: int = 20) -> list[Label | None]:
        """Labels of a sensor's most recent alarms, oldest first (input to ganlink.alarms.sensitivity_for)."""
        query = (
            select(alarms.c.label)
            .where(alarms.c.sensor_id == sensor_id)
            .order_by(alarms.c.raised_ns.desc())
            .limit(recent)
        )
        with self._begin() as conn:
            labels = [Label(r.label) if r.label else None for r in conn.execute(query).all()]
        return labels[::-1]

    # -- audit ------------------------------------------------------------------------------

    def audit(
        self,
        actor: str,
        action: str,
        target: str,
        detail: dict[str, Any] | None = None,
        *,
        source: str = "",
        result: str = "ok",
    ) -> None:
        """Append one audit record: who (actor), what (action on target), from where (source), result."""
        row = {
            "time_ns": time.time_ns(),
            "actor": actor,
            "action": action,
            "target": target,
            "detail": json.loads(json.dumps(detail or {}, default=str)),
            "source": source,
            "result": result,
        }
        with self._begin() as conn:
            conn.execute(audit_log.insert().values(**row))

    def audit_records(
        self, *, limit: int = 100, before_id: int | None = None, actor: str | None = None, action: str | None = None
    ) -> list[dict[str, Any]]:
        """Audit records, newest first; page back with ``before_id``."""
        query = select(audit_log)
        if before_id is not None:
            query = query.where(audit_log.c.id < before_id)
        if actor is not None:
            query = query.where(audit_log.c.actor == actor)
        if action is not None:
            query = query.where(audit_log.c.action == action)
        with self._begin() as conn:
            rows = conn.execute(query.order_by(audit_log.c.id.desc()).limit(limit)).all()
        return [dict(r._mapping) for r in rows]
