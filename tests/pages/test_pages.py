"""The pages in real headless Chromium (Debian's, never a downloaded one) against `ganlink api run`
over three simulated hours of the bundled plants: live values on /, the comparison with formulas,
CSV export and scorecard on /compare, approving a pending sensor on /onboarding. Screenshots go to
artifacts/."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import math
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ganlink.alarms import Alarm, Severity
from ganlink.embedded_store import EmbeddedStore
from ganlink.registry import Registry
from ganlink.schema import Reading
from ganlink.topics import DevicePath

from ..conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from .conftest import NEW_PROBE_ID, Served

pytestmark = pytest.mark.browser

KILN_FEED = DevicePath("conch-cement", "clinker", "kiln-line-1", "kiln-feed")


@contextlib.asynccontextmanager
async def browser_page(url: str, token: str) -> AsyncIterator[tuple[Any, list[str]]]:
    from playwright.async_api import async_playwright  # noqa: PLC0415

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1500, "height": 950}, accept_downloads=True)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(f"{url}#token={token}")
            yield page, errors
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def live_kiln_feed(data_dir: Path) -> AsyncIterator[None]:
    """A new kiln feed rate every 0.5 s while the page runs (the simulated history ends at fixture time)."""
    store = await EmbeddedStore.open(data_dir / "timeseries.sqlite")

    async def feed() -> None:
        tick = 0
        while True:
            tick += 1
            value = 350.0 + 15 * math.sin(tick / 2)
            await store.write_readings([Reading(KILN_FEED, "feed-rate", time.time_ns(), value)])
            await asyncio.sleep(0.5)

    task = asyncio.create_task(feed())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await store.close()


def api_get(served: Served, path: str, role: str) -> Any:
    request = urllib.request.Request(served.url + path, headers={"Authorization": f"Bearer {served.tokens[role]}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


async def test_workshop_page_shows_live_values_that_change(served: Served) -> None:
    selector = f'.plant-card[data-plant="conch-cement"] [data-sensor="{KILN_FEED.sensor_id("feed-rate")}"]'
    workshop = browser_page(f"{served.url}/", served.tokens["engineer"])
    async with live_kiln_feed(served.data_dir), workshop as (page, errors):
        await page.wait_for_function(
            "sel => { const n = document.querySelector(sel); return n && /\\d/.test(n.textContent); }",
            arg=selector, timeout=20_000,
        )
        first = await page.locator(selector).text_content()
        await page.wait_for_function(
            "([sel, before]) => document.querySelector(sel).textContent !== before",
            arg=[selector, first], timeout=20_000,
        )
        assert await page.locator(selector).text_content() != first
        await page.wait_for_timeout(1500)  # let the line charts draw before the picture
        await page.screenshot(path=str(ARTIFACTS / "workshop.png"))
        assert errors == []


async def test_compare_page_shows_kpis_with_formulas_exports_csv_and_scores(served: Served) -> None:
    async with browser_page(f"{served.url}/compare?start=now-3h&end=now", served.tokens["manager"]) as (page, errors):
        await page.wait_for_selector("body[data-loaded=true]", timeout=60_000)
        headers = await page.locator("#kpi-table thead th").all_text_contents()
        assert len(headers) == 4  # KPI column + three plants
        assert any("Liuzhou" in h for h in headers)

        oee = page.locator('#kpi-table tr[data-row="oee"] td[data-kpi="oee"]')
        assert await oee.count() == 1  # only the automotive plant has discrete lines
        assert "%" in (await oee.text_content() or "")
        await oee.click()
        popover = page.locator("#popover")
        await popover.wait_for(state="visible")
        assert "OEE = A x E x QR" in (await popover.text_content() or "")

        completeness = page.locator('#kpi-table tr[data-row="completeness"] td[data-kpi="completeness"]')
        assert await completeness.count() == 3

        assert await page.locator(".scorecard").count() == 3
        assert await page.locator('.scorecard[data-plant="guixi-smelter"] .score-row').count() == 7
        await page.locator('.scorecard[data-plant="guixi-smelter"] .score-row[data-part="mtta"]').click()
        assert "MTTA" in (await popover.text_content() or "")
        await page.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)

        async with page.expect_download() as download_info:
            await page.locator("#export-csv").click()
        download = await download_info.value
        rows = list(csv.DictReader(io.StringIO(Path(await download.path()).read_text(encoding="utf-8"))))
        assert {r["plant"] for r in rows} == {"conch-cement", "guixi-smelter", "liuzhou-auto"}
        assert any(r["kpi"] == "oee" and r["value"] for r in rows)
        assert errors == []

    # what the page showed is what the API computes
    api_oee = next(k for p in api_get(served, "/api/v1/compare", "manager")["plants"] if p["plant"] == "liuzhou-auto"
                   for k in p["kpis"] if k["key"] == "oee")
    assert 0 < api_oee["value"] < 1


async def test_onboarding_page_approves_a_pending_sensor(served: Served) -> None:
    async with browser_page(f"{served.url}/onboarding", served.tokens["integrator"]) as (page, errors):
        await page.wait_for_selector("body[data-loaded=true]", timeout=20_000)
        await page.select_option("#pick-plant", "conch-cement")
        row = page.locator(f'#pending-rows tr[data-sensor="{NEW_PROBE_ID}"]')
        await row.click()
        await page.locator("#report .kv").wait_for()
        assert "nothing argues against" in (await page.locator("#report").text_content() or "")
        assert await page.locator("#sample-chart polyline").count() == 1
        await page.fill('#approve-form input[name="unit"]', "Cel")
        await page.fill('#approve-form input[name="kind"]', "temperature")
        await page.screenshot(path=str(ARTIFACTS / "onboarding.png"), full_page=True)
        await page.locator("#approve").click()
        await page.locator(".notice.ok").wait_for(timeout=10_000)
        assert "approved" in (await page.locator(".notice").text_content() or "")
        await page.wait_for_function(f'!document.querySelector(\'#pending-rows tr[data-sensor="{NEW_PROBE_ID}"]\')')
        assert errors == []
    registered = api_get(served, f"/api/v1/sensors/{NEW_PROBE_ID}", "admin")
    assert registered["unit"] == "Cel"
    assert registered["range_min"] < 310.0 < registered["range_max"]


def _open_alarm(served: Served, plant: str, alarm_id: str, severity: Severity) -> None:
    """An unacknowledged alarm of ten minutes ago on a key sensor of ``plant``: the simulated faults
    of the fixture depend on the hour the tests run, and earlier tests acknowledge some of them."""
    registry = Registry(f"sqlite:///{served.data_dir / 'registry.sqlite'}")
    try:
        sensor = registry.sensors_of(plant, key_only=True)[0]
        registry.open_alarm(Alarm(alarm_id, sensor.sensor_id, "robust-z", "1", severity, time.time_ns() - 600 * 10**9))
    finally:
        registry.close()


async def test_an_engineer_acknowledges_an_open_alarm_from_the_scorecard(served: Served) -> None:
    _open_alarm(served, "conch-cement", "engineer-ack", Severity.MAJOR)
    url = f"{served.url}/compare?start=now-3h&end=now"
    async with browser_page(url, served.tokens["engineer"]) as (page, errors):
        await page.wait_for_selector("body[data-loaded=true]", timeout=60_000)
        card = page.locator('.scorecard[data-plant="conch-cement"]')
        await card.locator(".open-alarms summary").click()
        item = card.locator('.open-alarms li[data-alarm="engineer-ack"]')
        await item.locator("button.ack").wait_for(timeout=10_000)
        await item.locator("button.ack").click()
        await card.locator('.open-alarms li.acked[data-alarm="engineer-ack"]').wait_for(timeout=10_000)
        assert "acknowledged by" in (await item.text_content() or "")
        assert errors == []
    alarm = api_get(served, "/api/v1/alarms/engineer-ack", "engineer")
    assert alarm["acknowledged"] is True
    assert "engineer" in alarm["acknowledged_by"]


async def test_a_manager_sees_open_alarms_without_the_acknowledge_button(served: Served) -> None:
    _open_alarm(served, "liuzhou-auto", "manager-view", Severity.MINOR)
    async with browser_page(f"{served.url}/compare?start=now-3h&end=now", served.tokens["manager"]) as (page, errors):
        await page.wait_for_selector("body[data-loaded=true]", timeout=60_000)
        card = page.locator('.scorecard[data-plant="liuzhou-auto"]')
        await card.locator(".open-alarms summary").click()
        await card.locator(".open-alarms li[data-alarm]").first.wait_for(timeout=10_000)
        assert await card.locator("button.ack").count() == 0
        assert errors == []
