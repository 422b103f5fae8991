"""Grafana dashboards for ganlink, generated from code: plant overview, line detail with anomaly
annotations, and factory comparison, all InfluxQL against the InfluxDB datasource.

Queries are built from :class:`InfluxQuery` so every measurement, field and tag comes from the store
schema (DESIGN.md): ``telemetry`` (tags plant, area, line, device, sensor; fields value, quality) and
``anomaly`` (+ tag detector; fields score, value, alarm_id). ``ganlink grafana export`` writes the
JSON models to ``deploy/grafana/dashboards``; ``ganlink grafana push`` uploads them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganlink.store import ANOMALY_MEASUREMENT, TELEMETRY_MEASUREMENT

__all__ = [
    "DATASOURCE_UID",
    "SCHEMA",
    "InfluxQuery",
    "all_dashboards",
    "datasource_model",
    "factory_comparison",
    "line_detail",
    "plant_overview",
    "write_dashboards",
]

DATASOURCE_UID = "ganlink-influxdb"
SCHEMA_VERSION = 39
_TAGS = ("plant", "area", "line", "device", "sensor")
# measurement -> (tags, fields), as DESIGN.md fixes them
SCHEMA: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    TELEMETRY_MEASUREMENT: (_TAGS, ("value", "quality")),
    ANOMALY_MEASUREMENT: ((*_TAGS, "detector"), ("score", "value", "alarm_id")),
}
_DATASOURCE = {"type": "influxdb", "uid": DATASOURCE_UID}
Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class InfluxQuery:
    """One InfluxQL query over a ganlink measurement; ``where`` tags match Grafana variables of the same name."""

    measurement: str
    select: tuple[tuple[str, str], ...]  # (function, field); function "" selects the raw field
    where: tuple[str, ...] = ()
    group_by: tuple[str, ...] = ()
    bucket: bool = True

    def __post_init__(self) -> None:
        tags, fields = SCHEMA[self.measurement]
        unknown = [f for _, f in self.select if f not in fields] + [t for t in (*self.where, *self.group_by)
                                                                    if t not in tags]
        if unknown:
            raise ValueError(f"{self.measurement} has no field or tag {unknown}")

    def render(self) -> str:
        columns = ", ".join(f'{fn}("{field}") AS "{field}"' if fn else f'"{field}"' for fn, field in self.select)
        conditions = [f'"{tag}" =~ /^${tag}$/' for tag in self.where] + ["$timeFilter"]
        groups = (["time($__interval)"] if self.bucket else []) + [f'"{tag}"' for tag in self.group_by]
        text = f'SELECT {columns} FROM "{self.measurement}" WHERE {" AND ".join(conditions)}'  # noqa: S608 - names checked against SCHEMA
        if groups:
            text += f" GROUP BY {', '.join(groups)}"
        return text + (" fill(none)" if self.bucket else "")


def _target(query: InfluxQuery, ref: str, alias: str = "", fmt: str = "time_series") -> Json:
    return {"refId": ref, "datasource": _DATASOURCE, "rawQuery": True, "query": query.render(),
            "resultFormat": fmt, "alias": alias}


def _panel(pid: int, title: str, kind: str, grid: tuple[int, int, int, int], targets: list[Json], *,
           unit: str = "short", description: str = "") -> Json:
    x, y, w, h = grid
    return {"id": pid, "type": kind, "title": title, "description": description, "datasource": _DATASOURCE,
            "gridPos": {"x": x, "y": y, "w": w, "h": h}, "targets": targets,
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []}, "options": {}}


def _variable(tag: str, parents: tuple[str, ...], *, multi: bool = False) -> Json:
    where = " AND ".join(f'"{p}" =~ /^${p}$/' for p in parents)
    query = f'SHOW TAG VALUES FROM "{TELEMETRY_MEASUREMENT}" WITH KEY = "{tag}"' + (f" WHERE {where}" if where else "")
    return {"name": tag, "label": tag, "type": "query", "datasource": _DATASOURCE, "query": query,
            "refresh": 1, "multi": multi, "includeAll": multi, "sort": 1,
            "current": {}, "options": [], "hide": 0}


def _dashboard(uid: str, title: str, panels: list[Json], variables: list[Json], *,
               annotations: list[Json] | None = None, description: str = "") -> Json:
    builtin = {"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
               "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"}
    return {
        "uid": uid, "title": title, "description": description, "tags": ["ganlink"], "timezone": "browser",
        "schemaVersion": SCHEMA_VERSION, "version": 1, "editable": True, "refresh": "10s",
        "time": {"from": "now-6h", "to": "now"}, "panels": panels,
        "templating": {"list": variables}, "annotations": {"list": [builtin, *(annotations or [])]},
    }


def plant_overview() -> Json:
    """A plant at a glance: data flow per line, latest values, anomalies, reading quality."""
    rate = InfluxQuery(TELEMETRY_MEASUREMENT, (("count", "value"),), ("plant",), ("line",))
    quality = InfluxQuery(TELEMETRY_MEASUREMENT, (("mean", "quality"),), ("plant",), ("line",))
    anomalies = InfluxQuery(ANOMALY_MEASUREMENT, (("count", "score"),), ("plant",), ("line", "detector"))
    latest = InfluxQuery(TELEMETRY_MEASUREMENT, (("last", "value"),), ("plant",),
                         ("area", "line", "device", "sensor"), bucket=False)
    panels = [
        _panel(1, "Readings per interval by line", "timeseries", (0, 0, 12, 8), [_target(rate, "A", "$tag_line")],
               description="count of telemetry values; a drop means a gateway or line stopped sending"),
        _panel(2, "Anomaly events by line and detector", "timeseries", (12, 0, 12, 8),
               [_target(anomalies, "A", "$tag_line $tag_detector")]),
        _panel(3, "Mean reading quality (0 good, 1 uncertain, 2 bad)", "timeseries", (0, 8, 12, 8),
               [_target(quality, "A", "$tag_line")]),
        _panel(4, "Latest value of every sensor", "table", (12, 8, 12, 8), [_target(latest, "A", fmt="table")]),
    ]
    return _dashboard("ganlink-plant-overview", "ganlink · plant overview", panels, [_variable("plant", ())],
                      description="One plant: data flow, anomalies and reading quality per line.")


def line_detail() -> Json:
    """One line's sensors over time, with anomaly events as annotations."""
    values = InfluxQuery(TELEMETRY_MEASUREMENT, (("mean", "value"),), ("plant", "area", "line", "sensor"),
                         ("device", "sensor"))
    scores = InfluxQuery(ANOMALY_MEASUREMENT, (("max", "score"),), ("plant", "area", "line"), ("sensor",))
    events = InfluxQuery(ANOMALY_MEASUREMENT, (("", "score"), ("", "value"), ("", "alarm_id")),
                         ("plant", "area", "line"), bucket=False)
    annotation = {"name": "Anomalies", "datasource": _DATASOURCE, "enable": True, "iconColor": "#ff4d4f",
                  "query": events.render(), "tagsColumn": "sensor,detector", "textColumn": "alarm_id"}
    panels = [
        _panel(1, "Sensors of $line", "timeseries", (0, 0, 24, 10), [_target(values, "A", "$tag_device/$tag_sensor")],
               description="mean per interval; red marks are anomaly events"),
        _panel(2, "Anomaly score by sensor", "timeseries", (0, 10, 24, 7), [_target(scores, "A", "$tag_sensor")],
               unit="percentunit"),
    ]
    variables = [_variable("plant", ()), _variable("area", ("plant",)), _variable("line", ("plant", "area")),
                 _variable("sensor", ("plant", "area", "line"), multi=True)]
    return _dashboard("ganlink-line-detail", "ganlink · line detail", panels, variables, annotations=[annotation],
                      description="One line's sensors with anomaly annotations from the anomaly measurement.")


