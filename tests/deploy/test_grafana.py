"""Grafana: the shipped dashboards are the generated ones, valid models, and query only the DESIGN.md schema;
`ganlink grafana push` speaks Grafana's HTTP API (checked against a recording HTTP server: no Grafana here)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.grafana_dashboards import DATASOURCE_UID, InfluxQuery, all_dashboards
from ganlink.cli import main

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"

# DESIGN.md "Time-series store", written out independently of the generator
DESIGN_SCHEMA = {
    "telemetry": ({"plant", "area", "line", "device", "sensor"}, {"value", "quality"}),
    "anomaly": ({"plant", "area", "line", "device", "sensor", "detector"}, {"score", "value", "alarm_id"}),
}
GRAFANA_PANEL_TYPES = {"timeseries", "table", "stat", "gauge", "bargauge", "text"}


def documented_schema() -> dict[str, tuple[set[str], set[str]]]:
    """The measurement table of docs/architecture.md (the repository's copy of DESIGN.md's schema)."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| ([\w, ]+) \| (.+?) \| [^|]+ \|$", text, re.MULTILINE)
    return {name: ({t.strip() for t in tags.split(",")}, set(re.findall(r"(\w+) \(", fields)))
            for name, tags, fields in rows}


def test_the_schema_checked_here_is_the_documented_one() -> None:
    assert documented_schema() == DESIGN_SCHEMA


def shipped() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARDS.glob("*.json"))}


def queries_of(model: dict[str, Any]) -> list[str]:
    found = [t["query"] for panel in model["panels"] for t in panel["targets"]]
    found += [v["query"] for v in model["templating"]["list"]]
    found += [a["query"] for a in model["annotations"]["list"] if "query" in a]
    return found


def names_in(query: str) -> tuple[str, set[str], set[str]]:
    """(measurement, tags, fields) an InfluxQL query uses."""
    measurement = re.search(r'FROM "(\w+)"', query)
    assert measurement, query
    tags = set(re.findall(r'"(\w+)" =~', query)) | set(re.findall(r'WITH KEY = "(\w+)"', query))
    group = re.search(r"GROUP BY (.*?)(?: fill\(|$)", query)
    if group:
        tags |= set(re.findall(r'"(\w+)"', group.group(1)))
    select = re.match(r"SELECT (.*?) FROM", query)
    fields = set(re.findall(r'\w*\(?"(\w+)"\)?(?: AS "\w+")?', select.group(1))) if select else set()
    return measurement.group(1), tags, fields


def test_the_shipped_dashboards_are_the_generated_ones() -> None:
    generated = {name: json.loads(json.dumps(model)) for name, model in all_dashboards().items()}
    assert shipped() == generated, "run `ganlink grafana export` and commit deploy/grafana/dashboards"
    assert set(generated) == {"plant-overview.json", "line-detail.json", "factory-comparison.json"}


