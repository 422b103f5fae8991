"""The bundled plant files: valid, complete for the issue's required sensors, realistic metadata."""

from __future__ import annotations

import pytest

from ganlink.assets import PlantFile, bundled_plant_files, load_plant_file

REQUIRED = {
    "guixi-smelter": {
        "reaction-shaft.shaft-temp": ("Cel", "temperature"),
        "settler.settler-temp": ("Cel", "temperature"),
        "uptake.offgas-so2": ("%", "concentration"),
        "feed-system.oxygen-enrichment": ("%", "concentration"),
        "rectifier-1.cell-current": ("kA", "current"),
        "rectifier-1.cell-voltage": ("V", "voltage"),
        "settler.slag-level": ("mm", "level"),
    },
    "liuzhou-auto": {
        "press-1.tonnage": ("kN", "force"),
        "press-1.stroke-count": ("{stroke}", "count"),
        "weld-robot-7.weld-current": ("kA", "current"),
        "spray-booth-2.booth-temp": ("Cel", "temperature"),
        "spray-booth-2.booth-humidity": ("%", "humidity"),
        "test-bench-3.output-torque": ("N.m", "torque"),
        "test-bench-3.housing-vibration": ("mm/s", "vibration"),
        "body-conveyor.conveyor-speed": ("m/min", "speed"),
        "press-1.machine-state": ("1", "state"),
        "press-1.good-count": ("{part}", "count"),
        "press-1.reject-count": ("{part}", "count"),
    },
    "conch-cement": {
        "rotary-kiln.burning-zone-temp": ("Cel", "temperature"),
        "rotary-kiln.kiln-motor-current": ("A", "current"),
        "rotary-kiln.kiln-drive-vibration": ("mm/s", "vibration"),
        "raw-mill.mill-power": ("kW", "power"),
        "grate-cooler.undergrate-pressure": ("kPa", "pressure"),
        "raw-mill.specific-energy": ("kWh/t", "energy"),
        "glass-furnace.crown-temp": ("Cel", "temperature"),
    },
}
INDUSTRY = {"guixi-smelter": "nonferrous", "liuzhou-auto": "automotive", "conch-cement": "building-materials"}


def _plants() -> dict[str, PlantFile]:
    files = [load_plant_file(path) for path in bundled_plant_files()]
    return {f.plant.id: f for f in files}


def test_three_plants_ship_one_per_industry() -> None:
    plants = _plants()
    assert {p: f.plant.industry.value for p, f in plants.items()} == INDUSTRY


@pytest.mark.parametrize("plant_id", sorted(REQUIRED))
def test_plant_holds_every_required_sensor_with_unit_and_kind(plant_id: str) -> None:
    plant_file = _plants()[plant_id]
    by_suffix = {f"{ref.device.device}.{ref.sensor.id}": ref.sensor for ref in plant_file.sensors()}
    for suffix, (unit, kind) in REQUIRED[plant_id].items():
        assert suffix in by_suffix, f"{plant_id} lacks {suffix}"
        assert (by_suffix[suffix].unit, by_suffix[suffix].kind) == (unit, kind), suffix


@pytest.mark.parametrize("plant_id", sorted(REQUIRED))
def test_plant_metadata_is_complete(plant_id: str) -> None:
    plant = _plants()[plant_id].plant
    assert plant.timezone == "Asia/Shanghai"
    assert plant.shifts
    assert plant.nameplate.value > 0
    hours = sum(s.hours for s in plant.shifts)
    assert 16 <= hours <= 24
    for area in plant.areas:
        for line in area.lines:
            expected = "discrete" if plant_id == "liuzhou-auto" else "continuous"
            assert line.kind == expected, line.id
            sensors = [s for d in line.devices for s in d.sensors]
            assert any(s.key for s in sensors), f"line {line.id} has no key sensor for its dashboard"
            assert all(s.sample_period_s in (1, 5) for s in sensors)


def test_every_discrete_machine_state_sensor_documents_its_values() -> None:
    states = [ref.sensor for ref in _plants()["liuzhou-auto"].sensors() if ref.sensor.kind == "state"]
    assert len(states) >= 3
    for sensor in states:
        assert sensor.range == (0, 3)
        assert "0 stopped" in sensor.name
        assert "2 fault" in sensor.name
