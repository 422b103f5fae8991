"""The workshop page in real headless Chromium against `ganlink api run` with live data in the store:
live values, anomaly marks, data-gap shading, and a viewer's read-only alarm list."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ganlink.assets import PlantFile
from ganlink.embedded_store import EmbeddedStore
from ganlink.registry import Registry, Role
from ganlink.schema import AnomalyEvent, Reading
from ganlink.servers import free_port, wait_for_port

from ..conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

GAS = "test-smelter.smelting.furnace-1.burner-1.gas-temp"


@pytest.fixture
def served(tmp_path: Path, plant_files: dict[str, PlantFile]) -> Iterator[tuple[str, str, Path]]:
    """`ganlink api run` on a free port over a registry with the test plants; yields (url, token, data dir)."""
    registry = Registry(f"sqlite:///{tmp_path / 'registry.sqlite'}")
    registry.create_schema()
    for plant_file in plant_files.values():
        registry.load_plant_file(plant_file)
    _, token = registry.create_api_key(Role.VIEWER, name="page test")
    registry.close()
    port = free_port()
    env = {**os.environ, "GANLINK_DATA_DIR": str(tmp_path), "GANLINK_INFLUX_URL": ""}
    env.pop("GANLINK_INFLUX_URL")
    log = (tmp_path / "api.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "ganlink", "api", "run", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    try:
        wait_for_port(port, timeout_s=20)
        yield f"http://127.0.0.1:{port}", token, tmp_path
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@contextlib.asynccontextmanager
async def live_feed(data_dir: Path) -> AsyncIterator[None]:
    """Write a new gas temperature (and press force) every 0.5 s while the page runs, plus an anomaly; the
    gas temperature's history covers the chart window but for one minute (200 s to 140 s ago)."""
    store = await EmbeddedStore.open(data_dir / "timeseries.sqlite")
    from ganlink.topics import DevicePath  # noqa: PLC0415

    furnace = DevicePath("test-smelter", "smelting", "furnace-1", "burner-1")
    press = DevicePath("test-auto", "stamping", "press-line-1", "press-1")
    now = time.time_ns()
    history = [
        Reading(furnace, "gas-temp", now - k * 1_000_000_000, 1200.0 + k % 7)
        for k in range(1, 700)
        if not 140 < k < 200
    ]
    await store.write_readings(history)
    await store.write_events([AnomalyEvent(furnace, "gas-temp", "zscore", now - 30_000_000_000, 0.95, 1290.0, "al-1")])

    async def feed() -> None:
        tick = 0
        while True:
            tick += 1
            stamp = time.time_ns()
            await store.write_readings(
                [
                    Reading(furnace, "gas-temp", stamp, 1200.0 + 50 * math.sin(tick / 3)),
                    Reading(press, "force", stamp, 3000.0 + tick),
                ]
            )
            await asyncio.sleep(0.5)

    task = asyncio.create_task(feed())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await store.close()


async def test_page_shows_live_values_that_change(served: tuple[str, str, Path]) -> None:
    from playwright.async_api import async_playwright  # noqa: PLC0415

    url, token, data_dir = served
    ARTIFACTS.mkdir(exist_ok=True)
    async with live_feed(data_dir), async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1500, "height": 950})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(f"{url}/#token={token}")

            # The first plant (test-auto) opens by default; its overview card must show live values too.
            overview = page.locator('.plant-card[data-plant="test-auto"] [data-sensor$=".force"]')
            await overview.filter(has_text="kN").wait_for(timeout=15_000)
            await page.locator('.plant-card[data-plant="test-smelter"]').click()

            value = page.locator(f'.chart[data-sensor="{GAS}"] .chart-value')
            await page.wait_for_function(
                "sel => { const n = document.querySelector(sel); return n && /\\d/.test(n.textContent); }",
                arg=f'.chart[data-sensor="{GAS}"] .chart-value',
                timeout=15_000,
            )
            first = await value.text_content()
            await page.wait_for_function(
                "([sel, before]) => document.querySelector(sel).textContent !== before",
                arg=[f'.chart[data-sensor="{GAS}"] .chart-value', first],
                timeout=15_000,
            )
            second = await value.text_content()
            assert first != second
            assert "Cel" in (second or "")

            anomaly = page.locator("#anomalies li").first
            await anomaly.filter(has_text="score 0.95").wait_for(timeout=15_000)
            chart = f'.chart[data-sensor="{GAS}"]'
            await page.wait_for_function(
                "sel => document.querySelector(sel).dataset.markers === '1'", arg=chart, timeout=10_000
            )
            # the one-minute hole is shaded, and nothing else in the window
            await page.wait_for_function(
                "sel => document.querySelector(sel).dataset.gaps === '1'", arg=chart, timeout=10_000
            )
            assert "no data for 60 s" in (await page.locator(chart).get_attribute("title") or "")
            # The server's alarm sync turns the stored event into an active alarm; a viewer sees it read-only.
            alarm = page.locator('#alarms li[data-alarm="al-1"]')
            await alarm.wait_for(timeout=15_000)
            assert await page.locator("#alarms button").count() == 0
            assert await page.locator("#alarms .read-only").count() == 1
            assert "#token" not in page.url  # the token leaves the address bar once stored
            await page.screenshot(path=str(ARTIFACTS / "workshop-page.png"), full_page=True)
            assert errors == []
        finally:
            await browser.close()
