"""The TimeSeriesStore contract, one battery run against both the embedded and the InfluxDB store."""

from __future__ import annotations

import math

import pytest

from ganlink.errors import WriteRejected
from ganlink.schema import AnomalyEvent, Quality, Reading
from ganlink.store import Aggregate, SensorSelector, SeriesPoint, TimeSeriesStore
from ganlink.stores import ManagedStore
from ganlink.topics import DevicePath

S = 1_000_000_000
T0 = 1_795_770_000 * S  # 2026-11-27T07:00:00Z, a multiple of 10 s
FURNACE = DevicePath("guixi-smelter", "smelting", "flash-furnace-1", "burner-2")
CONVERTER = DevicePath("guixi-smelter", "converting", "converter-3", "tuyere-1")
PRESS = DevicePath("changchun-body", "stamping", "press-line-2", "press-4")
EVERYTHING = (0, 2**62)


def reading(device: DevicePath, sensor: str, at_s: float, value: float, quality: Quality = Quality.GOOD) -> Reading:
    return Reading(device, sensor, T0 + int(at_s * S), value, quality)


async def test_both_stores_implement_the_protocol(store: ManagedStore) -> None:
    assert isinstance(store, TimeSeriesStore)


async def test_raw_range_reads_back_exact_values_in_time_order(store: ManagedStore) -> None:
    values = [1203.5, 0.1, -1e-300, 1.7976931348623157e308, 123456789.12345679, 0.0, -42.0]
    # Written out of order on purpose: reads come back by time.
    await store.write_readings([reading(FURNACE, "gas-temp", i, v) for i, v in reversed(list(enumerate(values)))])

    points = await store.query_range(FURNACE, "gas-temp", *EVERYTHING)

    assert points == [SeriesPoint(T0 + i * S, v) for i, v in enumerate(values)]


async def test_raw_range_is_start_inclusive_end_exclusive(store: ManagedStore) -> None:
    await store.write_readings([reading(FURNACE, "gas-temp", s, float(s)) for s in range(5)])

    points = await store.query_range(FURNACE, "gas-temp", T0 + 1 * S, T0 + 3 * S)

    assert [p.value for p in points] == [1.0, 2.0]


async def test_range_reads_only_the_named_sensor_of_the_named_device(store: ManagedStore) -> None:
    await store.write_readings(
        [
            reading(FURNACE, "gas-temp", 0, 1.0),
            reading(FURNACE, "gas-temp-2", 0, 2.0),
            reading(CONVERTER, "gas-temp", 0, 3.0),
        ]
    )

    assert await store.query_range(FURNACE, "gas-temp", *EVERYTHING) == [SeriesPoint(T0, 1.0)]
    assert await store.query_range(FURNACE, "no-such-sensor", *EVERYTHING) == []


async def test_writing_the_same_series_and_time_again_overwrites(store: ManagedStore) -> None:
    await store.write_readings([reading(FURNACE, "gas-temp", 0, 1.0, Quality.BAD)])
    await store.write_readings([reading(FURNACE, "gas-temp", 0, 2.5, Quality.UNCERTAIN)])
    await store.write_readings([reading(FURNACE, "gas-temp", 0, 2.5, Quality.UNCERTAIN)])  # a replay

    assert await store.count_readings(SensorSelector(FURNACE.plant), *EVERYTHING) == 1
    assert await store.query_range(FURNACE, "gas-temp", *EVERYTHING) == [SeriesPoint(T0, 2.5)]
    [latest] = await store.latest(SensorSelector(FURNACE.plant))
    assert (latest.value, latest.quality) == (2.5, Quality.UNCERTAIN)


# Points at these seconds after T0; buckets of 10 s. Bucket [20, 30) stays empty.
BUCKET_POINTS = {3: 10.0, 7: 30.0, 9: 20.0, 12: -5.0, 18: 4.0, 31: 7.5}


@pytest.mark.parametrize(
    ("aggregate", "expected"),
    [
        (Aggregate.MEAN, [(0, 20.0), (10, -0.5), (30, 7.5)]),
        (Aggregate.MIN, [(0, 10.0), (10, -5.0), (30, 7.5)]),
        (Aggregate.MAX, [(0, 30.0), (10, 4.0), (30, 7.5)]),
        (Aggregate.LAST, [(0, 20.0), (10, 4.0), (30, 7.5)]),
        (Aggregate.COUNT, [(0, 3.0), (10, 2.0), (30, 1.0)]),
    ],
)
async def test_bucket_aggregates_match_hand_computed_values_and_skip_empty_buckets(
    store: ManagedStore, aggregate: Aggregate, expected: list[tuple[int, float]]
) -> None:
    await store.write_readings([reading(FURNACE, "gas-temp", s, v) for s, v in BUCKET_POINTS.items()])

    points = await store.query_range(FURNACE, "gas-temp", T0, T0 + 40 * S, bucket_ns=10 * S, aggregate=aggregate)

    assert points == [SeriesPoint(T0 + s * S, v) for s, v in expected]


