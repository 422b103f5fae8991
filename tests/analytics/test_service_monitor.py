"""The monitor behind the service: readings in, one anomaly event per incident out (no network)."""

from __future__ import annotations

import asyncio
import random
from datetime import time
from pathlib import Path

from analytics.checkpoint import load_checkpoint, save_checkpoint
from analytics.monitor import DEVICE_SCOPE_SENSOR, GATEWAY_SCOPE_SENSOR, Monitor
from analytics.mqtt_link import InboundMessage, MemoryLink
from analytics.service import ServiceTuning, analyze
from analytics.shifts import ShiftCalendar
from ganlink.assets import PlantFile, Shift, load_plant_file
from ganlink.schema import AnomalyEvent, Quality, Reading, encode_telemetry, parse_anomaly
from ganlink.timestamps import now_ns, parse_source_time
from ganlink.topics import DevicePath

S = 1_000_000_000
T0 = 1_790_000_000 * S
BURNER_1 = DevicePath("test-smelter", "smelting", "furnace-1", "burner-1")
BURNER_2 = DevicePath("test-smelter", "smelting", "furnace-1", "burner-2")


def _plant() -> PlantFile:
    return load_plant_file(Path(__file__).with_name("analytics_test_plant.yaml"))


def _normal(rng: random.Random, sensor: str) -> float:
    return {"gas-temp": 1200 + rng.gauss(0, 3), "fan-current": 80 + rng.gauss(0, 1), "state": 1.0}[sensor]


def _tick(rng: random.Random, i: int, *, gas_temp: float | None = None, skip: set[str] | None = None) -> list[Reading]:
    readings = []
    for device, sensors in ((BURNER_1, ("gas-temp", "fan-current", "state")), (BURNER_2, ("gas-temp",))):
        for sensor in sensors:
            if skip and f"{device.device}/{sensor}" in skip:
                continue
            value = gas_temp if (gas_temp is not None and device is BURNER_1 and sensor == "gas-temp") else None
            readings.append(Reading(device, sensor, T0 + i * S, round(value or _normal(rng, sensor), 2)))
    return readings


def _drive(monitor: Monitor, ticks: range, rng: random.Random, **fault: object) -> list[AnomalyEvent]:
    events = []
    for i in ticks:
        events.extend(monitor.observe_many(_tick(rng, i, **fault), T0 + i * S))  # type: ignore[arg-type]
        events.extend(monitor.check_silence(T0 + i * S))
    return events


def test_normal_operation_raises_no_alarm() -> None:
    monitor = Monitor([_plant()])
    assert _drive(monitor, range(3000), random.Random(1)) == []


def test_a_stuck_sensor_raises_one_event_that_says_why() -> None:
    monitor = Monitor([_plant()])
    rng = random.Random(2)
    _drive(monitor, range(600), rng)
    events = _drive(monitor, range(600, 700), rng, gas_temp=1201.5)
    assert len(events) == 1
    event = events[0]
    assert (event.device, event.sensor, event.detector) == (BURNER_1, "gas-temp", "stuck")
    assert event.details["state"] == "raised"
    assert event.details["severity"] == "major"
    assert event.details["model_version"] == "rules-1"
    assert event.details["why"].startswith("stuck: value 1201.5 repeated 10 times in a row")
    assert event.value == 1201.5
    assert event.alarm_id


def test_an_out_of_range_value_raises_a_critical_alarm_then_clears_once() -> None:
    monitor = Monitor([_plant()])
    rng = random.Random(3)
    _drive(monitor, range(300), rng)
    during = _drive(monitor, range(300, 320), rng, gas_temp=1700.0)
    after = _drive(monitor, range(320, 420), rng)
    assert [(e.detector, e.details["state"], e.details["severity"]) for e in during] == [
        ("range", "raised", "critical")
    ]
    assert during[0].details["expected_low"] == 0
    assert during[0].details["expected_high"] == 1600
    assert [e.details["state"] for e in after] == ["cleared"]
    assert after[0].alarm_id == during[0].alarm_id