def factory_comparison() -> Json:
    """Plants side by side: data flow, reading quality and anomaly rate (KPIs live on the API's /compare)."""
    flow = InfluxQuery(TELEMETRY_MEASUREMENT, (("count", "value"),), ("plant",), ("plant",))
    quality = InfluxQuery(TELEMETRY_MEASUREMENT, (("mean", "quality"),), ("plant",), ("plant",))
    anomalies = InfluxQuery(ANOMALY_MEASUREMENT, (("count", "score"),), ("plant",), ("plant",))
    panels = [
        _panel(1, "Readings per interval by plant", "timeseries", (0, 0, 12, 8), [_target(flow, "A", "$tag_plant")]),
        _panel(2, "Anomaly events by plant", "timeseries", (12, 0, 12, 8), [_target(anomalies, "A", "$tag_plant")]),
        _panel(3, "Mean reading quality by plant", "timeseries", (0, 8, 24, 7), [_target(quality, "A", "$tag_plant")]),
    ]
    plants = _variable("plant", (), multi=True)
    return _dashboard("ganlink-factory-comparison", "ganlink · factory comparison", panels, [plants],
                      description="Pilot plants side by side. ISO 22400 KPIs with formulas: the ganlink /compare page.")


def all_dashboards() -> dict[str, Json]:
    """File name -> dashboard JSON model."""
    return {
        "plant-overview.json": plant_overview(),
        "line-detail.json": line_detail(),
        "factory-comparison.json": factory_comparison(),
    }


def datasource_model(url: str, database: str = "ganlink") -> Json:
    """The InfluxQL datasource as Grafana's HTTP API takes it (provisioning has the same in YAML)."""
    return {"name": "ganlink InfluxDB", "uid": DATASOURCE_UID, "type": "influxdb", "access": "proxy", "url": url,
            "database": database, "isDefault": True, "jsonData": {"dbName": database, "httpMode": "GET"}}


def write_dashboards(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in all_dashboards().items():
        path = folder / name
        path.write_text(json.dumps(model, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written
