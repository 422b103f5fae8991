"""The OPC UA connector and browse against a real asyncua server started by the test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from asyncua import Server, ua

from ganlink.errors import ConfigError
from ganlink.schema import Quality
from ganlink.servers import free_port
from gateway.connectors.opcua import OpcUaConnector, quality_of, to_reading_value
from gateway.connectors.profile import OpcUaProfile, load_profile
from gateway.onboarding import browse_opcua, commission_profile, draft_opcua_profile, slug_of


@dataclass
class Furnace:
    url: str
    crown: Any
    pressure: Any
    running: Any
    namespace: int


@pytest.fixture
async def furnace() -> AsyncIterator[Furnace]:
    url = f"opc.tcp://127.0.0.1:{free_port()}/ganlink/"
    server = Server()
    await server.init()
    server.set_endpoint(url)
    ns = await server.register_namespace("urn:ganlink:test:float-line-1")
    furnace = await server.nodes.objects.add_object(ns, "GlassFurnace")
    crown = await furnace.add_variable(ua.NodeId("Furnace.CrownTemp", ns), "CrownTemp", 1580.0)
    pressure = await furnace.add_variable(ua.NodeId("Furnace.Pressure", ns), "FurnacePressure", 8.5)
    running = await furnace.add_variable(ua.NodeId("Furnace.Running", ns), "Running", True)
    await furnace.add_variable(ua.NodeId("Furnace.Recipe", ns), "Recipe", "float-6mm")
    async with server:
        yield Furnace(url, crown, pressure, running, ns)


def profile(furnace: Furnace, mode: str = "subscribe") -> OpcUaProfile:
    ns = furnace.namespace
    return OpcUaProfile.model_validate(
        {
            "version": 1,
            "connector": "opcua",
            "device": {
                "plant": "conch-cement", "area": "float-glass", "line": "float-line-1", "device": "glass-furnace"
            },
            "connection": {"url": furnace.url, "timeout_s": 4},
            "mode": mode,
            "sensors": [
                {"id": "crown-temp", "node": f"ns={ns};s=Furnace.CrownTemp", "unit": "Cel", "kind": "temperature",
                 "range": [1300, 1700], "sample_period_s": 0.1},
                {"id": "furnace-pressure", "node": f"ns={ns};s=Furnace.Pressure", "unit": "Pa", "kind": "pressure",
                 "sample_period_s": 0.1},
                {"id": "running", "node": f"ns={ns};s=Furnace.Running", "unit": "1", "kind": "state",
                 "sample_period_s": 0.1},
            ],
        }
    )


def test_status_codes_map_to_quality_and_values_to_numbers() -> None:
    assert quality_of(0) is Quality.GOOD
    assert quality_of(ua.StatusCodes.UncertainLastUsableValue) is Quality.UNCERTAIN
    assert quality_of(ua.StatusCodes.BadSensorFailure) is Quality.BAD
    assert to_reading_value(True) == 1.0
    assert to_reading_value(7) == 7.0
    assert to_reading_value("float-6mm") is None
    assert to_reading_value(float("nan")) is None


async def test_subscription_carries_source_time_and_status_into_readings(furnace: Furnace) -> None:
    async with OpcUaConnector(profile(furnace)) as connector:
        batches = connector.batches()
        first: dict[str, Any] = {}
        while len(first) < 3:
            first |= {r.sensor: r for r in await asyncio.wait_for(anext(batches), 5)}
        assert {s: r.value for s, r in first.items()} == {"crown-temp": 1580.0, "furnace-pressure": 8.5, "running": 1.0}
        source_time = datetime.now(UTC) - timedelta(seconds=30)
        await furnace.crown.write_value(
            ua.DataValue(
                ua.Variant(1612.25, ua.VariantType.Double),
                StatusCode=ua.StatusCode(ua.StatusCodes.UncertainLastUsableValue),
                SourceTimestamp=source_time,
            )
        )
        change = (await asyncio.wait_for(anext(batches), 5))[0]
    assert connector.mode == "subscribe"
    assert (change.sensor, change.value, change.quality) == ("crown-temp", 1612.25, Quality.UNCERTAIN)
    assert change.time_ns == int(source_time.timestamp()) * 1_000_000_000 + source_time.microsecond * 1000
    assert change.device.device == "glass-furnace"


async def test_polling_fallback_reads_every_node(furnace: Furnace) -> None:
    async with OpcUaConnector(profile(furnace, mode="poll")) as connector:
        batch = await asyncio.wait_for(anext(connector.batches()), 5)
    assert {r.sensor: r.value for r in batch} == {"crown-temp": 1580.0, "furnace-pressure": 8.5, "running": 1.0}
    assert connector.counters.polls == 1


async def test_browse_lists_numeric_variables_and_drafts_a_profile(furnace: Furnace, tmp_path: Path) -> None:
    variables = await browse_opcua(furnace.url)
    by_path = {v.path: v for v in variables}
    assert set(by_path) == {"GlassFurnace/CrownTemp", "GlassFurnace/FurnacePressure", "GlassFurnace/Running"}
    assert by_path["GlassFurnace/CrownTemp"].value == 1580.0
    draft = tmp_path / "furnace.yaml"
    target = ("conch-cement", "float-glass", "float-line-1", "furnace")
    draft.write_text(draft_opcua_profile(furnace.url, variables, target))
    with pytest.raises(ConfigError, match="unit") as caught:  # units left for the integrator
        load_profile(draft)
    assert caught.value.line is not None
    draft.write_text(draft.read_text().replace("unit: ''", "unit: '1'"))
    loaded = load_profile(draft)
    assert [p.id for p in loaded.sensors] == ["crown-temp", "furnace-pressure", "running"]


async def test_commissioning_an_opcua_profile_reports_source_clock_skew(furnace: Furnace, tmp_path: Path) -> None:
    path = tmp_path / "furnace.yaml"
    body = profile(furnace).model_dump(mode="json")
    path.write_text(yaml.safe_dump(body))
    device, reports = await commission_profile(path, seconds=1.0)
    assert device == "conch-cement.float-glass.float-line-1.glass-furnace"
    by_sensor = {r.sensor: r for r in reports}
    assert by_sensor["crown-temp"].samples >= 3
    assert by_sensor["crown-temp"].skew_ms is not None  # OPC UA carries source time
    assert by_sensor["running"].passed


def test_slugs_from_browse_names() -> None:
    assert slug_of("CrownTemp") == "crown-temp"
    assert slug_of("Furnace Pressure (Pa)") == "furnace-pressure-pa"
