"""KPI routes: scope (managers compare every plant, others only theirs), CSV export, scorecard, pages."""

from __future__ import annotations

import csv
import io
from typing import Any

from api.kpi.export import CSV_COLUMNS

from .conftest import AUTO, KILN

DAY = {"start": "2026-11-26", "end": "2026-11-27"}


async def test_managers_compare_every_plant_and_viewers_only_theirs(client: Any, auth: dict[str, Any]) -> None:
    manager = await client.get("/api/v1/compare", params=DAY, headers=auth["manager"])
    viewer = await client.get("/api/v1/compare", params=DAY, headers=auth["viewer-kiln"])
    assert manager.status_code == 200
    assert [p["plant"] for p in manager.json()["plants"]] == [AUTO, KILN]
    assert [p["plant"] for p in viewer.json()["plants"]] == [KILN]
    kiln = viewer.json()["plants"][0]
    assert kiln["start"] == "2026-11-26T00:00:00+08:00"  # the plant's own local day
    completeness = next(k for k in kiln["kpis"] if k["key"] == "completeness")
    assert completeness["confidence"] == "none"  # no data at all in the store
    assert completeness["formula"]


async def test_a_plant_outside_the_scope_is_forbidden_for_a_viewer(client: Any, auth: dict[str, Any]) -> None:
    assert (await client.get(f"/api/v1/plants/{AUTO}/kpi", params=DAY, headers=auth["viewer-kiln"])).status_code == 403
    own = await client.get(f"/api/v1/plants/{KILN}/kpi", params=DAY, headers=auth["viewer-kiln"])
    assert own.status_code == 200
    assert own.json()["timezone"] == "Asia/Shanghai"
    assert (await client.get("/api/v1/compare", params=DAY)).status_code == 401


async def test_compare_exports_csv_with_formula_and_confidence(client: Any, auth: dict[str, Any]) -> None:
    response = await client.get("/api/v1/compare", params={**DAY, "format": "csv"}, headers=auth["admin"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert {r["plant"] for r in rows} == {AUTO, KILN}
    mtta = next(r for r in rows if r["plant"] == KILN and r["kpi"] == "mtta")
    assert mtta["formula"].startswith("MTTA = ")
    assert mtta["value"] == ""


async def test_an_unreadable_period_is_a_422_with_the_reason(client: Any, auth: dict[str, Any]) -> None:
    response = await client.get("/api/v1/compare", params={"start": "soon", "end": "now"}, headers=auth["admin"])
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["query", "start"]
    assert "not a date" in problem["msg"]


async def test_scorecard_counts_page_views_and_scores_each_part(client: Any, auth: dict[str, Any]) -> None:
    for _ in range(3):
        assert (await client.get(f"/api/v1/plants/{KILN}", headers=auth["viewer-kiln"])).status_code == 200
    response = await client.get("/api/v1/scorecard", params={"start": "now-1d", "periods": 2},
                                headers=auth["viewer-kiln"])
    assert response.status_code == 200
    (card,) = response.json()["plants"]
    current, before = card["periods"]
    parts = {p["key"]: p for p in current["parts"]}
    assert parts["dashboard_use"]["inputs"]["page_views"] == 3.0
    assert parts["dashboard_use"]["score"] == 100.0  # KPI kiln has no shift calendar: one look a day is enough
    assert parts["sensors_online"]["score"] == 0.0
    assert parts["alarms_acknowledged"]["score"] is None  # no alarms: nothing to score
    assert before["end_ms"] == current["start_ms"]
    assert {p["key"]: p["inputs"].get("page_views") for p in before["parts"]}["dashboard_use"] == 0.0


async def test_the_pages_are_served_without_a_token(client: Any) -> None:
    for path in ("/compare", "/onboarding"):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "/static/style.css" in response.text
