"""Multi-sensor series, streamed raw export, the line's live event stream and data completeness."""

from __future__ import annotations

import json

import httpx

from ganlink.embedded_store import EmbeddedStore
from ganlink.registry import Registry
from ganlink.schema import Reading
from ganlink.timestamps import now_ns
from ganlink.topics import DevicePath

S = 1_000_000_000
FURNACE = DevicePath("test-smelter", "smelting", "furnace-1", "burner-1")
GAS = FURNACE.sensor_id("gas-temp")
O2 = FURNACE.sensor_id("o2")
LINE = "/api/v1/plants/test-smelter/areas/smelting/lines/furnace-1"


async def _write(store: EmbeddedStore, sensor: str, t0: int, count: int, step_s: float = 1.0) -> None:
    await store.write_readings([Reading(FURNACE, sensor, t0 + int(k * step_s * S), float(k)) for k in range(count)])


async def test_series_returns_each_requested_sensor(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], store: EmbeddedStore
) -> None:
    t0 = (now_ns() // S - 120) * S
    await _write(store, "gas-temp", t0, 60)
    await _write(store, "o2", t0, 30, step_s=2)
    params = {"sensor": [GAS, O2], "start": str(t0 // 1_000_000), "end": str((t0 + 60 * S) // 1_000_000)}
    body = (await client.get("/api/v1/plants/test-smelter/series", params=params, headers=auth["viewer"])).json()
    assert [(r["sensor_id"], len(r["points"])) for r in body] == [(GAS, 60), (O2, 30)]
    other = await client.get("/api/v1/plants/test-smelter/series",
                             params={"sensor": "test-auto.stamping.press-line-1.press-1.force"},
                             headers=auth["viewer"])  # fmt: skip
    assert other.status_code == 404


async def test_csv_and_json_exports_stream_every_raw_reading_and_are_audited(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], store: EmbeddedStore, registry: Registry
) -> None:
    t0 = (now_ns() // S - 8 * 3600) * S  # spans two 6 h fetch chunks
    await store.write_readings([Reading(FURNACE, "gas-temp", t0 + k * 60 * S, 1000.0 + k) for k in range(7 * 60)])
    params = {"start": str(t0 // 1_000_000), "end": "now"}
    csv_text = (await client.get(f"/api/v1/sensors/{GAS}/export", params=params, headers=auth["viewer"])).text
    lines = csv_text.strip().split("\n")
    assert lines[0] == "time,value"
    assert len(lines) == 1 + 7 * 60
    assert lines[1].endswith(",1000.0")
    assert lines[-1].endswith(f",{1000.0 + 419}")
    as_json = (await client.get(f"/api/v1/sensors/{GAS}/export", params=params | {"format": "json"},
                                headers=auth["viewer"])).json()  # fmt: skip
    assert len(as_json["points"]) == 420
    assert as_json["truncated"] is False
    exports = [r for r in registry.audit_records() if r["action"] == "export-telemetry"]
    assert len(exports) == 2
    too_long = await client.get(f"/api/v1/sensors/{GAS}/export", params={"start": "now-40d"}, headers=auth["viewer"])
    assert too_long.status_code == 422


async def test_line_stream_sends_readings_and_active_alarms_as_events(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], store: EmbeddedStore, registry: Registry
) -> None:
    from api.alarm_sync import apply_events  # noqa: PLC0415
    from ganlink.schema import AnomalyEvent  # noqa: PLC0415

    t0 = now_ns() - 10 * S
    await _write(store, "gas-temp", t0, 5)
    apply_events(registry, [AnomalyEvent(FURNACE, "gas-temp", "range", t0, 0.9, 1.0, "s1", {"state": "raised"})])
    response = await client.get(f"{LINE}/stream", params={"duration_s": "0.6", "interval_s": "0.5"},
                                headers=auth["viewer"])  # fmt: skip
    assert response.headers["content-type"].startswith("text/event-stream")
    blocks = [b for b in response.text.split("\n\n") if b.startswith("event:")]
    events = {b.split("\n")[0].removeprefix("event: "): json.loads(b.split("\n")[1].removeprefix("data: "))
              for b in blocks}  # fmt: skip
    assert [(r["sensor"], r["value"]) for r in events["readings"]] == [("gas-temp", 4.0)]
    assert events["alarms"] == [{"id": "s1", "status": "active-unack"}]
    # the second pass sends nothing new: values are sent once
    assert sum(1 for b in blocks if b.startswith("event: readings")) == 1


async def test_completeness_compares_received_with_expected_per_sensor_and_line(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], store: EmbeddedStore
) -> None:
    t0 = (now_ns() // S - 3600) * S
    await _write(store, "gas-temp", t0, 100)  # 1 s period: complete for 100 s
    await _write(store, "o2", t0, 25, step_s=2)  # 1 s period registered, every 2nd reading missing
    window = {"start": str(t0 // 1_000_000), "end": str((t0 + 100 * S) // 1_000_000)}
    body = (await client.get("/api/v1/plants/test-smelter/completeness", params=window | {"line": "furnace-1"},
                             headers=auth["viewer"])).json()  # fmt: skip
    by_sensor = {c["id"]: (c["expected"], c["received"], c["ratio"]) for c in body["sensors"]}
    assert by_sensor[GAS] == (100, 100, 1.0)
    assert by_sensor[O2] == (100, 25, 0.25)
    assert by_sensor[FURNACE.sensor_id("recipe-ratio")] == (100, 0, 0.0)
    assert body["lines"] == [{"id": "test-smelter.smelting.furnace-1", "expected": 300, "received": 125,
                              "ratio": round(125 / 300, 4)}]  # fmt: skip
    assert body["gateway"] == "test-smelter-gw"
