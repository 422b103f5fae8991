"""What the KPIs of a line are computed from: which sensors, the planned cycle time, the nameplate rate.

Plant YAML files describe sensors, not production targets, so targets live here: explicit entries
for the bundled plants, and for any other line a best guess from the sensor kinds (a ``state``
sensor with ``good-count``/``reject-count`` beside it; a ``flow`` sensor in t/h as throughput). A
target that cannot be known (planned cycle time, nameplate rate) stays None and the KPI that needs
it says so instead of inventing a number.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from ganlink.registry import SensorInfo

__all__ = ["BUNDLED_TARGETS", "PLANNED_BREAKS", "LineTargets", "targets_for"]


class LineTargets(BaseModel):
    """Sensors are named ``device/sensor`` within the line."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # discrete lines (ISO 22400 work units with a state signal and counters)
    state: str | None = None
    good_count: str | None = None
    reject_count: str | None = None
    planned_cycle_s: float | None = Field(None, gt=0, description="planned run time per unit (PRI)")
    # continuous lines
    throughput: str | None = Field(None, description="feed or product rate in t/h")
    product_factor: float = Field(1.0, gt=0, description="tonnes of product per tonne measured")
    nameplate_t_per_h: float | None = Field(None, gt=0, description="nameplate product rate")
    running_above_t_per_h: float | None = Field(None, ge=0, description="the line runs above this rate")
    power: tuple[str, ...] = Field((), description="power sensors in kW, integrated to kWh")
    specific_energy: str | None = Field(None, description="a kWh/t sensor, used when no power sensor is given")


# Planned breaks of discrete lines per shift: (hours after shift start, minutes). Continuous lines never stop.
PLANNED_BREAKS: dict[str, tuple[tuple[float, float], ...]] = {
    "liuzhou-auto": ((2.0, 10), (4.5, 40), (7.5, 10)),
}

BUNDLED_TARGETS: dict[tuple[str, str], LineTargets] = {
    ("liuzhou-auto", "press-line-1"): LineTargets(
        state="press-1/machine-state",
        good_count="press-1/good-count",
        reject_count="press-1/reject-count",
        planned_cycle_s=4.5,
    ),
    ("liuzhou-auto", "weld-line-1"): LineTargets(
        state="weld-robot-7/machine-state",
        good_count="weld-robot-7/good-count",
        reject_count="weld-robot-7/reject-count",
        planned_cycle_s=1.8,
    ),
    ("liuzhou-auto", "transmission-test-1"): LineTargets(
        state="test-bench-3/machine-state",
        good_count="test-bench-3/good-count",
        reject_count="test-bench-3/reject-count",
        planned_cycle_s=72.0,
    ),
    ("guixi-smelter", "flash-furnace-1"): LineTargets(
        throughput="feed-system/concentrate-feed", nameplate_t_per_h=200.0, running_above_t_per_h=20.0
    ),
    ("conch-cement", "raw-mill-1"): LineTargets(
        throughput="raw-mill/mill-feed",
        nameplate_t_per_h=450.0,
        running_above_t_per_h=40.0,
        power=("raw-mill/mill-power",),
        specific_energy="raw-mill/specific-energy",
    ),
    ("conch-cement", "kiln-line-1"): LineTargets(
        # raw meal to clinker is about 1.65 t per t; the 5000 t/d nameplate is clinker
        throughput="kiln-feed/feed-rate",
        product_factor=0.606,
        nameplate_t_per_h=5000 / 24,
        running_above_t_per_h=30.0,
    ),
}


def _local(info: SensorInfo) -> str:
    return f"{info.device}/{info.id}"


def _guess(kind: str, sensors: Sequence[SensorInfo]) -> LineTargets:
    if kind == "discrete":
        state = next((s for s in sensors if s.kind == "state"), None)
        if state is None:
            return LineTargets()
        beside = {s.id: _local(s) for s in sensors if s.device == state.device and s.kind == "count"}
        return LineTargets(
            state=_local(state), good_count=beside.get("good-count"), reject_count=beside.get("reject-count")
        )
    flow = next((s for s in sensors if s.kind == "flow" and s.unit == "t/h"), None)
    if flow is None:
        return LineTargets()
    return LineTargets(
        throughput=_local(flow),
        running_above_t_per_h=0.05 * flow.range_max,
        power=tuple(_local(s) for s in sensors if s.kind == "power" and s.unit == "kW"),
        specific_energy=next((_local(s) for s in sensors if s.kind == "energy" and s.unit == "kWh/t"), None),
    )


def targets_for(plant: str, line: str, kind: str, sensors: Sequence[SensorInfo]) -> LineTargets:
    """The line's targets: the bundled entry when there is one, else guessed from its sensors."""
    return BUNDLED_TARGETS.get((plant, line)) or _guess(kind, sensors)
