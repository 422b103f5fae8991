"""The KPI set of a plant and period from a real embedded store and registry, checked against hand math."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.kpi import compute_plant_kpis, parse_period
from api.kpi.formulas import Confidence
from api.kpi.targets import LineTargets
from ganlink.alarms import Alarm, Severity
from ganlink.embedded_store import EmbeddedStore
from ganlink.registry import Registry
from ganlink.schema import AnomalyEvent, Reading
from ganlink.store import TimeSeriesStore
from ganlink.topics import DevicePath

from .conftest import AUTO, KILN

S = 1_000_000_000
NOW = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp()) * S
CELL = DevicePath(AUTO, "assembly", "line-1", "cell")
KILN_DEVICE = DevicePath(KILN, "clinker", "kiln-1", "kiln")
AUTO_TARGETS = {(AUTO, "line-1"): LineTargets(
    state="cell/machine-state", good_count="cell/good-count", reject_count="cell/reject-count", planned_cycle_s=15.0
)}


async def write_shift(store: TimeSeriesStore, shift_start_ns: int) -> None:
    """One 8 h shift every 10 s: 6 h running (a good part per 20 s, a reject per 200 s), 1 h fault, 1 h stopped."""
    readings: list[Reading] = []
    for step in range(8 * 360):
        t = step * 10
        state = 1.0 if t < 6 * 3600 else 2.0 if t < 7 * 3600 else 0.0
        running_t = min(t, 6 * 3600 - 10)
        time_ns = shift_start_ns + t * S
        readings += [
            Reading(CELL, "machine-state", time_ns, state),
            Reading(CELL, "good-count", time_ns, float(running_t // 20)),
            Reading(CELL, "reject-count", time_ns, float(running_t // 200)),
        ]
    await store.write_readings(readings)


async def test_discrete_line_oee_follows_iso_22400_on_a_chicago_shift(store: EmbeddedStore, registry: Registry) -> None:
    period = parse_period("2026-11-26", "2026-11-27", "America/Chicago", now_ns=NOW)
    await write_shift(store, int(datetime(2026, 11, 26, 12, tzinfo=UTC).timestamp()) * S)  # 06:00 CST
    kpis = await compute_plant_kpis(store, registry, AUTO, period, targets=AUTO_TARGETS)
    values = {k.key: k.value for k in kpis.kpis}
    good, produced = 21590 // 20, 21590 // 20 + 21590 // 200  # 1079 good, 107 rejects
    assert values["availability"] == pytest.approx(6 / 8)
    assert values["performance"] == pytest.approx(produced * 15 / (6 * 3600))
    assert values["quality"] == pytest.approx(good / produced)
    assert values["oee"] == pytest.approx(0.75 * good * 15 / (6 * 3600))
    availability = kpis.kpi("availability")
    assert availability is not None
    assert availability.inputs["PBT_h"] == 8.0
    assert availability.inputs["ADOT_h (fault)"] == 1.0
    assert availability.formula == "A = APT / (PBT - no_data)"
    # the cell reported only during its shift: a third of a day's expected readings
    completeness = kpis.kpi("completeness")
    assert completeness is not None
    assert completeness.value == pytest.approx(1 / 3)
    assert completeness.confidence is Confidence.LOW


async def test_the_same_utc_data_is_outside_the_shift_of_the_next_local_day(
    store: EmbeddedStore, registry: Registry
) -> None:
    await write_shift(store, int(datetime(2026, 11, 26, 12, tzinfo=UTC).timestamp()) * S)
    period = parse_period("2026-11-27", "2026-11-28", "America/Chicago", now_ns=NOW)
    kpis = await compute_plant_kpis(store, registry, AUTO, period, targets=AUTO_TARGETS)
    availability = kpis.kpi("availability")
    assert availability is not None
    assert availability.value is None  # no state data in that shift: nothing to divide by
    assert availability.confidence is Confidence.NONE


async def test_continuous_line_availability_run_rate_and_specific_energy(
    store: EmbeddedStore, registry: Registry
) -> None:
    period = parse_period("2026-11-26", "2026-11-27", "Asia/Shanghai", now_ns=NOW)
    readings = []
    for minute in range(24 * 60):
        time_ns = period.start_ns + minute * 60 * S
        readings.append(Reading(KILN_DEVICE, "feed-rate", time_ns, 100.0 if minute < 12 * 60 else 0.0))
        readings.append(Reading(KILN_DEVICE, "main-power", time_ns, 1000.0))
    await store.write_readings(readings)
    targets = {(KILN, "kiln-1"): LineTargets(
        throughput="kiln/feed-rate", nameplate_t_per_h=125.0, running_above_t_per_h=10.0, power=("kiln/main-power",)
    )}
    kpis = await compute_plant_kpis(store, registry, KILN, period, targets=targets)
    values = {k.key: k.value for k in kpis.kpis}
    assert values["availability"] == pytest.approx(0.5)
    assert values["produced"] == pytest.approx(1200.0)
    assert values["run_rate"] == pytest.approx(1200 / (125 * 12))
    assert values["specific_energy"] == pytest.approx(24000 / 1200)
    assert values["completeness"] == pytest.approx(1.0)
    assert [line.line for line in kpis.lines] == ["kiln-1"]


async def test_alarm_and_anomaly_rates_and_mean_time_to_acknowledge(store: EmbeddedStore, registry: Registry) -> None:
    period = parse_period("2026-11-26", "2026-11-27", "Asia/Shanghai", now_ns=NOW)
    sensor_id = KILN_DEVICE.sensor_id("feed-rate")
    for index, ack_min in enumerate([10, 30, None]):
        raised = period.start_ns + (index + 1) * 3600 * S
        alarm = Alarm(f"a{index}", sensor_id, "robust-z", "1", Severity.MAJOR, raised)
        if ack_min is not None:
            alarm = alarm.acknowledge("op", raised + ack_min * 60 * S)
        registry.open_alarm(alarm)
    registry.open_alarm(Alarm("before", sensor_id, "robust-z", "1", Severity.MAJOR, period.start_ns - S))
    await store.write_events([
        AnomalyEvent(KILN_DEVICE, "feed-rate", "robust-z", period.start_ns + k * 60 * S, 0.9, 1.0) for k in range(6)
    ])
    kpis = await compute_plant_kpis(store, registry, KILN, period)
    values = {k.key: k.value for k in kpis.kpis}
    assert values["alarm_rate"] == pytest.approx(3.0)
    assert values["ack_share"] == pytest.approx(2 / 3)
    assert values["mtta"] == pytest.approx(20.0)
    assert values["anomaly_rate"] == pytest.approx(1000 * 6 / (2 * 24))  # 2 sensors x 24 h


async def test_an_unknown_plant_is_a_lookup_error(store: EmbeddedStore, registry: Registry) -> None:
    period = parse_period("2026-11-26", "2026-11-27", "UTC", now_ns=NOW)
    with pytest.raises(LookupError, match="no plant 'nowhere'"):
        await compute_plant_kpis(store, registry, "nowhere", period)


async def test_a_period_between_shifts_has_no_planned_time_and_says_so(
    store: EmbeddedStore, registry: Registry
) -> None:
    await write_shift(store, int(datetime(2026, 11, 26, 12, tzinfo=UTC).timestamp()) * S)
    period = parse_period("2026-11-26T16:00", "2026-11-26T18:00", "America/Chicago", now_ns=NOW)
    kpis = await compute_plant_kpis(store, registry, AUTO, period, targets=AUTO_TARGETS)
    oee = kpis.kpi("oee")
    assert oee is not None
    assert oee.value is None
    assert "no planned busy time" in oee.note
    assert [line.line for line in kpis.lines] == ["line-1"]
    ack_share = kpis.kpi("ack_share")
    assert ack_share is not None
    assert ack_share.confidence is Confidence.NONE


async def test_long_periods_read_bucketed_signals_with_the_same_result(
    store: EmbeddedStore, registry: Registry
) -> None:
    await write_shift(store, int(datetime(2026, 11, 26, 12, tzinfo=UTC).timestamp()) * S)
    day = await compute_plant_kpis(store, registry, AUTO,
                                   parse_period("2026-11-26", "2026-11-27", "America/Chicago", now_ns=NOW),
                                   targets=AUTO_TARGETS)
    week = await compute_plant_kpis(store, registry, AUTO,
                                    parse_period("2026-11-23", "2026-11-30", "America/Chicago", now_ns=NOW),
                                    targets=AUTO_TARGETS)
    for key in ("availability", "performance", "quality", "oee"):
        assert week.kpi(key).value == pytest.approx(day.kpi(key).value), key  # type: ignore[union-attr]
    completeness = week.kpi("completeness")
    assert completeness is not None
    assert completeness.value == pytest.approx(1 / 3 / 7)  # counted readings, not buckets
