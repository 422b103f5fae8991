"""The gateway's own YAML (one per gateway), validated with a ``version`` field.

Example (deploy/gateway/guixi-smelter.yaml)::

    version: 1
    plant: guixi-smelter        # a bundled plant id, or a plant YAML path relative to this file
    gateway: gw-guixi-1         # optional; defaults to the plant's gateway id
    mqtt_url: mqtt://127.0.0.1:1883   # GANLINK_MQTT_URL, when set, wins
    seed: 7
    speed: 1.0
    faults: {per_sensor_per_day: 2.0}  # optional; overrides the plant file's simulation.faults
    simulate: true              # run the simulated plant (false: only the field devices below)
    output: ganlink             # or sparkplug: Sparkplug B 3.0 edge node (group = plant, node = gateway)
    devices: [profiles/kiln-drive-plc.yaml]   # device profiles, relative to this file
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from ganlink.assets import PlantFile, bundled_plant_files, load_plant_file
from ganlink.errors import ConfigError
from ganlink.settings import Settings
from gateway.simulator import FaultSettings

__all__ = ["GatewayConfig", "OutboxConfig", "load_gateway_config", "outbox_path", "resolve_plant_file"]

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


class OutboxConfig(BaseModel):
    """Store-and-forward on disk: every reading is committed here before it is published."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    path: Path | None = Field(None, description="SQLite file; default <data_dir>/outbox/<gateway>.sqlite")
    budget_hours: float = Field(24.0, gt=0, description="how much backlog to keep at the current rate")
    max_readings: int | None = Field(None, gt=0, description="hard cap; default from budget_hours")
    when_full: Literal["drop-oldest", "drop-newest"] = "drop-oldest"
    backfill_readings_per_s: float = Field(20_000.0, gt=0, description="replay rate of the historical lane")
    durable: bool = Field(False, description="fsync every commit (survives power loss, costs throughput)")


class GatewayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    plant: str = Field(min_length=1, description="bundled plant id or path to a plant YAML")
    gateway: Slug | None = None
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    seed: int = 0
    speed: float = Field(1.0, gt=0)
    faults: FaultSettings | None = None
    simulate: bool = Field(True, description="run the plant simulator as one of the connectors")
    output: Literal["ganlink", "sparkplug"] = Field(
        "ganlink", description="ganlink/v1 topics (with the outbox), or Sparkplug B 3.0 as an edge node"
    )
    devices: list[Path] = Field(default_factory=list, description="device profiles (Modbus, ...) to poll")
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)


def _line_of(document: str, location: tuple[int | str, ...]) -> int | None:
    node = yaml.compose(document)
    for key in location:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == key), None)
        else:
            break
        if node is None:
            return None
    return int(node.start_mark.line) + 1 if node is not None else None


def load_gateway_config(path: Path, settings: Settings | None = None) -> GatewayConfig:
    """Read a gateway YAML; a set ``GANLINK_MQTT_URL`` replaces its ``mqtt_url``."""
    try:
        document = path.read_text(encoding="utf-8")
        raw = yaml.safe_load(document)
    except OSError as exc:
        raise ConfigError(f"cannot read gateway config: {exc.strerror}", path=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"not valid YAML: {exc}", path=str(path), line=mark.line + 1 if mark else None) from None
    try:
        config = GatewayConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"{where}: {first['msg']}", path=str(path), line=_line_of(document, tuple(first["loc"]))
        ) from None
    if settings is not None and "mqtt_url" in settings.model_fields_set:
        config = config.model_copy(update={"mqtt_url": settings.mqtt_url})
    return config


def resolve_plant_file(plant: str, relative_to: Path | None = None) -> PlantFile:
    """A bundled plant by id (``guixi-smelter``) or a plant YAML by path."""
    bundled = {p.stem: p for p in bundled_plant_files()}
    if plant in bundled:
        return load_plant_file(bundled[plant])
    path = Path(plant)
    if relative_to is not None and not path.is_absolute():
        path = relative_to / path
    if not path.exists():
        raise ConfigError(f"plant {plant!r} is neither a bundled plant ({', '.join(sorted(bundled))}) nor a file")
    return load_plant_file(path)


def outbox_path(config: GatewayConfig, config_path: Path, data_dir: Path) -> Path:
    """Where this gateway's outbox lives: the configured path (relative to the config file) or
    ``<data_dir>/outbox/<gateway>.sqlite``."""
    if config.outbox.path is not None:
        path = config.outbox.path
        return path if path.is_absolute() else config_path.parent / path
    gateway = config.gateway or resolve_plant_file(config.plant, config_path.parent).plant.gateway
    return data_dir / "outbox" / f"{gateway}.sqlite"
