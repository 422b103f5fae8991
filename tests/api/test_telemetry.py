"""Range queries (bucket choice and values), latest values and anomaly events through the API."""

from __future__ import annotations

import httpx
import pytest

from api.timerange import MAX_POINTS, choose_bucket_ns, parse_duration_ns, parse_time_ns
from ganlink.schema import AnomalyEvent, Quality, Reading
from ganlink.store import TimeSeriesStore
from ganlink.timestamps import now_ns
from ganlink.topics import DevicePath

S = 1_000_000_000
T0 = 1_789_948_800 * S  # 2026-09-21T00:00:00Z, aligned to every bucket width
FURNACE = DevicePath("test-smelter", "smelting", "furnace-1", "burner-1")
GAS = "test-smelter.smelting.furnace-1.burner-1.gas-temp"
LINE = "/api/v1/plants/test-smelter/areas/smelting/lines/furnace-1"


def _ms(ns: int) -> int:
    return ns // 1_000_000


async def _one_hz(store: TimeSeriesStore, seconds: int, *, sensor: str = "gas-temp", start: int = T0) -> None:
    """Gas temperature ramping 1000 + i*0.01 Cel, one reading per second from ``start`` (T0)."""
    readings = [Reading(FURNACE, sensor, start + i * S, 1000.0 + i * 0.01) for i in range(seconds)]
    for start in range(0, len(readings), 20_000):
        await store.write_readings(readings[start : start + 20_000])


@pytest.mark.parametrize(
    ("span_s", "period_s", "bucket_s"),
    [(600, 1.0, None), (2000, 1.0, None), (3600, 1.0, 2), (86400, 1.0, 60), (86400, 60.0, None),
     (30 * 86400, 1.0, 1800), (400 * 86400, 1.0, 21600), (5000 * 86400, 1.0, 3 * 86400)],
)
def test_bucket_choice_keeps_points_under_the_limit(span_s: int, period_s: float, bucket_s: int | None) -> None:
    bucket_ns = choose_bucket_ns(span_s * S, period_s)
    assert bucket_ns == (bucket_s * S if bucket_s else None)
    if bucket_ns:
        assert span_s * S // bucket_ns + 1 <= MAX_POINTS


def test_query_times_accept_rfc3339_epoch_ms_and_relative() -> None:
    now = T0 + 123 * S
    assert parse_time_ns("now", now_ns=now) == now
    assert parse_time_ns("now-15m", now_ns=now) == now - 900 * S
    assert parse_time_ns("-2h", now_ns=now) == now - 7200 * S
    assert parse_time_ns(str(_ms(T0)), now_ns=now) == T0
    assert parse_time_ns("2026-09-21T08:00:00+08:00", now_ns=now) == T0
    assert parse_duration_ns("500ms") == S // 2
    for bad in ("yesterday", "now-5x", "1.5", "-0s"):
        with pytest.raises(ValueError, match=r"\S"):
            parse_time_ns(bad, now_ns=now)


async def test_short_range_returns_raw_points_with_values(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], store: TimeSeriesStore
) -> None:
    await _one_hz(store, 600)
    params = {"start": str(_ms(T0 + 10 * S)), "end": str(_ms(T0 + 20 * S))}
    body = (await client.get(f"/api/v1/sensors/{GAS}/range", params=params, headers=auth["viewer"])).json()
    assert body["bucket_s"] is None
    assert body["aggregate"] is None
    assert body["unit"] == "Cel"
    assert (body["range_min"], body["range_max"]) == (0.0, 1600.0)
    assert [p[0] for p in body["points"]] == [_ms(T0 + i * S) for i in range(10, 20)]
    assert [p[1] for p in body["points"]] == pytest.approx([1000.0 + i * 0.01 for i in range(10, 20)])


async def test_long_range_is_bucketed_under_2000_points_with_means(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], store: TimeSeriesStore
) -> None:
    await _one_hz(store, 3 * 3600)
    params = {"start": str(_ms(T0)), "end": str(_ms(T0 + 3 * 3600 * S))}
    body = (await client.get(f"/api/v1/sensors/{GAS}/range", params=params, headers=auth["viewer"])).json()
    assert body["bucket_s"] == 10.0
    assert body["aggregate"] == "mean"
    assert len(body["points"]) == 3 * 360
    first_time, first_mean = body["points"][0]
    assert first_time == _ms(T0)
    assert first_mean == pytest.approx(1000.0 + 4.5 * 0.01)  # mean of readings 0..9