def test_a_spike_is_flagged_by_the_statistical_detector() -> None:
    monitor = Monitor([_plant()])
    rng = random.Random(4)
    _drive(monitor, range(2500), rng)
    events = _drive(monitor, range(2500, 2501), rng, gas_temp=1240.0)
    assert [(e.sensor, e.detector) for e in events] in ([("gas-temp", "seasonal")], [("gas-temp", "robust-z")])


def test_a_silent_sensor_of_a_live_device_is_one_sensor_alarm() -> None:
    monitor = Monitor([_plant()])
    rng = random.Random(5)
    _drive(monitor, range(100), rng)
    events = _drive(monitor, range(100, 200), rng, skip={"burner-1/fan-current"})
    assert [(e.device, e.sensor, e.detector) for e in events] == [(BURNER_1, "fan-current", "silence-sensor")]
    back = _drive(monitor, range(200, 201), rng)
    assert [(e.sensor, e.details["state"]) for e in back] == [("fan-current", "cleared")]


def test_a_silent_device_is_one_device_alarm_not_one_per_sensor() -> None:
    monitor = Monitor([_plant()])
    rng = random.Random(6)
    _drive(monitor, range(100), rng)
    skip = {"burner-1/gas-temp", "burner-1/fan-current", "burner-1/state"}
    events = _drive(monitor, range(100, 200), rng, skip=skip)
    assert [(e.device, e.sensor, e.detector) for e in events] == [(BURNER_1, DEVICE_SCOPE_SENSOR, "silence-device")]


def test_bad_quality_and_out_of_order_readings_are_not_scored() -> None:
    monitor = Monitor([_plant()])
    rng = random.Random(7)
    _drive(monitor, range(300), rng)
    bad = Reading(BURNER_1, "gas-temp", T0 + 300 * S, 5000.0, Quality.BAD)
    stale = Reading(BURNER_1, "gas-temp", T0 + 10 * S, 5000.0)
    unknown = Reading(BURNER_1, "no-such-sensor", T0 + 301 * S, 5000.0)
    assert monitor.observe(bad, bad.time_ns) == []
    assert monitor.observe(stale, stale.time_ns) == []
    assert monitor.observe(unknown, unknown.time_ns) == []
    assert (monitor.skipped_out_of_order, monitor.skipped_unknown) == (1, 1)


def test_messages_with_bad_stale_or_unknown_readings_score_the_rest() -> None:
    monitor = Monitor([_plant()])
    rng = random.Random(7)
    _drive(monitor, range(300), rng)
    stranger = DevicePath("test-smelter", "smelting", "furnace-1", "no-such-burner")
    t = T0 + 300 * S
    message = [
        Reading(BURNER_1, "gas-temp", t, 5000.0, Quality.BAD),
        Reading(BURNER_1, "fan-current", T0 + 10 * S, 5000.0),
        Reading(BURNER_1, "no-such-sensor", t, 5000.0),
        Reading(BURNER_1, "state", t, 1.0),
    ]
    assert monitor.observe_many(message, t) == []
    assert monitor.observe_many([Reading(stranger, "gas-temp", t, 1.0), Reading(stranger, "x", t, 1.0)], t) == []
    assert (monitor.skipped_out_of_order, monitor.skipped_unknown) == (1, 3)
    assert monitor.sensors[(BURNER_1, "state")].last_time_ns == t


def test_a_restored_checkpoint_does_not_re_alarm_an_open_incident(tmp_path: Path) -> None:
    monitor = Monitor([_plant()])
    rng = random.Random(8)
    _drive(monitor, range(300), rng)
    assert len(_drive(monitor, range(300, 310), rng, gas_temp=1700.0)) == 1
    save_checkpoint(tmp_path, monitor)

    restarted = Monitor([_plant()])
    assert load_checkpoint(tmp_path, restarted)
    assert _drive(restarted, range(310, 330), rng, gas_temp=1700.0) == []
    without_checkpoint = Monitor([_plant()])
    assert len(_drive(without_checkpoint, range(330, 340), rng, gas_temp=1700.0)) == 1, "what the checkpoint prevents"


