"""`ganlink bench ...` commands."""

from __future__ import annotations

import argparse
from typing import Any


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("bench", help="bench commands")
    parser.set_defaults(run=lambda args: parser.print_help() or 1)
