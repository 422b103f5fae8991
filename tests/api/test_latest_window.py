"""Latest values are searched back 10 sample periods of the slowest sensor asked for, at least an hour:
a sensor silent longer shows no value."""

from __future__ import annotations

import httpx

from api.readings import latest_since_ns
from ganlink.registry import Registry
from ganlink.schema import Reading
from ganlink.store import TimeSeriesStore
from ganlink.timestamps import now_ns
from ganlink.topics import DevicePath

S = 1_000_000_000
FURNACE = DevicePath("test-smelter", "smelting", "furnace-1", "burner-1")
LINE = "/api/v1/plants/test-smelter/areas/smelting/lines/furnace-1"


async def test_a_sensor_silent_longer_than_the_window_shows_no_value(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], store: TimeSeriesStore
) -> None:
    now = now_ns()
    await store.write_readings([
        Reading(FURNACE, "gas-temp", now - 2 * 3600 * S, 1200.0),  # 1 s sensor, silent for 2 h
        Reading(FURNACE, "o2", now - 2 * 3600 * S, 20.0),
        Reading(FURNACE, "o2", now - 50 * 60 * S, 21.0),  # 50 min ago: inside the 1 h minimum
    ])  # fmt: skip
    body = (await client.get(f"{LINE}/latest", headers=auth["viewer"])).json()
    values = {r["sensor"]: r["value"] for r in body}
    assert values["gas-temp"] is None
    assert values["o2"] == 21.0


def test_window_is_ten_periods_of_the_slowest_sensor_and_at_least_an_hour(registry: Registry) -> None:
    sensors = registry.sensors_of("test-smelter")
    now = 10**18
    assert latest_since_ns(sensors, now) == now - 3600 * S  # 1 s sensors: the hour minimum
    slow = [sensors[0].model_copy(update={"sample_period_s": 900.0})]
    assert latest_since_ns([*sensors, *slow], now) == now - 9000 * S
    assert latest_since_ns([], now) == now - 3600 * S
