"""/onboarding with a mapping: the target fields start at the seen path, an integrator maps the sensor
elsewhere in the plant, and the list shows its backfill until it is done (run here by the collector's
mover against the page's own registry and store, as a running collector would)."""

from __future__ import annotations

import time

import pytest

from collector.aliases import SensorAliases
from collector.backfill import SeriesMover
from ganlink.embedded_store import EmbeddedStore
from ganlink.registry import Registry
from ganlink.schema import Reading
from ganlink.topics import DevicePath

from .conftest import Served
from .test_pages import api_get, browser_page

pytestmark = pytest.mark.browser

S = 1_000_000_000
WIRE = DevicePath("conch-cement", "clinker", "kiln-line-1", "dev-unknown")
WIRE_ID = WIRE.sensor_id("t7")
TARGET_ID = "conch-cement.clinker.kiln-line-1.burner.temp-inlet"


async def test_onboarding_page_maps_a_pending_sensor_and_shows_its_backfill(served: Served) -> None:
    now = time.time_ns()
    kept = [Reading(WIRE, "t7", now - k * 5 * S, 800.0 + (k % 5)) for k in range(60)]
    registry = Registry(f"sqlite:///{served.data_dir / 'registry.sqlite'}")
    store = await EmbeddedStore.open(served.data_dir / "timeseries.sqlite")
    try:
        await store.write_readings(kept)
        registry.report_unknown_readings(kept)
        async with browser_page(f"{served.url}/onboarding", served.tokens["integrator"]) as (page, errors):
            await page.wait_for_selector("body[data-loaded=true]", timeout=20_000)
            await page.select_option("#pick-plant", "conch-cement")
            await page.locator(f'#pending-rows tr[data-sensor="{WIRE_ID}"]').click()
            await page.locator("#report .kv").wait_for()
            form = "#approve-form input"
            seen = [await page.input_value(f'{form}[name="target_{k}"]') for k in ("area", "line", "device", "sensor")]
            assert seen == ["clinker", "kiln-line-1", "dev-unknown", "t7"]
            await page.fill(f'{form}[name="target_device"]', "burner")
            await page.fill(f'{form}[name="target_sensor"]', "temp-inlet")
            await page.fill(f'{form}[name="unit"]', "Cel")
            await page.fill(f'{form}[name="kind"]', "temperature")
            await page.locator("#approve").click()
            await page.locator(".notice.ok").wait_for(timeout=10_000)
            assert "move there" in (await page.locator(".notice").text_content() or "")

            await page.select_option("#pick-status", "all")
            cell = page.locator(f'#pending-rows tr[data-sensor="{WIRE_ID}"] td.backfill')
            await cell.locator("text=backfill queued").wait_for(timeout=10_000)
            mover = SeriesMover(registry, store, SensorAliases(registry), worker="page-test", settle_s=0.0)
            assert await mover.run_once()
            await cell.locator("text=backfill done · 60 moved").wait_for(timeout=10_000)  # the page looks again
            assert "clinker.kiln-line-1.burner.temp-inlet" in (await cell.text_content() or "")
            assert errors == []
    finally:
        await store.close()
        registry.close()
    series = api_get(served, f"/api/v1/sensors/{TARGET_ID}/range?start=now-1h", "integrator")
    assert sorted(p[1] for p in series["points"]) == sorted(r.value for r in kept)
