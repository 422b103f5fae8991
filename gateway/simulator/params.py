"""The ``simulation:`` blocks of a plant YAML, validated (the registry ignores them; only we read them).

Per sensor (``sensor.simulation``), ``model`` picks the signal:

- ``process`` (default): ``base`` scaled by the line's production rate for the ``load`` share of it,
  plus a daily cycle of amplitude ``daily`` (peak mid-afternoon, plant time), plus ``gain`` times the
  deviation of each sensor in ``follows`` from its own base, plus AR(1) noise (``noise`` std,
  ``noise_corr`` lag-1 correlation), quantized to ``resolution``. With ``state`` (a machine-state
  sensor) the value is ``idle`` whenever that machine is not running.
- ``state``: a machine state, 0 stopped / 1 running / 2 fault / 3 changeover; faults arrive at
  ``fault_per_h`` and last ``fault_mean_s`` on average; changeover for ``changeover_min`` at shift start.
- ``counter``: a cumulative count growing at ``rate_per_s`` times the line rate while ``state`` runs,
  or taking a ``share`` of each increment of the counter ``share_of`` (good/reject splits).

Sensor references are ``sensor`` (same device) or ``device/sensor`` (same line).

Plant level (``PlantFile.simulation``): ``shift_rates`` by shift name, ``breaks`` (discrete lines stop),
``rate_wander`` (slow variation of the rate), per-line overrides in ``lines``, and ``faults``: injected
sensor faults, ``per_sensor_per_day`` of ``kinds`` lasting ``min_s``..``max_s``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ganlink.assets import PlantFile
from ganlink.errors import ConfigError

__all__ = [
    "Break",
    "FaultKind",
    "FaultSettings",
    "FollowTerm",
    "LineSettings",
    "PlantSimulationSettings",
    "SignalParams",
    "plant_settings",
    "signal_params",
]


class FaultKind(StrEnum):
    DRIFT = "drift"
    SPIKE = "spike"
    STUCK = "stuck"
    STEP = "step"
    VIBRATION = "vibration"
    DROPOUT = "dropout"


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FollowTerm(_Params):
    sensor: str
    gain: float


class SignalParams(_Params):
    model: Literal["process", "state", "counter"] = "process"
    base: float | None = None
    load: float = Field(0.0, ge=0, le=1)
    daily: float = 0.0
    noise: float = Field(0.0, ge=0)
    noise_corr: float = Field(0.8, ge=0, lt=1)
    resolution: float = Field(0.0, ge=0)
    follows: list[FollowTerm] = Field(default_factory=list)
    state: str | None = None
    idle: float = 0.0
    fault_per_h: float = Field(0.0, ge=0)
    fault_mean_s: float = Field(180.0, gt=0)
    changeover_min: float = Field(0.0, ge=0)
    rate_per_s: float = Field(0.0, ge=0)
    share_of: str | None = None
    share: float = Field(0.0, ge=0, le=1)
    faults: bool = True


class Break(_Params):
    after_h: float = Field(ge=0, lt=24)
    minutes: float = Field(gt=0)


class LineSettings(_Params):
    shift_rates: dict[str, float] = Field(default_factory=dict)
    breaks: list[Break] | None = None


class FaultSettings(_Params):
    per_sensor_per_day: float = Field(0.0, ge=0)
    kinds: list[FaultKind] = Field(default_factory=lambda: list(FaultKind))
    min_s: float = Field(120.0, gt=0)
    max_s: float = Field(1800.0, gt=0, le=3600)


class PlantSimulationSettings(_Params):
    shift_rates: dict[str, float] = Field(default_factory=dict)
    breaks: list[Break] = Field(default_factory=list)
    rate_wander: float = Field(0.0, ge=0, lt=0.5)
    lines: dict[str, LineSettings] = Field(default_factory=dict)
    faults: FaultSettings = Field(default_factory=FaultSettings)


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"


def plant_settings(plant_file: PlantFile) -> PlantSimulationSettings:
    """The plant-level simulation settings; ConfigError says what is wrong."""
    try:
        return PlantSimulationSettings.model_validate(plant_file.simulation)
    except ValidationError as exc:
        raise ConfigError(f"plant {plant_file.plant.id} simulation.{_first_error(exc)}") from None


def signal_params(sensor_id: str, raw: dict[str, object]) -> SignalParams:
    """One sensor's simulation parameters; ConfigError names the sensor."""
    try:
        return SignalParams.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"sensor {sensor_id} simulation.{_first_error(exc)}") from None