def test_a_missing_or_corrupt_checkpoint_starts_fresh(tmp_path: Path) -> None:
    monitor = Monitor([_plant()])
    assert not load_checkpoint(tmp_path, monitor)
    (tmp_path / "analytics-state.pickle").write_bytes(b"not a pickle")
    assert not load_checkpoint(tmp_path, monitor)


async def test_the_service_loop_publishes_events_on_the_device_anomaly_topic() -> None:
    link = MemoryLink()
    monitor = Monitor([_plant()])
    stop = asyncio.Event()
    rng = random.Random(9)
    start = now_ns() - 400 * S
    seq = 0
    for i in range(400):
        for device in (BURNER_1, BURNER_2):
            value = 1700.0 if (device is BURNER_1 and i >= 390) else 1200 + rng.gauss(0, 3)
            seq += 1
            payload = encode_telemetry("gw-test", seq, [Reading(device, "gas-temp", start + i * S, value)])
            await link.incoming.put(InboundMessage(device.telemetry_topic, payload))
    await link.incoming.put(InboundMessage(BURNER_1.telemetry_topic, b"not json"))
    task = asyncio.create_task(analyze(link, monitor, stop=stop, tuning=ServiceTuning(tick_s=0.05)))
    for _ in range(200):
        if link.incoming.empty():
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    stop.set()
    await task
    assert [m.topic for m in link.published] == [BURNER_1.anomaly_topic]
    event = parse_anomaly(link.published[0].topic, link.published[0].payload)
    assert (event.sensor, event.detector, event.value) == ("gas-temp", "range", 1700.0)


def _drive_modes(
    monitor: Monitor, ticks: range, rng: random.Random, *, state: float, current: float | None
) -> list[AnomalyEvent]:
    """burner-1 with its machine state; fan-current is ``current`` (or normal running noise)."""
    events = []
    for i in ticks:
        time_ns = T0 + i * S
        readings = [
            Reading(BURNER_1, "state", time_ns, state),
            Reading(BURNER_1, "gas-temp", time_ns, round(1200 + rng.gauss(0, 3), 2)),
            Reading(BURNER_1, "fan-current", time_ns, round(80 + rng.gauss(0, 1), 2) if current is None else current),
        ]
        events.extend(monitor.observe_many(readings, time_ns))
    return events


def test_a_stopped_machine_reading_zero_is_not_an_anomaly_but_the_same_value_while_running_is() -> None:
    monitor = Monitor([_plant()])
    rng = random.Random(10)
    assert _drive_modes(monitor, range(0, 600), rng, state=1.0, current=None) == []
    assert _drive_modes(monitor, range(600, 1200), rng, state=0.0, current=0.0) == [], "stopped: 0 A is normal"
    assert _drive_modes(monitor, range(1200, 1800), rng, state=1.0, current=None) == [], "running again"
    events = _drive_modes(monitor, range(1800, 1830), rng, state=1.0, current=0.0)
    assert [(e.sensor, e.details["state"]) for e in events] == [("fan-current", "raised")]


def test_the_shift_calendar_tells_time_since_the_current_shift_started() -> None:
    shifts = [Shift(name="day", start=time(8, 0), hours=12), Shift(name="night", start=time(20), hours=12)]
    plant = _plant().plant.model_copy(update={"shifts": shifts})
    calendar = ShiftCalendar.of(plant)
    # 2026-11-27T00:05:00Z is 08:05 in Asia/Shanghai: five minutes into the day shift.
    at = parse_source_time("2026-11-27T00:05:00Z")
    assert calendar.since_shift_start_s(at) == 300.0
    assert calendar.since_shift_start_s(at + 3600 * S) == 3900.0, "cached bounds still right"
    assert calendar.since_shift_start_s(parse_source_time("2026-11-27T12:59:00Z")) == 3540.0, "night shift"
    assert ShiftCalendar.of(_plant().plant).since_shift_start_s(at) is None


