"""`ganlink bench ...`: benchmarks that report rates and ratios (``--json``: one object as the last line).

Each benchmark lives with the service it measures (``<service>/bench.py`` with ``run(args) -> int``)
and is imported only when asked for.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

_BENCHMARKS = {
    "ingest": ("collector.bench", "end-to-end ingest vs the broker's and InfluxDB's raw ceilings"),
    "gateway": ("gateway.bench", "readings/s one gateway publishes, outbox on and off"),
    "analytics": ("analytics.bench", "readings/s scored per core by the combined detector"),
    "api": ("api.bench", "p95 latency of range and latest queries on 30 days of data"),
}

# Options only one benchmark takes: name -> (flag, type, default, help).
_EXTRA_OPTIONS: dict[str, list[tuple[str, type, Any, str]]] = {
    "ingest": [("--collectors", int, 1, "collector processes sharing the load (shared subscription)")],
    "api": [
        ("--days", float, 30.0, "days of 1 Hz history to load before measuring"),
        ("--sensors", int, 200, "how many sensors carry that history"),
        ("--data-dir", str, "", "keep the loaded InfluxDB here and reuse it on the next run of the same size"),
    ],
}


def _run(module_name: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        module = importlib.import_module(module_name)
        code: int = module.run(args)
        return code

    return run


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("bench", help="benchmarks (rates and ratios)")
    benches = parser.add_subparsers(dest="bench", metavar="BENCHMARK", required=True)
    for name, (module_name, help_text) in _BENCHMARKS.items():
        bench = benches.add_parser(name, help=help_text)
        bench.add_argument("--seconds", type=float, default=20.0, help="how long each measured phase runs")
        bench.add_argument("--json", action="store_true", help="print one JSON object as the last line")
        bench.add_argument("--mqtt", help="use this broker (mqtt://host:port) instead of starting one")
        bench.add_argument("--influx", help="use this InfluxDB (http://host:port) instead of starting one")
        for flag, kind, default, option_help in _EXTRA_OPTIONS.get(name, []):
            bench.add_argument(flag, type=kind, default=default, help=option_help)
        bench.set_defaults(run=_run(module_name))
