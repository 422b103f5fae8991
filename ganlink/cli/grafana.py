"""`ganlink grafana export|push`: the generated Grafana dashboards, written to files or uploaded."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DEFAULT_FOLDER = Path("deploy/grafana/dashboards")


def _export(args: argparse.Namespace) -> int:
    from api.grafana_dashboards import write_dashboards  # noqa: PLC0415 - services load only in their command

    for path in write_dashboards(args.folder):
        print(path)
    return 0


def _push(args: argparse.Namespace) -> int:
    try:
        from grafana_client.api import GrafanaApi  # noqa: PLC0415 - optional extra `grafana`
        from grafana_client.client import GrafanaClientError, GrafanaException  # noqa: PLC0415
    except ImportError:
        print("ganlink: error: grafana push needs the extra: pip install 'ganlink[grafana]'", file=sys.stderr)
        return 2
    from api.grafana_dashboards import DATASOURCE_UID, all_dashboards, datasource_model  # noqa: PLC0415

    grafana = GrafanaApi.from_url(args.url, credential=args.token, timeout=args.timeout)
    try:
        if args.influx_url:
            model = datasource_model(args.influx_url, args.influx_db)
            try:
                grafana.datasource.get_datasource_by_uid(DATASOURCE_UID)
                grafana.datasource.update_datasource_by_uid(DATASOURCE_UID, model)
                print(f"datasource {DATASOURCE_UID}: updated", file=sys.stderr)
            except GrafanaClientError as exc:
                if exc.status_code != 404:
                    raise
                grafana.datasource.create_datasource(model)
                print(f"datasource {DATASOURCE_UID}: created", file=sys.stderr)
        for name, dashboard in all_dashboards().items():
            reply = grafana.dashboard.update_dashboard(
                {"dashboard": dashboard, "overwrite": True, "message": "ganlink grafana push", "folderUid": args.folder}
                if args.folder else {"dashboard": dashboard, "overwrite": True, "message": "ganlink grafana push"}
            )
            print(f"{name}: {reply.get('status', 'ok')} {reply.get('url', '')}")
    except GrafanaException as exc:
        print(f"ganlink: error: Grafana at {args.url} answered {exc.status_code}: {exc.message}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"ganlink: error: cannot reach Grafana at {args.url}: {exc}", file=sys.stderr)
        return 2
    return 0


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("grafana", help="Grafana dashboards: export or push")

    def usage(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 1

    parser.set_defaults(run=usage)
    sub = parser.add_subparsers(dest="grafana_command", metavar="ACTION")
    export = sub.add_parser("export", help="write the dashboard JSON models (default deploy/grafana/dashboards)")
    export.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    export.set_defaults(run=_export)
    push = sub.add_parser("push", help="upload the dashboards (and optionally the datasource) to a running Grafana")
    push.add_argument("--url", required=True, help="Grafana base URL, e.g. http://localhost:3000")
    push.add_argument("--token", required=True, help="a Grafana service-account token (Editor or Admin)")
    push.add_argument("--folder", help="uid of the Grafana folder to put the dashboards in (default: General)")
    push.add_argument("--influx-url", help="also create/update the InfluxDB datasource with this URL")
    push.add_argument("--influx-db", default="ganlink", help="InfluxDB database for the datasource")
    push.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    push.set_defaults(run=_push)