@pytest.mark.parametrize("name", sorted(all_dashboards()))
def test_each_dashboard_is_a_valid_grafana_model(name: str) -> None:
    model = shipped()[name]
    assert model["uid"].startswith("ganlink-")
    assert model["title"]
    assert isinstance(model["schemaVersion"], int)
    ids = [p["id"] for p in model["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in model["panels"]:
        assert panel["type"] in GRAFANA_PANEL_TYPES
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"}
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        assert panel["datasource"]["uid"] == DATASOURCE_UID
        refs = [t["refId"] for t in panel["targets"]]
        assert refs
        assert len(refs) == len(set(refs))
        assert all(t["rawQuery"] is True for t in panel["targets"])
    assert next(v["name"] for v in model["templating"]["list"]) == "plant"


@pytest.mark.parametrize("name", sorted(all_dashboards()))
def test_every_query_uses_only_measurements_tags_and_fields_of_the_design_schema(name: str) -> None:
    for query in queries_of(shipped()[name]):
        measurement, tags, fields = names_in(query)
        assert measurement in DESIGN_SCHEMA, query
        known_tags, known_fields = DESIGN_SCHEMA[measurement]
        assert tags <= known_tags, f"unknown tags {tags - known_tags} in {query}"
        assert fields <= known_fields, f"unknown fields {fields - known_fields} in {query}"
        variables = set(re.findall(r"\$(\w+)", query)) - {"timeFilter", "__interval"}
        assert variables <= {v["name"] for v in shipped()[name]["templating"]["list"]}, query


def test_the_line_dashboard_annotates_anomalies_from_the_anomaly_measurement() -> None:
    annotations = [a for a in shipped()["line-detail.json"]["annotations"]["list"] if "query" in a]
    assert len(annotations) == 1
    assert 'FROM "anomaly"' in annotations[0]["query"]
    assert set(annotations[0]["tagsColumn"].split(",")) <= DESIGN_SCHEMA["anomaly"][0]


def test_the_schema_check_catches_a_wrong_name() -> None:
    with pytest.raises(ValueError, match="no field or tag"):
        InfluxQuery("telemetry", (("mean", "value"),), ("factory",))
    wrong = 'SELECT mean("temp") AS "temp" FROM "telemetry" WHERE "site" =~ /^$site$/ AND $timeFilter'
    _, tags, fields = names_in(wrong)
    assert tags == {"site"}
    assert fields == {"temp"}


def test_provisioning_points_at_the_influxql_datasource_and_the_dashboard_folder() -> None:
    datasource = yaml.safe_load((PROVISIONING / "datasources" / "influxdb.yaml").read_text())["datasources"][0]
    assert datasource["type"] == "influxdb"
    assert datasource["uid"] == DATASOURCE_UID
    assert datasource["url"] == "http://influxdb:8086"
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "ganlink.yaml").read_text())["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


class _Recorder(BaseHTTPRequestHandler):
    requests: list[tuple[str, str, str, Any]]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.requests.append((self.command, self.path, self.headers.get("Authorization", ""), body))
        if self.command == "GET" and self.path == f"/api/datasources/uid/{DATASOURCE_UID}":
            status, reply = 404, {"message": "Data source not found"}
        elif self.path == "/api/dashboards/db":
            uid = body["dashboard"]["uid"]
            status, reply = 200, {"status": "success", "uid": uid, "url": f"/d/{uid}/x", "version": 1}
        else:
            status, reply = 200, {"id": 1, "message": "Datasource added"}
        data = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _answer  # noqa: N815 - http.server dispatches on these names

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads the recorded requests instead."""


@pytest.fixture
def fake_grafana() -> Iterator[tuple[str, list[tuple[str, str, str, Any]]]]:
    recorded: list[tuple[str, str, str, Any]] = []
    handler = type("Recorder", (_Recorder,), {"requests": recorded})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", recorded
    server.shutdown()
    server.server_close()
    thread.join()


def test_push_creates_the_datasource_and_uploads_every_dashboard_with_the_token(
    fake_grafana: tuple[str, list[tuple[str, str, str, Any]]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, recorded = fake_grafana
    code = main(["grafana", "push", "--url", url, "--token", "glsa_test", "--influx-url", "http://influxdb:8086"])
    assert code == 0
    calls = [(method, path) for method, path, _, _ in recorded]
    assert calls[:2] == [("GET", f"/api/datasources/uid/{DATASOURCE_UID}"), ("POST", "/api/datasources")]
    uploads = [body for method, path, _, body in recorded if (method, path) == ("POST", "/api/dashboards/db")]
    assert sorted(u["dashboard"]["uid"] for u in uploads) == sorted(m["uid"] for m in all_dashboards().values())
    assert all(u["overwrite"] is True for u in uploads)
    assert {auth for _, _, auth, _ in recorded} == {"Bearer glsa_test"}
    assert recorded[1][3]["type"] == "influxdb"
    assert "plant-overview.json: success" in capsys.readouterr().out


def test_push_reports_an_unreachable_grafana_as_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["grafana", "push", "--url", "http://127.0.0.1:9", "--token", "t", "--timeout", "2"])
    assert code == 2
    assert "Grafana at http://127.0.0.1:9" in capsys.readouterr().err