def test_a_planned_rate_change_at_a_shift_start_is_not_alarmed_but_mid_shift_it_is() -> None:
    plant_file = _plant()
    plant = plant_file.plant.model_copy(update={"shifts": [Shift(name="all-day", start=time(0, 0), hours=24)]})
    shifted = plant_file.model_copy(update={"plant": plant})
    start = parse_source_time("2026-11-26T15:00:00Z")  # 23:00 local; the shift starts at 16:00Z
    rng = random.Random(12)

    def run(step_at_s: int) -> list[AnomalyEvent]:
        monitor = Monitor([shifted])
        events = []
        for i in range(4800):
            time_ns = start + i * S
            level = 80.0 if i < step_at_s else 95.0  # the fan runs 19 % harder
            readings = [
                Reading(BURNER_1, "state", time_ns, 1.0),
                Reading(BURNER_1, "fan-current", time_ns, round(level + rng.gauss(0, 1), 2)),
            ]
            events.extend(monitor.observe_many(readings, time_ns))
        return [e for e in events if e.details["state"] == "raised"]

    assert run(step_at_s=3600) == [], "at the shift start: planned"
    assert [e.sensor for e in run(step_at_s=3000)] == ["fan-current"], "mid-shift: anomalous"


def test_a_device_without_a_state_sensor_follows_its_lines_machine_state() -> None:
    monitor = Monitor([_plant()])
    assert monitor.devices[BURNER_2].mode_source is monitor.devices[BURNER_1]
    monitor.observe_many([Reading(BURNER_1, "state", T0, 0.0)], T0)
    assert monitor.devices[BURNER_2].operating_mode == 0


def test_a_silent_gateway_is_one_alarm_not_one_per_device() -> None:
    monitor = Monitor([_plant()])
    rng = random.Random(14)
    _drive(monitor, range(100), rng)
    everything = {"burner-1/gas-temp", "burner-1/fan-current", "burner-1/state", "burner-2/gas-temp"}
    events = _drive(monitor, range(100, 200), rng, skip=everything)
    assert [(e.sensor, e.detector) for e in events] == [(GATEWAY_SCOPE_SENSOR, "silence-gateway")]
    assert events[0].details["gateway"] == "gw-test"
    assert events[0].details["devices"] == ["burner-1", "burner-2"]
    back = _drive(monitor, range(200, 201), rng)
    assert [(e.sensor, e.details["state"]) for e in back] == [(GATEWAY_SCOPE_SENSOR, "cleared")]


def test_an_offline_gateway_status_alarms_at_once_and_data_clears_it() -> None:
    monitor = Monitor([_plant()])
    rng = random.Random(15)
    _drive(monitor, range(100), rng)
    monitor.gateway_status("test-smelter", online=False)
    events = monitor.check_silence(T0 + 100 * S)
    assert [(e.sensor, e.details["status"]) for e in events] == [(GATEWAY_SCOPE_SENSOR, "offline")]
    assert [e.details["state"] for e in _drive(monitor, range(101, 102), rng)] == ["cleared"]


async def test_the_service_reads_the_gateways_retained_status() -> None:
    link = MemoryLink()
    monitor = Monitor([_plant()])
    stop = asyncio.Event()
    offline = b'{"v":1,"gateway":"gw-test","plant":"test-smelter","status":"offline"}'
    await link.incoming.put(InboundMessage("ganlink/v1/test-smelter/_gateway/gw-test/status", offline))
    task = asyncio.create_task(analyze(link, monitor, stop=stop, tuning=ServiceTuning(tick_s=0.05)))
    for _ in range(100):
        if link.published:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await task
    events = [parse_anomaly(m.topic, m.payload) for m in link.published]
    assert [(e.sensor, e.detector, e.details["state"]) for e in events] == [
        (GATEWAY_SCOPE_SENSOR, "silence-gateway", "raised")
    ]
