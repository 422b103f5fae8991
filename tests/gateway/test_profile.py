"""Device profile errors say file, line and what to fix, before anything connects."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganlink.errors import ConfigError
from gateway.connectors.profile import load_profile

REPO = Path(__file__).resolve().parents[2]
HEAD = """version: 1
connector: modbus
device: {plant: conch-cement, area: clinker, line: kiln-line-1, device: kiln-drive-plc}
connection: {host: 127.0.0.1, port: 5020}
sensors:
"""


def write(tmp_path: Path, sensors: str) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(HEAD + sensors)
    return path


def error_of(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_profile(path)
    return caught.value


def test_shipped_profile_is_valid() -> None:
    profile = load_profile(REPO / "deploy" / "gateway" / "profiles" / "kiln-drive-plc.yaml")
    assert [p.id for p in profile.sensors][:2] == ["motor-current", "motor-speed"]


def test_unknown_register_type_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "  - {id: a, table: holding, address: 0, type: uint16, unit: A}\n"
                           "  - {id: b, table: holding, address: 1, type: float16, unit: A}\n")
    error = error_of(path)
    assert (error.path, error.line) == (str(path), 7)
    assert "sensors.1.type" in error.what
    assert "float32" in error.what  # lists what is allowed


def test_overlapping_addresses_name_both_points_and_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "  - {id: current, table: holding, address: 100, type: float32, unit: A}\n"
                           "  - {id: speed, table: holding, address: 101, type: uint16, unit: r/min}\n"
                           "  - {id: temp, table: input, address: 101, type: int16, unit: Cel}\n")
    error = error_of(path)
    assert error.line == 7
    assert "speed" in error.what
    assert "overlaps current at register 101" in error.what


def test_missing_unit_is_reported_on_its_sensor(tmp_path: Path) -> None:
    path = write(tmp_path, "  - {id: a, table: holding, address: 0, type: uint16, unit: A}\n"
                           "  - {id: b, table: input, address: 0, type: int16}\n")
    error = error_of(path)
    assert error.line == 7
    assert "unit is missing" in error.what


def test_bool_on_a_holding_register_is_refused(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "  - {id: run, table: holding, address: 0, type: bool, unit: '1'}\n"))
    assert error.line == 6
    assert "coils and discrete inputs are bool" in error.what


def test_duplicate_sensor_ids_are_refused(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "  - {id: a, table: coil, address: 0, type: bool, unit: '1'}\n"
                                     "  - {id: a, table: coil, address: 1, type: bool, unit: '1'}\n"))
    assert error.line == 7
    assert "used twice" in error.what


def test_unknown_connector_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\nconnector: profibus\n")
    error = error_of(path)
    assert error.line == 2
    assert "profibus" in error.what
