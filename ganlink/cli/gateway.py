"""`ganlink gateway ...`: run a gateway, export a simulated time range, inspect the outbox.

The gateway service is imported inside each command, so ``ganlink --help`` stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
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
    from gateway.config import load_gateway_config, resolve_plant_file  # noqa: PLC0415 - services load lazily
    from gateway.service import run_simulated_gateway  # noqa: PLC0415 - services load lazily

    config_path = Path(args.config)
    config = load_gateway_config(config_path, get_settings())
    plant_file = resolve_plant_file(config.plant, config_path.parent)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, stop.set)
        await run_simulated_gateway(
            plant_file,
            config.mqtt_url,
            seed=config.seed,
            speed=config.speed,
            stop=stop,
            gateway=config.gateway,
            faults=config.faults,
        )

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
        TextColumn(f"simulating {plant_file.plant.id}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
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
