"""`ganlink kpi`: a plant's ISO 22400 KPI set for a period, from the configured store and registry."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from ganlink.settings import get_settings


async def _compute(args: argparse.Namespace) -> int:
    # the KPI code lives with the API (it serves /compare); imported only by this command
    from api.kpi import compute_plant_kpis, parse_period  # noqa: PLC0415
    from api.kpi.export import kpi_rows, to_csv, to_text  # noqa: PLC0415
    from ganlink.registry import Registry  # noqa: PLC0415
    from ganlink.stores import open_store  # noqa: PLC0415
    from ganlink.timestamps import now_ns  # noqa: PLC0415

    settings = get_settings()
    registry = Registry.from_settings(settings)
    try:
        plant = registry.plant(args.plant)
        if plant is None:
            known = ", ".join(p.id for p in registry.plants())
            print(f"ganlink: error: no plant {args.plant!r} in the registry (known: {known})", file=sys.stderr)
            return 2
        try:
            period = parse_period(args.start, args.end, plant.timezone, now_ns=now_ns())
        except ValueError as exc:
            print(f"ganlink: error: {exc}", file=sys.stderr)
            return 2
        async with open_store(settings) as store:
            kpis = await compute_plant_kpis(store, registry, args.plant, period)
    finally:
        registry.close()
    if args.json:
        print(json.dumps(kpis.as_dict(), ensure_ascii=False))
    elif args.csv:
        sys.stdout.write(to_csv(kpi_rows([kpis])))
    else:
        print(to_text(kpis))
    return 0


def _run(args: argparse.Namespace) -> int:
    return asyncio.run(_compute(args))


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "kpi", help="ISO 22400 KPIs of a plant for a period (OEE, availability, run rate, MTTA, completeness)"
    )
    parser.add_argument("--plant", required=True, help="plant id")
    parser.add_argument(
        "--start", default="now-24h",
        help="period start: date or date-time in the plant's local time (no offset), RFC 3339, or now-N(s|m|h|d)",
    )
    parser.add_argument("--end", default="now", help="period end, same forms as --start (default now)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="one JSON object with every KPI, formula and input")
    output.add_argument("--csv", action="store_true", help="CSV, one row per plant/line KPI")
    parser.set_defaults(run=_run)
