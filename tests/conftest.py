"""Session fixtures: a real Mosquitto and a real InfluxDB 1.x on free ports in temp dirs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ganlink.servers import InfluxServer, MosquittoServer, missing_server_binaries

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
# Debian's headless Chromium, never a downloaded browser; no background traffic on a closed network.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _require_servers() -> None:
    missing = missing_server_binaries()
    if missing:
        pytest.fail(f"real-server tests need Debian packages: apt-get install {' '.join(missing)}")


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoServer]:
    _require_servers()
    with MosquittoServer(tmp_path_factory.mktemp("mosquitto")) as server:
        yield server


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    _require_servers()
    with InfluxServer(tmp_path_factory.mktemp("influxdb")) as server:
        yield server
