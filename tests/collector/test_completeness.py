"""Completeness per sensor: received vs expected from the sample period, by source-time window."""

from __future__ import annotations

from pathlib import Path

from collector.completeness import CompletenessStore, CompletenessTracker
from ganlink.assets import bundled_plant_files, load_plant_file
from ganlink.schema import Reading
from ganlink.topics import DevicePath

S = 1_000_000_000
DEVICE = DevicePath("p", "a", "l", "d")


def test_a_closed_window_reports_received_against_expected() -> None:
    tracker = CompletenessTracker({(DEVICE, "temp"): 2.0}, window_s=60, grace_s=10)
    start = 1_800_000_000 * S - (1_800_000_000 * S) % (60 * S)
    tracker.observe([Reading(DEVICE, "temp", start + i * 2 * S, 1.0) for i in range(15)])  # 15 of 30
    tracker.observe([Reading(DEVICE, "other", start, 1.0)])
    assert tracker.closed(now_ns=start + 65 * S) == []  # not closed yet: within grace
    windows = {w.sensor: w for w in tracker.closed(now_ns=start + 71 * S)}
    assert windows["temp"].received == 15
    assert windows["temp"].expected == 30
    assert windows["temp"].ratio == 0.5
    assert windows["other"].expected is None  # not declared in any plant file
    assert tracker.closed(now_ns=start + 200 * S) == []  # reported once


def test_windows_are_stored_and_late_readings_add_up(tmp_path: Path) -> None:
    tracker = CompletenessTracker({(DEVICE, "temp"): 1.0}, window_s=60, grace_s=0)
    store = CompletenessStore(tmp_path / "c.sqlite")
    start = 120 * S
    tracker.observe([Reading(DEVICE, "temp", start + i * S, 1.0) for i in range(50)])
    store.add(tracker.closed(now_ns=start + 61 * S))
    tracker.observe([Reading(DEVICE, "temp", start + 55 * S, 1.0)])  # late
    store.add(tracker.closed(now_ns=start + 61 * S))
    [window] = store.windows("p", 0, 10**18)
    assert (window.received, window.expected, window.window_start_ns) == (51, 60, start)


def test_sample_periods_come_from_the_plant_files() -> None:
    path = bundled_plant_files()[0]
    ref = next(load_plant_file(path).sensors())
    tracker = CompletenessTracker.from_plant_files([path], window_s=60, grace_s=0)
    tracker.observe([Reading(ref.device, ref.sensor.id, 0, 1.0)])
    [window] = tracker.closed(now_ns=10**6 * S)
    assert window.expected == 60 / ref.sensor.sample_period_s
