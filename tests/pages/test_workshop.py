"""The workshop page `/` in real headless Chromium against `ganlink api run` over three simulated hours
of the bundled plants: live values through the line's event stream (and polling when the stream is
refused), anomaly markers with their tooltip, alarm actions by role, gateway status pills.
Screenshots go to artifacts/ (copy one to docs/screenshots/ by hand to refresh the README)."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from ganlink.alarms import Alarm, Severity
from ganlink.embedded_store import EmbeddedStore
from ganlink.registry import Registry
from ganlink.registry_gateways import GatewayStatusRecord
from ganlink.schema import AnomalyEvent

from ..conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from .conftest import Served
from .test_pages import KILN_FEED, live_kiln_feed

pytestmark = pytest.mark.browser

FEED = KILN_FEED.sensor_id("feed-rate")
CHART = f'.chart[data-sensor="{FEED}"]'
S = 1_000_000_000

Prepare = Callable[[Any], Awaitable[None]]


async def _nothing(_: Any) -> None:
    return None


@contextlib.asynccontextmanager
async def workshop(served: Served, role: str, prepare: Prepare = _nothing) -> AsyncIterator[tuple[Any, list[str]]]:
    """`/` opened with `role`'s token on the kiln line of conch-cement; `prepare(page)` runs before loading."""
    from playwright.async_api import async_playwright  # noqa: PLC0415

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1500, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await prepare(page)
            await page.goto(f"{served.url}/#token={served.tokens[role]}")
            await page.wait_for_selector('#pick-plant option[value="conch-cement"]', state="attached")
            await page.select_option("#pick-plant", "conch-cement")
            await page.select_option("#pick-area", "clinker")
            await page.select_option("#pick-line", "kiln-line-1")
            await page.locator(CHART).wait_for()
            yield page, errors
        finally:
            await browser.close()


@contextlib.contextmanager
def registry_of(served: Served) -> Any:
    registry = Registry(f"sqlite:///{served.data_dir / 'registry.sqlite'}")
    try:
        yield registry
    finally:
        registry.close()


def open_alarm(served: Served, alarm_id: str, why: str = "feed rate far below its usual level") -> None:
    alarm = Alarm(alarm_id, FEED, "robust-z", "1", Severity.MAJOR, time.time_ns() - 20 * S, details={"why": why})
    with registry_of(served) as registry:
        registry.open_alarm(alarm)


