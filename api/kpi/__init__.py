"""KPIs per ISO 22400-2 and the digitalization scorecard, computed from the store and the registry.

Read top-down: :mod:`api.kpi.gather` (queries) -> :mod:`api.kpi.sheets` (KPIs from summed inputs),
:mod:`api.kpi.formulas` (pure math on readings) and :mod:`api.kpi.calendar` (planned busy time from
the shift calendar, in the plant's time zone); :mod:`api.kpi.targets` says what each line is measured by.
Every number is a :class:`~api.kpi.formulas.Kpi` carrying its formula, inputs and a confidence mark.
"""

from api.kpi.calendar import Interval, PlannedTime, parse_period, planned_busy_time
from api.kpi.formulas import Confidence, Kpi
from api.kpi.gather import LineKpis, PlantKpis, compute_plant_kpis
from api.kpi.scorecard import Scorecard, ScorePart, compute_scorecard
from api.kpi.targets import LineTargets, targets_for

__all__ = [
    "Confidence",
    "Interval",
    "Kpi",
    "LineKpis",
    "LineTargets",
    "PlannedTime",
    "PlantKpis",
    "ScorePart",
    "Scorecard",
    "compute_plant_kpis",
    "compute_scorecard",
    "parse_period",
    "planned_busy_time",
    "targets_for",
]
