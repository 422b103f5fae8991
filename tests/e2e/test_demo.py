"""`ganlink demo` as a user runs it: no server, a URL printed, live data of every plant on the page
within 15 s, the unregistered sensor waiting on /onboarding, and Ctrl-C stops everything cleanly."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from ganlink.assets import bundled_plant_files
from ganlink.demo import UNREGISTERED_SENSOR

from ..conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser



@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GANLINK_")}
    log = (tmp_path / "demo.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "ganlink", "demo", "--port", "0", "--data-dir", str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
    )
    try:
        url = ""
        deadline = time.monotonic() + 30
        assert process.stdout is not None
        printed = b""
        while not url and time.monotonic() < deadline and process.poll() is None:
            readable, _, _ = select.select([process.stdout], [], [], 1.0)
            printed += os.read(process.stdout.fileno(), 4096) if readable else b""
            if found := re.search(r"(http://\S+#token=\S+)", printed.decode()):
                url = found.group(1)
        assert url, f"demo printed no URL; log: {(tmp_path / 'demo.log').read_text()[-2000:]}"
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        log.close()


def test_demo_page_shows_live_data_of_every_plant_and_ctrl_c_stops_it(
    demo: tuple[subprocess.Popen[bytes], str],
) -> None:
    process, url = demo
    plants = [path.stem for path in bundled_plant_files()]
    assert len(plants) == 3
    opened = time.monotonic()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url)
        for plant in plants:
            page.locator(f'.plant-card[data-plant="{plant}"] [data-sensor]').first.wait_for(timeout=15_000)
        assert time.monotonic() - opened < 15
        before = {p: page.locator(f'.plant-card[data-plant="{p}"] [data-sensor]').all_inner_texts() for p in plants}
        page.wait_for_timeout(6000)
        after = {p: page.locator(f'.plant-card[data-plant="{p}"] [data-sensor]').all_inner_texts() for p in plants}
        assert [p for p in plants if before[p] != after[p]] == plants, (before, after)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "demo-workshop.png"), full_page=True)
        browser.close()
    assert UNREGISTERED_SENSOR in _pending_sensor_ids(url, "conch-cement")
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0


def _pending_sensor_ids(page_url: str, plant: str, timeout_s: float = 15.0) -> set[str]:
    """The plant's pending sensors as the onboarding page reads them, once any is listed."""
    base, token = page_url.split("/#token=")
    request = urllib.request.Request(
        f"{base}/api/v1/plants/{plant}/pending-sensors", headers={"Authorization": f"Bearer {token}"}
    )
    deadline = time.monotonic() + timeout_s
    while True:
        with urllib.request.urlopen(request, timeout=5) as response:
            pending = {sensor["sensor_id"] for sensor in json.load(response)}
        if pending or time.monotonic() > deadline:
            return pending
        time.sleep(0.5)
