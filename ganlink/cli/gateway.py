"""`ganlink gateway ...`: run a gateway, export a simulated time range, inspect the outbox.

The gateway service is imported inside each command, so ``ganlink --help`` stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ganlink.errors import ConfigError
from ganlink.settings import get_settings


def _parse_start(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--start {text!r} is not ISO 8601 (e.g. 2026-11-20T00:00:00+08:00)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000


def _run(args: argparse.Namespace) -> int:
    from gateway.config import load_gateway_config  # noqa: PLC0415 - services load lazily
    from gateway.service import run_from_config  # noqa: PLC0415 - services load lazily

    settings = get_settings()
    config_path = Path(args.config)
    config = load_gateway_config(config_path, settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, stop.set)
        await run_from_config(config, config_path, data_dir=settings.data_dir, stop=stop)

    asyncio.run(main())
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn  # noqa: PLC0415 - services load lazily

    from gateway.config import resolve_plant_file  # noqa: PLC0415 - services load lazily
    from gateway.export import export_simulation  # noqa: PLC0415 - services load lazily

    plant_file = resolve_plant_file(args.plant)
    start_ns = _parse_start(args.start) if args.start else None
    if start_ns is None:
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
        start_ns = int(midnight.timestamp()) * 1_000_000_000
    end_ns = start_ns + int(args.hours * 3600) * 1_000_000_000
    total_ticks = int(args.hours * 3600)
    with Progress(
        TextColumn(f"simulating {plant_file.plant.id}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeRemainingColumn(),
    ) as progress:
        task = progress.add_task("simulate", total=total_ticks)

        def on_tick(done: int) -> None:
            if done % 600 == 0:
                progress.update(task, completed=done)

        export = export_simulation(plant_file, start_ns, end_ns, args.seed, Path(args.out), on_tick=on_tick)
        progress.update(task, completed=total_ticks)
    print(
        f"{export.readings} readings of {export.sensors} sensors, {export.faults} injected faults -> {export.folder}"
        " (readings.csv, series/*.csv, ground_truth.csv, ground_truth.json)"
    )
    return 0


def _status(args: argparse.Namespace) -> int:
    from gateway.config import load_gateway_config, outbox_path  # noqa: PLC0415 - services load lazily
    from gateway.outbox import read_stats  # noqa: PLC0415

    settings = get_settings()
    if args.outbox:
        path = Path(args.outbox)
    elif args.config:
        config = load_gateway_config(Path(args.config), settings)
        path = outbox_path(config, Path(args.config), settings.data_dir)
    else:
        raise ConfigError("gateway status needs CONFIG.yaml or --outbox PATH")
    try:
        stats = read_stats(path)
    except FileNotFoundError:
        raise ConfigError("no outbox there yet (has the gateway run?)", path=str(path)) from None
    now = time.time_ns()
    age = stats.oldest_age_s(now)
    hours_left = stats.hours_left
    report = {
        "outbox": str(stats.path),
        "broker_connected": stats.connected if stats.state_ns else None,
        "state_age_s": round((now - stats.state_ns) / 1e9, 1) if stats.state_ns else None,
        "last_ack_age_s": round((now - stats.last_ack_ns) / 1e9, 1) if stats.last_ack_ns else None,
        "depth_messages": stats.messages,
        "depth_readings": stats.readings,
        "oldest_reading_age_s": None if age is None else round(age, 1),
        "budget_readings": stats.max_readings,
        "rate_readings_per_s": round(stats.rate_readings_per_s, 1),
        "hours_left": None if hours_left is None else round(hours_left, 2),
        "dropped_readings": stats.dropped_readings,
        "dropped_messages": stats.dropped_messages,
        "next_seq": stats.next_seq,
    }
    if args.json:
        print(json.dumps(report))
        return 0
    width = max(len(k) for k in report)
    for key, value in report.items():
        print(f"{key.replace('_', ' '):<{width}}  {'-' if value is None else value}")
    return 0


def _scan(args: argparse.Namespace) -> int:
    from urllib.parse import urlsplit  # noqa: PLC0415

    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table as RichTable  # noqa: PLC0415

    from gateway.connectors.modbus_registers import Table  # noqa: PLC0415 - services load lazily
    from gateway.onboarding import scan_modbus  # noqa: PLC0415

    url = urlsplit(args.url)
    if url.scheme != "modbus" or not url.hostname:
        raise ConfigError(f"scan needs modbus://host:port, got {args.url!r}")
    rows = asyncio.run(
        scan_modbus(
            url.hostname, url.port or 502, unit=args.unit, table=Table(args.table), start=args.start, count=args.count
        )
    )
    last = args.start + args.count - 1
    table = RichTable(title=f"{args.url} unit {args.unit}, {args.table} registers {args.start}..{last}")
    for column in ("address", "raw", "int16", "float32", "float32 (word swap)", "int32", "int32 (word swap)"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            *(
                "-" if v is None else str(v)
                for v in (
                    row.address,
                    row.raw,
                    row.int16,
                    row.float32,
                    row.float32_swapped,
                    row.int32,
                    row.int32_swapped,
                )
            )
        )
    Console().print(table)
    return 0


def _commission(args: argparse.Namespace) -> int:
    from gateway.commissioning import format_report  # noqa: PLC0415 - services load lazily
    from gateway.onboarding import commission_profile  # noqa: PLC0415

    device, reports = asyncio.run(commission_profile(Path(args.profile), seconds=args.seconds))
    print(format_report(device, reports))
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "sensor": r.sensor,
                        "passed": r.passed,
                        "samples": r.samples,
                        "rate_per_s": round(r.rate_per_s, 3),
                        "expected_per_s": r.expected_per_s,
                        "outside_range": r.outside_range,
                        "noise": r.noise,
                        "suggested_deadband": r.suggested_deadband,
                        "skew_ms": r.skew_ms,
                        "read_errors": r.read_errors,
                        "problems": r.problems,
                        "warnings": r.warnings,
                    }
                    for r in reports
                ]
            )
        )
    return 0 if all(r.passed for r in reports) else 1


def _browse(args: argparse.Namespace) -> int:
    from gateway.onboarding import browse_opcua, draft_opcua_profile  # noqa: PLC0415 - services load lazily

    if not args.url.startswith("opc.tcp://"):
        raise ConfigError(f"browse needs an opc.tcp:// URL, got {args.url!r}")
    parts = args.device.split("/")
    if len(parts) != 4:
        raise ConfigError(f"--device must be plant/area/line/device, got {args.device!r}")
    variables = asyncio.run(browse_opcua(args.url))
    for variable in variables:
        value = "-" if variable.value is None else f"{variable.value:g}"
        unit = variable.unit or "?"
        print(f"{variable.node:<40} {variable.path:<50} {variable.data_type:<8} {value:>12} {unit}")
    print(f"{len(variables)} numeric variables")
    if args.out:
        draft = draft_opcua_profile(args.url, variables, (parts[0], parts[1], parts[2], parts[3]))
        Path(args.out).write_text(draft, encoding="utf-8")
        print(f"draft profile written to {args.out}: fill in the units and ranges, then commission it")
    return 0


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("gateway", help="gateway commands")

    def show_help(args: argparse.Namespace) -> int:
        parser.print_help()
        return 1

    parser.set_defaults(run=show_help)
    sub = parser.add_subparsers(dest="gateway_command", metavar="COMMAND")

    run = sub.add_parser("run", help="run a gateway from its YAML config (simulated plant -> MQTT)")
    run.add_argument("config", metavar="CONFIG.yaml", help="gateway config, e.g. deploy/gateway/guixi-smelter.yaml")
    run.set_defaults(run=_run)

    simulate = sub.add_parser("simulate", help="write a simulated time range + fault ground truth to CSV")
    simulate.add_argument("--plant", required=True, help="bundled plant id or plant YAML path")
    simulate.add_argument("--start", help="ISO 8601 start (default: yesterday 00:00 UTC)")
    simulate.add_argument("--hours", type=float, default=24.0, help="how many hours to simulate")
    simulate.add_argument("--seed", type=int, default=0)
    simulate.add_argument("--out", required=True, help="output folder")
    simulate.set_defaults(run=_simulate)

    status = sub.add_parser("status", help="outbox depth, age of the oldest reading, hours left, drops")
    status.add_argument("config", metavar="CONFIG.yaml", nargs="?", help="gateway config (finds its outbox)")
    status.add_argument("--outbox", help="outbox file instead of a config")
    status.add_argument("--json", action="store_true", help="one JSON object")
    status.set_defaults(run=_status)

    scan = sub.add_parser("scan", help="read a Modbus register range and show candidate values")
    scan.add_argument("url", metavar="modbus://HOST:PORT")
    scan.add_argument("--unit", type=int, default=1, help="Modbus unit id")
    scan.add_argument("--table", choices=["holding", "input"], default="holding")
    scan.add_argument("--start", type=int, default=0, help="first register address")
    scan.add_argument("--count", type=int, default=20, help="how many registers")
    scan.set_defaults(run=_scan)

    browse = sub.add_parser("browse", help="list an OPC UA server's variables and write a draft device profile")
    browse.add_argument("url", metavar="opc.tcp://HOST:PORT/PATH")
    browse.add_argument("--out", help="write a draft device profile here")
    browse.add_argument(
        "--device", default="plant/area/line/device", help="where the readings go: plant/area/line/device slugs"
    )
    browse.set_defaults(run=_browse)

    commission = sub.add_parser("commission", help="run a device profile against the live device and report")
    commission.add_argument("profile", metavar="PROFILE.yaml")
    commission.add_argument("--seconds", type=float, default=60.0, help="how long to sample")
    commission.add_argument("--json", action="store_true", help="also print the report as JSON (last line)")
    commission.set_defaults(run=_commission)
