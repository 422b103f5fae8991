"""`ganlink api ...`: serve the API and pages, create API keys, check a JWT against the JWT settings."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from ganlink.settings import get_settings

_STDIN = "-"


def _run(args: argparse.Namespace) -> int:
    from api.service import run  # noqa: PLC0415 - services are imported only by the command that runs them

    asyncio.run(run(get_settings(), host=args.host, port=args.port))
    return 0


def _create_token(args: argparse.Namespace) -> int:
    from ganlink.registry import ALL_PLANTS, Registry, Role  # noqa: PLC0415 - keeps `ganlink --help` fast

    registry = Registry.from_settings(get_settings())
    try:
        plants = args.plant or [ALL_PLANTS]
        unknown = [p for p in plants if p != ALL_PLANTS and registry.plant(p) is None]
        if unknown:
            print(f"ganlink: error: no plant {', '.join(unknown)} in the registry", file=sys.stderr)
            return 2
        key, token = registry.create_api_key(Role(args.role), plants, name=args.name or "")
        registry.audit("cli", "create-api-key", f"api-key/{key.id}", {"role": key.role, "plants": key.plants})
    finally:
        registry.close()
    print(f"created API key {key.id} {key.name!r}: role {key.role}, plants {','.join(key.plants)}", file=sys.stderr)
    print("the token is shown only now; store it safely", file=sys.stderr)
    print(token)
    return 0


def _jwt_check(args: argparse.Namespace) -> int:
    from api.jwt_auth import JwtRefused, JwtValidator, looks_like_jwt  # noqa: PLC0415 - only this command needs it

    validator = JwtValidator.from_settings(get_settings())
    if validator is None:
        print("ganlink: error: JWT is off: set GANLINK_API_JWT_SECRET, _SECRET_FILE, _PUBLIC_KEY_FILE or _JWKS_FILE",
              file=sys.stderr)  # fmt: skip
        return 2
    token = args.token
    if token == _STDIN:  # keeps the token out of shell history and ps
        token = sys.stdin.readline()
    token = token.strip()
    if not looks_like_jwt(token):
        print("refused: not a JWT (three base64url parts separated by dots)")
        return 1
    try:
        caller = validator.identify(token)
    except JwtRefused as refused:
        print(f"refused: {refused.reason}")
        return 1
    expires = datetime.fromtimestamp(caller.expires_s, UTC).isoformat().replace("+00:00", "Z")
    print(f"accepted: actor 'jwt {caller.subject}', role {caller.role}, plants {','.join(caller.plants)}, "
          f"issuer {caller.issuer}, expires {expires}")  # fmt: skip
    return 0


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("api", help="the HTTP API and dashboard pages")

    def usage(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 1

    parser.set_defaults(run=usage)
    sub = parser.add_subparsers(dest="api_command", metavar="ACTION")

    run = sub.add_parser("run", help="serve the API and pages (GANLINK_API_HOST/GANLINK_API_PORT)")
    run.add_argument("--host", help="listen address (default: settings api_host)")
    run.add_argument("--port", type=int, help="listen port (default: settings api_port)")
    run.set_defaults(run=_run)

    token = sub.add_parser("create-token", help="create an API key and print its token once")
    token.add_argument("--role", required=True, choices=["viewer", "engineer", "integrator", "manager", "admin"])
    token.add_argument(
        "--plant", action="append", help="plant id the key may see; repeat for several, '*' for all (default)"
    )
    token.add_argument("--name", help="who or what the key is for")
    token.set_defaults(run=_create_token)

    check = sub.add_parser("jwt-check", help="validate a JWT as the API would and print its identity or the refusal")
    check.add_argument("token", metavar="TOKEN", help="the JWT, or '-' to read it from standard input")
    check.set_defaults(run=_jwt_check)
