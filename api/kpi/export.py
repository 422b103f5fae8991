"""KPI sets as flat rows: one row per plant (or line) and KPI, for CSV export and terminals."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence

from api.kpi.formulas import Kpi
from api.kpi.gather import PlantKpis

__all__ = ["CSV_COLUMNS", "kpi_rows", "to_csv", "to_text"]

CSV_COLUMNS = (
    "plant", "area", "line", "period_start", "period_end", "timezone", "kpi", "iso_name", "value", "unit",
    "confidence", "completeness", "formula", "inputs", "note",
)


def _row(plant: PlantKpis, kpi: Kpi, area: str = "", line: str = "") -> dict[str, object]:
    return {
        "plant": plant.plant,
        "area": area,
        "line": line,
        "period_start": plant.local(plant.period.start_ns),
        "period_end": plant.local(plant.period.end_ns),
        "timezone": plant.timezone,
        "kpi": kpi.key,
        "iso_name": kpi.iso_name,
        "value": "" if kpi.value is None else round(kpi.value, 6),
        "unit": kpi.unit,
        "confidence": str(kpi.confidence),
        "completeness": "" if kpi.completeness is None else round(kpi.completeness, 4),
        "formula": kpi.formula,
        "inputs": json.dumps(dict(kpi.inputs), separators=(",", ":")),
        "note": kpi.note,
    }


def kpi_rows(plants: Iterable[PlantKpis], *, lines: bool = True) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for plant in plants:
        rows += [_row(plant, k) for k in plant.kpis]
        if lines:
            rows += [_row(plant, k, line.area, line.line) for line in plant.lines for k in line.kpis]
    return rows


def to_csv(rows: Sequence[dict[str, object]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _value(kpi: Kpi) -> str:
    if kpi.value is None:
        return "—"
    if kpi.unit == "ratio":
        return f"{100 * kpi.value:.1f} %"
    return f"{kpi.value:.3g} {kpi.unit}"


def to_text(plant: PlantKpis) -> str:
    """A readable KPI sheet for a terminal."""
    out = [f"{plant.name} ({plant.plant}, {plant.industry})  {plant.local(plant.period.start_ns)} .. "
           f"{plant.local(plant.period.end_ns)}"]

    def block(title: str, kpis: Sequence[Kpi]) -> None:
        out.append(f"  {title}")
        for k in kpis:
            mark = {"high": "", "low": "  [low confidence]", "none": "  [no data]"}[str(k.confidence)]
            note = f"  ({k.note})" if k.note else ""
            out.append(f"    {k.name:<26} {_value(k):>16}   {k.formula}{mark}{note}")
    block("plant", plant.kpis)
    for line in plant.lines:
        block(f"{line.area}/{line.line} ({line.kind})", line.kpis)
    return "\n".join(out)
