"""The ``ganlink`` command line: the composition root.

Each command group lives in its own module with a ``register(subparsers)`` function; services are
imported lazily inside the command that runs them, so ``ganlink --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from ganlink import __version__
from ganlink.errors import GanlinkError

__all__ = ["main"]

_GROUPS = ("demo", "gateway", "collector", "analytics", "api", "bench", "kpi", "grafana")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ganlink", description="ganlink: industrial-IoT telemetry, anomaly alarms and digital-workshop dashboards"
    )
    parser.add_argument("--version", action="version", version=f"ganlink {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in _GROUPS:
        module = importlib.import_module(f"ganlink.cli.{group}")
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        code: int = args.run(args)
    except GanlinkError as exc:
        print(f"ganlink: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
