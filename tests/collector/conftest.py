"""Helpers shared by the collector tests: a registry in a temp dir, a plant record, waiting and counting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from ganlink.influx import InfluxStore
from ganlink.registry import PlantInfo, Registry


def plant_info(plant_id: str, gateway: str) -> PlantInfo:
    """A minimal plant whose declared gateway is ``gateway``."""
    return PlantInfo(
        id=plant_id, name=plant_id, industry="nonferrous", timezone="UTC",
        shifts=[{"name": "day", "start": "08:00", "hours": 12}], nameplate_value=1.0, nameplate_unit="t/d",
        gateway=gateway,
    )  # fmt: skip


async def wait_for(predicate: Callable[[], bool | Awaitable[bool]], timeout_s: float = 30.0) -> None:
    """Poll a plain or async predicate until it holds; AssertionError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = predicate()
        if result if isinstance(result, bool) else await result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


async def plant_reading_count(store: InfluxStore, plant: str) -> int:
    """Readings of one plant only: other tests on the shared broker may publish other plants."""
    rows = await store.query(f"SELECT count(\"value\") FROM \"telemetry\" WHERE \"plant\" = '{plant}'")
    return int(rows[0]["values"][0][1]) if rows else 0


@pytest.fixture
def registry_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'registry.sqlite'}"


@pytest.fixture
def registry(registry_url: str) -> Iterator[Registry]:
    """An empty registry with its schema (tests needing plants in it override or load them)."""
    reg = Registry(registry_url)
    reg.create_schema()
    yield reg
    reg.close()
