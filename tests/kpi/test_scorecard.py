"""Digitalization scorecard: each part's 0-100 score from hand-made data, and the trend periods."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.kpi import compute_scorecard, parse_period
from api.kpi.scorecard import MTTA_BEST_MIN, MTTA_WORST_MIN, score
from api.page_views import PageViews
from ganlink.alarms import Alarm, Label, Severity
from ganlink.embedded_store import EmbeddedStore
from ganlink.registry import Registry
from ganlink.schema import Reading
from ganlink.topics import DevicePath

from .conftest import KILN

S = 1_000_000_000
NOW = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp()) * S
KILN_DEVICE = DevicePath(KILN, "clinker", "kiln-1", "kiln")


def test_scores_clamp_shares_to_0_100() -> None:
    assert score(0.5) == 50.0
    assert score(1.7) == 100.0
    assert score(-0.2) == 0.0
    assert score(None) is None


async def test_each_part_scores_what_its_formula_says(store: EmbeddedStore, registry: Registry) -> None:
    period = parse_period("2026-11-26", "2026-11-27", "Asia/Shanghai", now_ns=NOW)
    # feed-rate reports all day every minute; main-power only in the first 12 hours
    readings = [Reading(KILN_DEVICE, "feed-rate", period.start_ns + m * 60 * S, 100.0) for m in range(24 * 60)]
    readings += [Reading(KILN_DEVICE, "main-power", period.start_ns + m * 60 * S, 900.0) for m in range(12 * 60)]
    await store.write_readings(readings)
    sensor_id = KILN_DEVICE.sensor_id("feed-rate")
    for index, (ack_min, label) in enumerate([(10, Label.REAL), (30, None), (None, Label.FALSE), (None, None)]):
        raised = period.start_ns + (index + 1) * 3600 * S
        alarm = Alarm(f"s{index}", sensor_id, "robust-z", "1", Severity.MINOR, raised)
        if ack_min is not None:
            alarm = alarm.acknowledge("op", raised + ack_min * 60 * S)
        if label is not None:
            alarm = alarm.set_label(label, "op")
        registry.open_alarm(alarm)
    views = PageViews.of(registry)
    views.record(KILN, "workshop", period.start_ns + 3600 * S)
    views.record(KILN, "workshop", period.start_ns - 3600 * S)  # the day before: counts for the older period

    card = await compute_scorecard(store, registry, views, KILN, period, periods=2)
    parts = {p.key: p.score for p in card.periods[0].parts}
    assert parts["sensors_online"] == 50.0  # main-power silent in the last hour
    assert parts["completeness"] == 75.0  # (1440 + 720) / 2880
    assert parts["freshness"] == 50.0  # last 10 min: 10 of 20 expected readings
    assert parts["alarms_acknowledged"] == 50.0
    mtta = 20.0
    assert parts["mtta"] == pytest.approx(round(100 * (MTTA_WORST_MIN - mtta) / (MTTA_WORST_MIN - MTTA_BEST_MIN), 1))
    assert parts["anomaly_feedback"] == 50.0
    assert parts["dashboard_use"] == 100.0  # no shift calendar: one view per day is the target
    assert card.periods[0].overall == pytest.approx(round(sum(v for v in parts.values() if v is not None) / 7, 1))

    older = {p.key: p.score for p in card.periods[1].parts}
    assert card.periods[1].period.end_ns == period.start_ns
    assert older["completeness"] == 0.0
    assert older["alarms_acknowledged"] is None  # no alarms that day: nothing to score
    assert older["dashboard_use"] == 100.0
