"""The analytics benchmark's simulated plant: what it times is what the service's monitor scores."""

from __future__ import annotations

from analytics.bench import STATE_SENSOR, bench_plant, feed_ticks, plant_ticks, simulated_devices
from analytics.monitor import Monitor


def test_bench_ticks_are_one_message_per_device_with_the_run_state_first() -> None:
    fleet = simulated_devices(devices=3, readings=5)
    ticks = plant_ticks(bench_plant(3), fleet)
    assert len(ticks) == 5
    for second, messages in enumerate(ticks):
        assert [message[0].device.device for message in messages] == ["cell-1", "cell-2", "cell-3"]
        for message, samples in zip(messages, fleet, strict=True):
            assert message[0].sensor == STATE_SENSOR
            assert {r.sensor: r.value for r in message[1:]} == samples[second]
            assert len({r.time_ns for r in message}) == 1


def test_every_bench_reading_is_scored_by_the_monitor_none_skipped() -> None:
    plant_file = bench_plant(2)
    monitor = Monitor([plant_file])
    fed = feed_ticks(monitor, plant_ticks(plant_file, simulated_devices(devices=2, readings=120)))
    assert fed == 2 * 120 * 9
    assert (monitor.skipped_unknown, monitor.skipped_out_of_order) == (0, 0)
    assert all(model.last_time_ns > 0 for model in monitor.sensors.values())
    assert all(device.last_tick_ns > 0 for device in monitor.devices.values())