async def test_explicit_bucket_and_aggregate_are_honoured(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], store: TimeSeriesStore
) -> None:
    await _one_hz(store, 600)
    params = {"start": str(_ms(T0)), "end": str(_ms(T0 + 600 * S)), "bucket": "1m", "aggregate": "max"}
    body = (await client.get(f"/api/v1/sensors/{GAS}/range", params=params, headers=auth["viewer"])).json()
    assert body["bucket_s"] == 60.0
    assert body["aggregate"] == "max"
    assert [p[1] for p in body["points"]] == pytest.approx([1000.0 + (60 * k + 59) * 0.01 for k in range(10)])


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"start": "yesterday"}, "RFC 3339"),
        ({"start": "now", "end": "now-1h"}, "before"),
        ({"start": "now-1d", "bucket": "1s"}, "more than 2000"),
        ({"start": "now-1d", "bucket": "fortnight"}, "duration"),
        ({"start": "now-1000d"}, "longer than"),
        ({"aggregate": "median"}, "mean"),
    ],
)
async def test_bad_range_parameters_give_422_saying_why(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], params: dict[str, str], fragment: str
) -> None:
    response = await client.get(f"/api/v1/sensors/{GAS}/range", params=params, headers=auth["viewer"])
    assert response.status_code == 422
    assert fragment in str(response.json()["detail"])


async def test_sensor_faster_than_its_period_is_still_bucketed(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], store: TimeSeriesStore
) -> None:
    # Registered at 1 s, but this burner reports at 10 Hz: 5 minutes = 3000 readings.
    readings = [Reading(FURNACE, "o2", T0 + i * S // 10, 21.0) for i in range(3000)]
    await store.write_readings(readings)
    params = {"start": str(_ms(T0)), "end": str(_ms(T0 + 300 * S))}
    body = (await client.get(f"/api/v1/sensors/{GAS[:-8]}o2/range", params=params, headers=auth["viewer"])).json()
    assert body["bucket_s"] is not None
    assert 0 < len(body["points"]) <= MAX_POINTS


async def test_line_latest_gives_newest_value_per_sensor_and_null_without_data(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], store: TimeSeriesStore
) -> None:
    recent = (now_ns() // S - 60) * S  # latest values are searched in the last hour(s) only
    await _one_hz(store, 30, start=recent)
    await store.write_readings([Reading(FURNACE, "o2", recent + 5 * S, 20.5, Quality.UNCERTAIN)])
    body = (await client.get(f"{LINE}/latest", headers=auth["viewer"])).json()
    by_sensor = {r["sensor"]: r for r in body}
    assert set(by_sensor) == {"gas-temp", "o2", "recipe-ratio"}
    assert by_sensor["gas-temp"]["value"] == pytest.approx(1000.29)
    assert by_sensor["gas-temp"]["time_ms"] == _ms(recent + 29 * S)
    assert by_sensor["o2"]["quality"] == "uncertain"
    assert by_sensor["recipe-ratio"]["value"] is None
    keys_only = (await client.get(f"{LINE}/latest", params={"key": "true"}, headers=auth["viewer"])).json()
    assert [r["sensor"] for r in keys_only] == ["gas-temp", "o2"]


async def test_plant_latest_defaults_to_key_sensors_of_every_line(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], store: TimeSeriesStore
) -> None:
    await _one_hz(store, 3, start=(now_ns() // S - 60) * S)
    body = (await client.get("/api/v1/plants/test-smelter/latest", headers=auth["viewer"])).json()
    assert [(r["line"], r["sensor"], r["value"] is not None) for r in body] == [
        ("furnace-1", "gas-temp", True),
        ("furnace-1", "o2", False),
    ]
    everything = (await client.get("/api/v1/plants/test-smelter/latest?key=false", headers=auth["viewer"])).json()
    assert len(everything) == 4


async def test_line_anomalies_newest_first(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], store: TimeSeriesStore
) -> None:
    other_line = DevicePath("test-smelter", "smelting", "furnace-1-spare", "spare")
    await store.write_events([
        AnomalyEvent(FURNACE, "gas-temp", "zscore", T0 + k * S, 0.5 + k / 10, 1500.0, alarm_id=f"a{k}")
        for k in range(3)
    ] + [AnomalyEvent(other_line, "temp", "zscore", T0, 0.9, 99.0)])
    params = {"start": str(_ms(T0)), "end": str(_ms(T0 + 60 * S))}
    body = (await client.get(f"{LINE}/anomalies", params=params, headers=auth["viewer"])).json()
    assert [e["alarm_id"] for e in body] == ["a2", "a1", "a0"]
    assert body[0] | {"sensor_id": GAS, "detector": "zscore", "time_ms": _ms(T0 + 2 * S)} == body[0]
    assert body[0]["score"] == pytest.approx(0.7)