async def test_buckets_align_to_epoch_multiples_even_when_the_range_starts_mid_bucket(store: ManagedStore) -> None:
    await store.write_readings([reading(FURNACE, "gas-temp", s, v) for s, v in BUCKET_POINTS.items()])

    # From 5 s: the first bucket still starts at T0 but holds only the points at 7 and 9 s.
    points = await store.query_range(
        FURNACE, "gas-temp", T0 + 5 * S, T0 + 18 * S, bucket_ns=10 * S, aggregate=Aggregate.MEAN
    )

    assert points == [SeriesPoint(T0, 25.0), SeriesPoint(T0 + 10 * S, -5.0)]


async def test_bucket_width_must_be_positive(store: ManagedStore) -> None:
    with pytest.raises(ValueError, match="bucket_ns"):
        await store.query_range(FURNACE, "gas-temp", *EVERYTHING, bucket_ns=0)


async def test_latest_is_the_newest_reading_of_each_sensor_not_the_last_written(store: ManagedStore) -> None:
    await store.write_readings(
        [
            reading(FURNACE, "gas-temp", 5, 1250.0, Quality.UNCERTAIN),
            reading(FURNACE, "gas-temp", 1, 1100.0),
            reading(FURNACE, "o2-flow", 2, 31.5),
            reading(CONVERTER, "blast-pressure", 3, 0.25, Quality.BAD),
            reading(PRESS, "tonnage", 4, 800.0),
        ]
    )
    await store.write_readings([reading(FURNACE, "gas-temp", 3, 999.0)])  # older than what is stored

    latest = await store.latest(SensorSelector("guixi-smelter"))

    found = {(item.device, item.sensor): (item.time_ns, item.value, item.quality) for item in latest}
    assert found == {
        (FURNACE, "gas-temp"): (T0 + 5 * S, 1250.0, Quality.UNCERTAIN),
        (FURNACE, "o2-flow"): (T0 + 2 * S, 31.5, Quality.GOOD),
        (CONVERTER, "blast-pressure"): (T0 + 3 * S, 0.25, Quality.BAD),
    }
    assert len(latest) == 3


@pytest.mark.parametrize(
    ("selector", "expected_sensors"),
    [
        (SensorSelector("guixi-smelter", area="smelting"), {"gas-temp", "o2-flow"}),
        (SensorSelector("guixi-smelter", line="converter-3"), {"blast-pressure"}),
        (SensorSelector("guixi-smelter", device="burner-2", sensor="o2-flow"), {"o2-flow"}),
        (SensorSelector("changchun-body"), {"tonnage"}),
        (SensorSelector("no-such-plant"), set()),
    ],
)
async def test_latest_honours_every_selector_level(
    store: ManagedStore, selector: SensorSelector, expected_sensors: set[str]
) -> None:
    await store.write_readings(
        [
            reading(FURNACE, "gas-temp", 1, 1.0),
            reading(FURNACE, "o2-flow", 1, 2.0),
            reading(CONVERTER, "blast-pressure", 1, 3.0),
            reading(PRESS, "tonnage", 1, 4.0),
        ]
    )

    assert {item.sensor for item in await store.latest(selector)} == expected_sensors


async def test_count_readings_counts_the_selection_in_the_half_open_range(store: ManagedStore) -> None:
    await store.write_readings(
        [reading(FURNACE, "gas-temp", s, 1.0) for s in range(10)]
        + [reading(CONVERTER, "blast-pressure", s, 1.0) for s in range(4)]
        + [reading(PRESS, "tonnage", s, 1.0) for s in range(7)]
    )

    assert await store.count_readings(SensorSelector("guixi-smelter"), *EVERYTHING) == 14
    assert await store.count_readings(SensorSelector("guixi-smelter", area="smelting"), T0 + 2 * S, T0 + 5 * S) == 3
    assert await store.count_readings(SensorSelector("changchun-body"), T0 + 7 * S, T0 + 9 * S) == 0


def event(
    device: DevicePath, sensor: str, detector: str, at_s: float, score: float, alarm_id: str = ""
) -> AnomalyEvent:
    return AnomalyEvent(device, sensor, detector, T0 + int(at_s * S), score, 100.0 + at_s, alarm_id)


