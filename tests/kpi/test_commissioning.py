"""Commissioning report of a pending sensor from its stored readings."""

from __future__ import annotations

from typing import Any

from api.commissioning import MIN_READINGS, commissioning_report
from ganlink.registry import Registry
from ganlink.schema import Reading
from ganlink.topics import DevicePath

from .conftest import KILN

S = 1_000_000_000


def test_a_steady_sensor_with_enough_readings_is_ready_with_a_suggested_range() -> None:
    report = commissioning_report([(k * 5 * S, 20.0 + (k % 7)) for k in range(60)])
    assert report.ready
    assert report.median_period_s == 5.0
    assert report.minimum == 20.0
    assert report.maximum == 26.0
    assert report.suggested_range is not None
    low, high = report.suggested_range
    assert low <= 20.0
    assert high >= 26.0


def test_stuck_values_gaps_and_too_few_readings_are_findings() -> None:
    stuck = commissioning_report([(k * S, 4.0) for k in range(40)])
    assert not stuck.ready
    assert any("never changes" in f for f in stuck.findings)
    gappy = commissioning_report([(k * S, float(k)) for k in range(40)] + [(500 * S, 1.0)])
    assert any("gaps up to" in f for f in gappy.findings)
    few = commissioning_report([(0, 1.0), (S, 2.0)])
    assert any(str(MIN_READINGS) in f for f in few.findings)
    assert commissioning_report([]).findings == ["no readings stored yet"]


async def test_the_sample_route_returns_stored_readings_of_a_pending_sensor(
    client: Any, registry: Registry, store: Any
) -> None:
    from ganlink.registry import Role  # noqa: PLC0415

    device = DevicePath(KILN, "clinker", "kiln-1", "kiln")
    readings = [Reading(device, "shell-scanner", 1_800_000_000 * S + k * S, 300.0 + k) for k in range(40)]
    await store.write_readings(readings)
    registry.report_unknown_readings(readings)
    sensor_id = device.sensor_id("shell-scanner")
    integrator = {"Authorization": f"Bearer {registry.create_api_key(Role.INTEGRATOR, [KILN])[1]}"}
    viewer = {"Authorization": f"Bearer {registry.create_api_key(Role.VIEWER, [KILN])[1]}"}
    response = await client.get(f"/api/v1/pending-sensors/{sensor_id}/sample", headers=integrator)
    assert response.status_code == 200
    body = response.json()
    assert len(body["readings"]) == 40
    assert body["readings"][-1]["value"] == 339.0
    assert body["report"]["ready"] is True
    assert body["report"]["median_period_s"] == 1.0
    assert (await client.get(f"/api/v1/pending-sensors/{sensor_id}/sample", headers=viewer)).status_code == 403
    missing = await client.get(f"/api/v1/pending-sensors/{KILN}.clinker.kiln-1.kiln.nothing/sample", headers=integrator)
    assert missing.status_code == 404
