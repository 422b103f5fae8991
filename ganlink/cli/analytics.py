"""`ganlink analytics ...`: the online service (`run`), offline scoring (`detect`) and the
plant-fault evaluation (`evaluate`). Services are imported inside the command that needs them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganlink.errors import ConfigError

if TYPE_CHECKING:
    from ganlink.assets import PlantFile

__all__ = ["register", "select_plant_files"]


def select_plant_files(plant_ids: list[str] | None, plant_paths: list[Path] | None) -> list[PlantFile]:
    """The PlantFiles a command works on: explicit paths, else bundled plants (filtered by id)."""
    from ganlink.assets import bundled_plant_files, load_plant_file  # noqa: PLC0415 - keeps --help fast

    if plant_paths:
        return [load_plant_file(path) for path in plant_paths]
    plant_files = [load_plant_file(path) for path in bundled_plant_files()]
    if plant_ids:
        known = {p.plant.id: p for p in plant_files}
        missing = [pid for pid in plant_ids if pid not in known]
        if missing:
            raise ConfigError(f"unknown plant id(s) {', '.join(missing)}; bundled: {', '.join(sorted(known))}")
        plant_files = [known[pid] for pid in plant_ids]
    if not plant_files:
        raise ConfigError("no plant files: pass --plant-file PATH or install the bundled plants")
    return plant_files


def _run_service(args: argparse.Namespace) -> int:
    from analytics.alarm_book import RegistryAlarmBook  # noqa: PLC0415 - composition root imports lazily
    from analytics.service import run_analytics  # noqa: PLC0415
    from ganlink.registry import Registry  # noqa: PLC0415
    from ganlink.settings import get_settings  # noqa: PLC0415

    settings = get_settings()
    plant_files = select_plant_files(args.plant, args.plant_file)
    state_dir = args.state_dir or settings.data_dir / "analytics"
    book = None if args.no_registry else RegistryAlarmBook(Registry.from_settings(settings))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await run_analytics(
            args.mqtt or settings.mqtt_url, plant_files, stop=stop, state_dir=state_dir, alarm_book=book
        )

    asyncio.run(main())
    return 0


def _run_sensitivity(args: argparse.Namespace) -> int:
    from analytics.alarm_book import RegistryAlarmBook, sensitivities  # noqa: PLC0415 - lazy by design
    from ganlink.registry import Registry  # noqa: PLC0415
    from ganlink.settings import get_settings  # noqa: PLC0415

    sensor_ids = [ref.sensor_id for p in select_plant_files(args.plant, None) for ref in p.sensors()]
    device_ids = {sensor_id.rsplit(".", 1)[0] + ".device" for sensor_id in sensor_ids}
    book = RegistryAlarmBook(Registry.from_settings(get_settings()))
    rows = sensitivities(book, sensor_ids + sorted(device_ids))
    shown = {k: v for k, v in rows.items() if args.all or v.factor != 1.0}
    if not shown:
        print(f"all {len(rows)} labeled sensor(s) at default sensitivity")
    for sensor_id, sensitivity in shown.items():
        print(f"{sensor_id}  threshold x{sensitivity.factor:.2f}  ({sensitivity.reason})")
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    evaluate = importlib.import_module("analytics.evaluate")
    if args.data is not None:
        code: int = evaluate.run(args)
        return code
    # No recording given: run the gateway's simulator here (the composition root may import both
    # services; analytics itself never imports gateway) and hand its readings and faults over.
    simulator = importlib.import_module("gateway.simulator")
    from ganlink.timestamps import now_ns  # noqa: PLC0415

    (plant_file,) = select_plant_files([args.plant], [args.plant_file] if args.plant_file else None)
    hour_ns = 3600 * 1_000_000_000
    start_ns = (now_ns() // hour_ns - 24 * 7) * hour_ns  # a fixed past hour grid, a week back
    end_ns = start_ns + int(args.hours * hour_ns)
    simulation = simulator.simulate(plant_file, start_ns, end_ns, args.seed)
    faults = [
        evaluate.FaultWindow(f.sensor_id, str(f.kind), f.start_ns, f.end_ns) for f in simulation.ground_truth
    ]
    report = evaluate.evaluate_stream(plant_file, simulation, faults)
    evaluate.print_report(report, as_json=args.json)
    return 0


def _run_detect(args: argparse.Namespace) -> int:
    # analytics.detect is owned by the detectors helper; imported by name so this module never
    # needs it at import time.
    module = importlib.import_module("analytics.detect")
    code: int = module.run(args)
    return code


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("analytics", help="anomaly detection and alarms")
    sub = parser.add_subparsers(dest="analytics_command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="score telemetry from MQTT and publish anomaly events")
    run.add_argument("--plant", action="append", help="bundled plant id to watch (repeatable; default all)")
    run.add_argument("--plant-file", action="append", type=Path, help="plant YAML to watch (repeatable)")
    run.add_argument("--mqtt", help="broker URL mqtt://host:port (default GANLINK_MQTT_URL)")
    run.add_argument("--state-dir", type=Path, help="checkpoint folder (default GANLINK_DATA_DIR/analytics)")
    run.add_argument(
        "--no-registry", action="store_true", help="do not record alarms in the registry (no label feedback)"
    )
    run.set_defaults(run=_run_service)

    sensitivity = sub.add_parser(
        "sensitivity", help="sensors made less sensitive by operator labels (relabel alarms to revert)"
    )
    sensitivity.add_argument("--plant", action="append", help="bundled plant id (repeatable; default all)")
    sensitivity.add_argument("--all", action="store_true", help="also list labeled sensors at default sensitivity")
    sensitivity.set_defaults(run=_run_sensitivity)

    detect = sub.add_parser("detect", help="score a recorded CSV series offline, causally")
    detect.add_argument("input", type=Path, help="CSV: timestamp, then one or more numeric columns")
    detect.add_argument("output", type=Path, help="CSV written: timestamp,score,anomaly")
    detect.add_argument("--detector", default=None, help="registered detector name (default: the combined one)")
    detect.set_defaults(run=_run_detect)

    evaluate = sub.add_parser("evaluate", help="recall and false alarms/hour on a simulated plant's faults")
    evaluate.add_argument("--plant", required=True, help="bundled plant id")
    evaluate.add_argument("--plant-file", type=Path, help="plant YAML instead of the bundled one")
    evaluate.add_argument("--hours", type=float, default=6.0, help="simulated hours to score")
    evaluate.add_argument("--seed", type=int, default=7, help="simulator seed")
    evaluate.add_argument("--data", type=Path, help="folder written by `ganlink gateway simulate --out DIR`")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    evaluate.set_defaults(run=_run_evaluate)