async def test_events_round_trip_newest_first_within_range_and_limit(store: ManagedStore) -> None:
    written = [
        event(FURNACE, "gas-temp", "robust-z", 1, 0.91, "alm-1"),
        event(FURNACE, "gas-temp", "robust-z", 4, 0.97),
        event(FURNACE, "o2-flow", "rate-of-change", 2, 0.5, "alm-2"),
        event(CONVERTER, "blast-pressure", "robust-z", 3, 0.75),
        event(PRESS, "tonnage", "robust-z", 2.5, 0.99, "alm-9"),
    ]
    await store.write_events(written)

    everything = await store.events(SensorSelector("guixi-smelter"), *EVERYTHING)
    assert everything == sorted(
        [e for e in written if e.device.plant == "guixi-smelter"], key=lambda e: e.time_ns, reverse=True
    )
    assert await store.events(SensorSelector("guixi-smelter"), *EVERYTHING, limit=2) == everything[:2]
    assert await store.events(SensorSelector("guixi-smelter", sensor="o2-flow"), *EVERYTHING) == [written[2]]
    assert await store.events(SensorSelector("guixi-smelter"), T0 + 2 * S, T0 + 4 * S) == [written[3], written[2]]


async def test_events_are_idempotent_per_series_detector_and_time(store: ManagedStore) -> None:
    await store.write_events([event(FURNACE, "gas-temp", "robust-z", 1, 0.5)])
    await store.write_events([event(FURNACE, "gas-temp", "robust-z", 1, 0.8, "alm-7")])
    await store.write_events([event(FURNACE, "gas-temp", "isolation-forest", 1, 0.6)])

    found = await store.events(SensorSelector("guixi-smelter"), *EVERYTHING)

    assert {(e.detector, e.score, e.alarm_id) for e in found} == {
        ("robust-z", 0.8, "alm-7"),
        ("isolation-forest", 0.6, ""),
    }


AWKWARD_NAMES = ["gas temp", "gas,temp", "gas=temp", "a, b = c", "x' OR sensor='y", 'q"uote', "温度", "back\\slash"]


@pytest.mark.parametrize("sensor", AWKWARD_NAMES)
async def test_awkward_sensor_names_survive_write_and_every_read(store: ManagedStore, sensor: str) -> None:
    await store.write_readings([reading(FURNACE, sensor, 1, 42.0), reading(FURNACE, "y", 1, 1.0)])
    await store.write_events([event(FURNACE, sensor, f"detector {sensor}", 1, 0.9, f'alarm "{sensor}" \\ end')])

    assert await store.query_range(FURNACE, sensor, *EVERYTHING) == [SeriesPoint(T0 + S, 42.0)]
    assert [(i.sensor, i.value) for i in await store.latest(SensorSelector(FURNACE.plant, sensor=sensor))] == [
        (sensor, 42.0)
    ]
    assert await store.count_readings(SensorSelector(FURNACE.plant, sensor=sensor), *EVERYTHING) == 1
    [found] = await store.events(SensorSelector(FURNACE.plant, sensor=sensor), *EVERYTHING)
    assert (found.sensor, found.detector, found.alarm_id) == (sensor, f"detector {sensor}", f'alarm "{sensor}" \\ end')


async def test_an_empty_store_answers_empty(store: ManagedStore) -> None:
    selector = SensorSelector("guixi-smelter")
    assert await store.latest(selector) == []
    assert await store.events(selector, *EVERYTHING) == []
    assert await store.count_readings(selector, *EVERYTHING) == 0
    assert await store.query_range(FURNACE, "gas-temp", *EVERYTHING, bucket_ns=S) == []
    await store.write_readings([])  # nothing to do is not an error
    await store.write_events([])


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
async def test_non_finite_values_are_write_rejected_before_anything_is_written(store: ManagedStore, bad: float) -> None:
    # WriteRejected, not a crash: the collector bisects the batch down to this one reading.
    with pytest.raises(WriteRejected, match="not finite") as caught:
        await store.write_readings([reading(FURNACE, "gas-temp", 0, 1.0), reading(FURNACE, "gas-temp", 1, bad)])
    with pytest.raises(WriteRejected, match="not finite"):
        await store.write_events([event(FURNACE, "gas-temp", "robust-z", 1, bad)])

    assert caught.value.status == 400
    assert "guixi-smelter.smelting.flash-furnace-1.burner-2.gas-temp" in caught.value.server_message
    assert await store.count_readings(SensorSelector(FURNACE.plant), *EVERYTHING) == 0
    assert await store.events(SensorSelector(FURNACE.plant), *EVERYTHING) == []


async def test_text_that_is_not_valid_unicode_is_write_rejected(store: ManagedStore) -> None:
    # JSON may carry a lone surrogate ("\ud800") in an anomaly's detector or alarm id.
    with pytest.raises(WriteRejected, match="not storable"):
        await store.write_events([event(FURNACE, "gas-temp", "robust-z", 1, 0.9, alarm_id="alm-\ud800")])

    assert await store.events(SensorSelector(FURNACE.plant), *EVERYTHING) == []
