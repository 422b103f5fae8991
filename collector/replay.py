"""`ganlink collector deadletter list|replay`: look at dead letters and publish them again after a fix.

Replay publishes each dead letter's original payload to its original topic (QoS 1), so it goes
through the collector's validation again: what is still bad is dead-lettered again, with its reason.
"""

from __future__ import annotations

import argparse
import json
from urllib.parse import urlsplit

from collector.config import CollectorConfig
from collector.dead_letter_store import DeadLetterStore, StoredDeadLetter
from collector.loadgen import Publisher
from ganlink.settings import get_settings
from ganlink.timestamps import format_rfc3339, now_ns

__all__ = ["deadletter_command"]


def _as_json(item: StoredDeadLetter) -> str:
    letter = item.letter
    body = json.loads(letter.encode())
    body.update(id=item.id, replayed_at=format_rfc3339(item.replayed_ns) if item.replayed_ns else None)
    return json.dumps(body, ensure_ascii=False)


def _print_table(items: list[StoredDeadLetter]) -> None:
    from rich.console import Console  # noqa: PLC0415 - only for humans
    from rich.table import Table  # noqa: PLC0415

    table = Table(title=f"{len(items)} dead letters (oldest first)")
    for column in ("id", "received", "reason", "topic", "gateway/seq", "detail", "replayed"):
        table.add_column(column, overflow="fold")
    for item in items:
        letter = item.letter
        origin = f"{letter.gateway}/{letter.seq}" if letter.gateway else ""
        table.add_row(
            str(item.id),
            format_rfc3339(letter.received_ns),
            letter.reason,
            letter.topic,
            origin,
            letter.detail[:160],
            format_rfc3339(item.replayed_ns) if item.replayed_ns else "",
        )
    Console().print(table)


def deadletter_command(args: argparse.Namespace) -> int:
    settings = get_settings()
    config = CollectorConfig.from_settings(settings)
    store = DeadLetterStore(config.deadletter_db)
    if args.deadletter_command == "list":
        items = store.list(reason=args.reason, limit=args.limit, include_replayed=not args.pending)
        if args.json:
            for item in items:
                print(_as_json(item))
        else:
            _print_table(items)
            print(f"by reason: {store.counts()}  (store: {store.path})")
        return 0
    items = store.list(reason=args.reason, limit=args.limit, include_replayed=bool(args.ids), ids=args.ids)
    replayable = [item for item in items if not item.letter.truncated]
    skipped = len(items) - len(replayable)
    if args.dry_run or not replayable:
        for item in replayable:
            print(f"would replay {item.id}: {item.letter.reason} -> {item.letter.topic}")
        print(f"{len(replayable)} to replay, {skipped} skipped (truncated payloads cannot be replayed)")
        return 0
    url = urlsplit(settings.mqtt_url)
    publisher = Publisher(url.hostname or "127.0.0.1", url.port or 1883, client_id="")
    try:
        publisher.publish_all((item.letter.topic, item.letter.payload) for item in replayable)
    finally:
        publisher.close()
    store.mark_replayed([item.id for item in replayable], now_ns())
    print(f"replayed {len(replayable)} dead letters to their original topics; {skipped} skipped (truncated)")
    return 0
