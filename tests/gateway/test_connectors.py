"""The connector plug-in contract: a registry loaded lazily, and missing extras named clearly."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ganlink.assets import bundled_plant_files, load_plant_file
from ganlink.errors import ConfigError
from gateway.connectors import Connector, MissingExtra, load_connector_class
from gateway.connectors.factory import connector_from_profile
from gateway.connectors.simulated import SimulatedPlant

REPO = Path(__file__).resolve().parents[2]


def test_every_registered_connector_loads_and_the_simulator_is_one() -> None:
    for name in ("simulator", "modbus", "opcua"):
        assert load_connector_class(name).name == name
    plant = load_plant_file(bundled_plant_files()[0])
    assert isinstance(SimulatedPlant(plant, seed=1), Connector)


def test_unknown_connector_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="known: modbus, mqtt, opcua, simulator"):
        load_connector_class("profibus")


def test_missing_optional_library_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pymodbus", None)  # as if the extra were not installed
    with pytest.raises(MissingExtra) as caught:
        connector_from_profile(REPO / "deploy" / "gateway" / "profiles" / "kiln-drive-plc.yaml")
    assert caught.value.extra == "modbus"
    assert "pip install 'ganlink[modbus]'" in str(caught.value)


def test_shipped_profile_builds_its_connector() -> None:
    connector = connector_from_profile(REPO / "deploy" / "gateway" / "profiles" / "kiln-drive-plc.yaml")
    assert connector.name == "modbus"
    assert isinstance(connector, Connector)
