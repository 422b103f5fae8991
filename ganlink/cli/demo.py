"""`ganlink demo`: everything in one process (see ganlink/demo.py)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any


def _run(args: argparse.Namespace) -> int:
    from ganlink.demo import DemoOptions, run_demo  # noqa: PLC0415 - keeps `ganlink --help` fast

    options = DemoOptions(
        port=args.port, host=args.host, mqtt_url=args.mqtt, influx_url=args.influx, data_dir=args.data_dir
    )
    asyncio.run(run_demo(options))
    return 0


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "demo", help="run three simulated plants, collector, analytics and the API in one process"
    )
    parser.add_argument("--port", type=int, default=8000, help="API and pages port (default 8000; 0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="API listen address (default 127.0.0.1)")
    parser.add_argument("--mqtt", metavar="URL", help="use this broker (mqtt://host:port) instead of the embedded one")
    parser.add_argument("--influx", metavar="URL", help="use this InfluxDB (http://host:port) instead of SQLite")
    parser.add_argument("--data-dir", type=Path, help="where the embedded store and state live (default: a temp dir)")
    parser.set_defaults(run=_run)