def api_call(served: Served, path: str, role: str, method: str = "GET") -> tuple[int, Any]:
    request = urllib.request.Request(
        served.url + path, method=method, headers={"Authorization": f"Bearer {served.tokens[role]}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def changed_text(page: Any, selector: str) -> tuple[str, str]:
    """The text of `selector` once it has digits, and again once it has changed."""
    await page.wait_for_function(
        "sel => { const n = document.querySelector(sel); return n && /\\d/.test(n.textContent); }",
        arg=selector, timeout=20_000,
    )  # fmt: skip
    first = await page.locator(selector).text_content()
    await page.wait_for_function(
        "([sel, before]) => { const n = document.querySelector(sel); return n && n.textContent !== before; }",
        arg=[selector, first], timeout=20_000,
    )  # fmt: skip
    return first or "", await page.locator(selector).text_content() or ""


async def test_live_values_arrive_through_the_line_stream_with_the_token_in_a_header(served: Served) -> None:
    stream_requests: list[Any] = []

    async def watch_streams(page: Any) -> None:
        page.on("request", lambda r: stream_requests.append(r) if is_stream(r.url) else None)

    async with live_kiln_feed(served.data_dir), workshop(served, "engineer", watch_streams) as (page, errors):
        first, second = await changed_text(page, f'{CHART} .chart-value[data-source="stream"]')
        assert first != second
        assert await page.locator(f'{CHART} .chart-value[data-source="stream"]').count() == 1
        await page.locator("#link-state").filter(has_text="stream").wait_for(timeout=10_000)
        assert errors == []
    kiln = [r for r in stream_requests if "/lines/kiln-line-1/stream" in r.url]
    assert kiln, "the page opened the kiln line's stream"
    for request in kiln:
        assert served.tokens["engineer"] not in request.url
        assert request.headers["authorization"] == f"Bearer {served.tokens['engineer']}"


def is_stream(url: str) -> bool:
    return url.split("?", maxsplit=1)[0].endswith("/stream")


async def test_polling_takes_over_while_the_stream_is_refused_and_the_stream_comes_back(served: Served) -> None:
    refused: list[str] = []

    async def refuse(route: Any) -> None:
        refused.append(route.request.url)
        await route.abort()

    async def refuse_streams(page: Any) -> None:
        await page.route(is_stream, refuse)

    async with live_kiln_feed(served.data_dir), workshop(served, "engineer", refuse_streams) as (page, errors):
        first, second = await changed_text(page, f'{CHART} .chart-value[data-source="poll"]')
        assert first != second
        await page.locator("#link-state").filter(has_text="polling").wait_for(timeout=10_000)
        assert await page.locator('.chart-value[data-source="stream"]').count() == 0
        await page.wait_for_timeout(2_500)  # time for at least one retry
        assert len([u for u in refused if "/lines/kiln-line-1/stream" in u]) >= 2, refused
        await page.unroute(is_stream, refuse)
        # the next retry (backing off: 2 s, 4 s, 8 s) gets through and the stream takes over again
        await page.locator(f'{CHART} .chart-value[data-source="stream"]').wait_for(timeout=20_000)
        await page.locator("#link-state").filter(has_text="stream").wait_for(timeout=10_000)
        assert errors == []


async def test_an_anomaly_is_marked_on_its_chart_with_detector_score_and_why(served: Served) -> None:
    why = "feed rate 40 % under the seasonal expectation"
    open_alarm(served, "wk-marker", why)  # analytics records the why on the alarm; the event store keeps no details
    event_ns = time.time_ns() - 90 * S
    event = AnomalyEvent(KILN_FEED, "feed-rate", "seasonal", event_ns, 0.93, 212.0, "wk-marker")
    async with await EmbeddedStore.open(served.data_dir / "timeseries.sqlite") as store:
        await store.write_events([event])
    async with live_kiln_feed(served.data_dir), workshop(served, "viewer") as (page, errors):
        canvas = page.locator(f"{CHART} canvas")
        await page.wait_for_function(
            "sel => (document.querySelector(sel).dataset.markerX || '') !== ''", arg=f"{CHART} canvas", timeout=20_000
        )
        xs = [float(x) for x in (await canvas.get_attribute("data-marker-x") or "").split()]
        age_s = (time.time_ns() - event_ns) / S
        box = await canvas.bounding_box()
        assert box is not None
        # the mark sits at the event's age on the 10-minute axis (plot from x=46 to width-6), within a few pixels
        expected = 46 + (box["width"] - 52) * (1 - age_s / 600)
        assert any(abs(x - expected) < 8 for x in xs), (xs, expected)
        x = min(xs, key=lambda value: abs(value - expected))
        await canvas.hover(position={"x": x, "y": 20})
        tip = page.locator("#chart-tip")
        await tip.wait_for(state="visible", timeout=5_000)
        text = await tip.text_content() or ""
        assert "seasonal" in text
        assert "score 0.93" in text
        await tip.filter(has_text=why).wait_for(timeout=5_000)
        await page.screenshot(path=str(ARTIFACTS / "workshop-anomaly.png"))
        assert errors == []


async def test_an_engineer_acknowledges_labels_shelves_and_comments_an_alarm(served: Served) -> None:
    open_alarm(served, "wk-actions")
    async with workshop(served, "engineer") as (page, errors):
        alarm = page.locator('#alarms li[data-alarm="wk-actions"]')
        await alarm.wait_for(timeout=15_000)
        await alarm.locator("button.ack").click()
        await page.locator('#alarms li.acked[data-alarm="wk-actions"]').wait_for(timeout=10_000)
        await alarm.locator('button[data-label="false"]').click()
        await alarm.locator('.tag[data-label="false"]').wait_for(timeout=10_000)
        assert await alarm.locator('button[data-label="false"][aria-pressed="true"]').count() == 1
        await alarm.locator("button.shelve").click()
        await page.locator('#alarms li.shelved[data-alarm="wk-actions"]').wait_for(timeout=10_000)
        await alarm.locator('input[name="comment"]').fill("feeder belt slipped, fixed at 10:40")
        await alarm.locator('input[name="comment"]').press("Enter")
        await alarm.locator(".comment").filter(has_text="feeder belt slipped").wait_for(timeout=10_000)
        await page.screenshot(path=str(ARTIFACTS / "workshop-alarm-actions.png"))
        assert errors == []
    status, view = api_call(served, "/api/v1/alarms/wk-actions", "engineer")
    assert status == 200
    assert view["acknowledged"] is True
    assert "engineer" in view["acknowledged_by"]
    assert view["label"] == "false"
    assert view["shelved"] is True
    assert view["shelved_until_ms"] > time.time() * 1000 + 50 * 60_000
    assert view["comments"][-1]["text"] == "feeder belt slipped, fixed at 10:40"


async def test_a_refused_action_shows_the_apis_409_on_the_alarm(served: Served) -> None:
    open_alarm(served, "wk-conflict")
    async with workshop(served, "engineer") as (page, errors):
        alarm = page.locator('#alarms li[data-alarm="wk-conflict"]')
        await alarm.locator("button.ack").wait_for(timeout=15_000)
        # the page keeps its list (no refresh, no stream) while someone else acknowledges the alarm
        await page.route(lambda url: "/alarms?" in url or is_stream(url), lambda route: route.abort())
        status, _ = api_call(served, "/api/v1/alarms/wk-conflict/acknowledge", "admin", "POST")
        assert status == 200
        await alarm.locator("button.ack").click()
        note = alarm.locator(".note")
        await note.filter(has_text="409").wait_for(timeout=10_000)
        assert "already acknowledged" in (await note.text_content() or "")
        assert errors == []


@pytest.mark.parametrize("role", ["viewer", "manager"])
async def test_roles_without_alarm_rights_see_alarms_without_action_buttons(served: Served, role: str) -> None:
    open_alarm(served, f"wk-read-{role}")
    async with workshop(served, role) as (page, errors):
        await page.locator(f'#alarms li[data-alarm="wk-read-{role}"]').wait_for(timeout=15_000)
        assert await page.locator("#alarms button").count() == 0
        assert await page.locator('#alarms input[name="comment"]').count() == 0
        assert "read only" in (await page.locator("#alarms .read-only").text_content() or "")
        assert errors == []


async def test_gateway_status_pills_show_backfilling_with_buffer_hours(served: Served) -> None:
    now = time.time_ns()
    record = GatewayStatusRecord(
        plant="conch-cement", gateway="gw-conch-1", status="online", since_ns=now - 600 * S, reported_ns=now,
        updated_ns=now, outbox_depth=5400, oldest_age_s=1800.0, hours_left=70.4, backfilling=True, drops=0,
    )  # fmt: skip
    with registry_of(served) as registry:
        registry.record_gateway_status(record)
    open_alarm(served, "wk-screenshot")
    async with live_kiln_feed(served.data_dir), workshop(served, "engineer") as (page, errors):
        card_pill = page.locator('.plant-card[data-plant="conch-cement"] .gateway-pill[data-gateway="gw-conch-1"]')
        await card_pill.filter(has_text="backfilling").wait_for(timeout=15_000)
        assert "buffer 70 h" in (await card_pill.text_content() or "")
        assert await card_pill.get_attribute("data-status") == "backfilling"
        header_pill = page.locator('#gateway-state .gateway-pill[data-gateway="gw-conch-1"]')
        await header_pill.filter(has_text="backfilling").wait_for(timeout=10_000)
        # a plant whose gateway never reported shows its declared gateway as unknown, not online
        other = page.locator('.plant-card[data-plant="guixi-smelter"] .gateway-pill')
        await other.first.wait_for(timeout=10_000)
        assert await other.first.get_attribute("data-status") == "unknown"
        await page.locator(f'{CHART} .chart-value[data-source="stream"]').wait_for(timeout=15_000)
        await page.wait_for_timeout(1500)  # let the charts draw before the picture
        await page.screenshot(path=str(ARTIFACTS / "workshop.png"))
        assert errors == []
