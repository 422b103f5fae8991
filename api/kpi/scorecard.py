"""The digitalization scorecard: how far a plant's digitization has come and how well it is used.

Seven parts, each scored 0-100 with its formula, for the chosen period and the periods before it
(the trend). A part with nothing to score (no alarms in the period) is None and left out of the
overall score, which is the mean of the parts that have a score.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from api.kpi.calendar import Interval
from api.kpi.gather import expected_readings
from api.page_views import PageViews
from ganlink.registry import Registry, SensorInfo
from ganlink.store import SensorSelector, TimeSeriesStore

__all__ = ["MTTA_BEST_MIN", "MTTA_WORST_MIN", "PeriodScore", "ScorePart", "Scorecard", "compute_scorecard", "score"]

_NS = 1_000_000_000
ONLINE_WINDOW_NS = 3600 * _NS  # a sensor is online when it delivered in the period's last hour
FRESH_WINDOW_NS = 600 * _NS
MTTA_BEST_MIN = 5.0
MTTA_WORST_MIN = 60.0


@dataclass(frozen=True, slots=True)
class ScorePart:
    key: str
    name: str
    score: float | None
    formula: str
    inputs: Mapping[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"key": self.key, "name": self.name, "score": self.score, "formula": self.formula,
                "inputs": dict(self.inputs)}


@dataclass(frozen=True, slots=True)
class PeriodScore:
    period: Interval
    parts: list[ScorePart]

    @property
    def overall(self) -> float | None:
        scores = [p.score for p in self.parts if p.score is not None]
        return round(sum(scores) / len(scores), 1) if scores else None

    def as_dict(self) -> dict[str, object]:
        return {"start_ms": self.period.start_ns // 1_000_000, "end_ms": self.period.end_ns // 1_000_000,
                "overall": self.overall, "parts": [p.as_dict() for p in self.parts]}


@dataclass(frozen=True, slots=True)
class Scorecard:
    """Newest period first in ``periods``; ``periods[0]`` is the period asked for."""

    plant: str
    name: str
    periods: list[PeriodScore]

    def as_dict(self) -> dict[str, object]:
        return {"plant": self.plant, "name": self.name, "periods": [p.as_dict() for p in self.periods]}


def score(share: float | None) -> float | None:
    """A share in [0, 1] as a 0-100 score, rounded to one decimal."""
    return None if share is None else round(100.0 * max(0.0, min(1.0, share)), 1)


def _mtta_score(mtta_min: float | None) -> float | None:
    if mtta_min is None:
        return None
    return score((MTTA_WORST_MIN - mtta_min) / (MTTA_WORST_MIN - MTTA_BEST_MIN))


async def _sensor_online(store: TimeSeriesStore, sensor: SensorInfo, window: Interval) -> bool:
    selector = SensorSelector(sensor.plant, sensor.area, sensor.line, sensor.device, sensor.id)
    return await store.count_readings(selector, window.start_ns, window.end_ns) > 0


async def _period_score(
    store: TimeSeriesStore, registry: Registry, views: PageViews, plant: str, *, sensors: list[SensorInfo],
    shifts_per_day: int, period: Interval,
) -> PeriodScore:
    span = period.duration_ns
    online_window = Interval(max(period.start_ns, period.end_ns - ONLINE_WINDOW_NS), period.end_ns)
    fresh_window = Interval(max(period.start_ns, period.end_ns - FRESH_WINDOW_NS), period.end_ns)
    selector = SensorSelector(plant)
    received, fresh, *online = await asyncio.gather(
        store.count_readings(selector, period.start_ns, period.end_ns),
        store.count_readings(selector, fresh_window.start_ns, fresh_window.end_ns),
        *(_sensor_online(store, s, online_window) for s in sensors),
    )
    expected = sum(expected_readings(s, span) for s in sensors)
    expected_fresh = sum(expected_readings(s, fresh_window.duration_ns) for s in sensors)
    alarms = [a for a in registry.alarms(plant, since_ns=period.start_ns, limit=100_000) if a.raised_ns < period.end_ns]
    acknowledged = [a for a in alarms if a.acknowledged_ns is not None]
    delays = [(a.acknowledged_ns - a.raised_ns) / (60 * _NS) for a in acknowledged if a.acknowledged_ns is not None]
    mtta = sum(delays) / len(delays) if delays else None
    labeled = sum(1 for a in alarms if a.label is not None)
    days = span / (86400 * _NS)
    page_views = views.count(plant, period.start_ns, period.end_ns)
    wanted_views = shifts_per_day * days
    n_online = sum(1 for up in online if up)
    n = float(len(alarms))
    return PeriodScore(period, [
        ScorePart("sensors_online", "Sensors online", score(n_online / len(sensors) if sensors else None),
                  "100 x sensors with a reading in the period's last hour / registered sensors",
                  {"online": float(n_online), "sensors": float(len(sensors))}),
        ScorePart("completeness", "Data completeness", score(received / expected if expected else None),
                  "100 x readings received / readings expected", {"received": float(received),
                                                                  "expected": round(expected, 1)}),
        ScorePart("freshness", "Data freshness", score(fresh / expected_fresh if expected_fresh else None),
                  "100 x readings received / expected in the period's last 10 minutes",
                  {"received": float(fresh), "expected": round(expected_fresh, 1)}),
        ScorePart("alarms_acknowledged", "Alarms acknowledged", score(len(acknowledged) / n if n else None),
                  "100 x acknowledged alarms / alarms raised", {"acknowledged": float(len(acknowledged)),
                                                                "alarms": n}),
        ScorePart("mtta", "Time to acknowledge", _mtta_score(mtta),
                  f"100 x clamp(({MTTA_WORST_MIN:g} - MTTA min) / ({MTTA_WORST_MIN:g} - {MTTA_BEST_MIN:g}), 0, 1)",
                  {"mtta_min": round(mtta, 2)} if mtta is not None else {}),
        ScorePart("anomaly_feedback", "Anomaly feedback", score(labeled / n if n else None),
                  "100 x alarms labeled (real / false / planned) / alarms raised", {"labeled": float(labeled),
                                                                                     "alarms": n}),
        ScorePart("dashboard_use", "Dashboard use", score(page_views / wanted_views if wanted_views else None),
                  "100 x min(1, page views / (shifts per day x days))  (one look per shift)",
                  {"page_views": float(page_views), "shifts": round(wanted_views, 2)}),
    ])


async def compute_scorecard(
    store: TimeSeriesStore, registry: Registry, views: PageViews, plant: str, period: Interval, *, periods: int = 4
) -> Scorecard:
    """Scores for ``period`` and the ``periods - 1`` equally long periods before it, newest first."""
    info = registry.plant(plant)
    if info is None:
        raise LookupError(f"no plant {plant!r}")
    sensors = registry.sensors_of(plant)
    shifts_per_day = max(1, len(info.shifts))
    span = period.duration_ns
    windows = [Interval(period.start_ns - k * span, period.end_ns - k * span) for k in range(periods)]
    scores = [
        await _period_score(
            store, registry, views, plant, sensors=sensors, shifts_per_day=shifts_per_day, period=window
        )
        for window in windows
    ]
    return Scorecard(plant, info.name, scores)
