"""Gateway status and sequence totals into the registry, for the dashboard.

- Each gateway's retained status (``ganlink/v1/{plant}/_gateway/{gateway}/status``: online or offline,
  with outbox fields while online) arrives on paho's thread; :meth:`GatewayStatusRecorder.receive`
  keeps only the latest per gateway, and :meth:`GatewayStatusRecorder.run` writes what changed
  every ``flush_every_s``.
- The collector's :class:`~collector.ledger.SequenceLedger` totals (received, gaps, duplicates,
  late, last seq per gateway) are written every ``sequences_every_s``, one row per gateway and
  collector; ``shared`` marks a collector that sees only its share of a gateway's messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterable
from typing import Protocol

from collector.ledger import SequenceLedger
from ganlink.registry_core import RegistryError
from ganlink.registry_gateways import GatewaySequenceRecord, GatewayStatusRecord
from ganlink.timestamps import now_ns, parse_source_time
from ganlink.topics import ROOT, is_slug

__all__ = ["GatewayRegistry", "GatewayStatusRecorder", "parse_gateway_status", "sequence_records"]

logger = logging.getLogger(__name__)

_OUTBOX_FIELDS = {"depth": int, "oldest_age_s": float, "hours_left": float, "drops": int}


class GatewayRegistry(Protocol):
    """The registry's gateway side, as the collector uses it (ganlink.registry.Registry is one)."""

    def record_gateway_status(self, record: GatewayStatusRecord) -> None: ...

    def record_gateway_sequences(self, records: Iterable[GatewaySequenceRecord]) -> None: ...


def _time_ns(raw: object) -> int | None:
    if raw is None:
        return None
    try:
        return parse_source_time(raw)
    except ValueError:
        return None


def _number(raw: object, kind: type[int] | type[float]) -> int | float | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    return kind(raw)


def parse_gateway_status(topic: str, payload: bytes, received_ns: int) -> GatewayStatusRecord | None:
    """The status a gateway published, or None when the topic or payload is not a gateway status
    (JSON with ``status``, or the bare word). Plant and gateway come from the topic."""
    parts = topic.split("/")
    if len(parts) != 6 or f"{parts[0]}/{parts[1]}" != ROOT or parts[3] != "_gateway" or parts[5] != "status":
        return None
    plant, gateway = parts[2], parts[4]
    if not (is_slug(plant) and is_slug(gateway)):
        return None
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        body = payload.decode("utf-8", errors="replace").strip()
    document = body if isinstance(body, dict) else {"status": body}
    status = document.get("status")
    if not isinstance(status, str) or not is_slug(status):
        return None
    outbox = document.get("outbox")
    fields: dict[str, int | float | bool | None] = {}
    if isinstance(outbox, dict):
        for name, kind in _OUTBOX_FIELDS.items():
            fields[name] = _number(outbox.get(name), kind)
        backfilling = outbox.get("backfilling")
        fields["backfilling"] = backfilling if isinstance(backfilling, bool) else None
    return GatewayStatusRecord(
        plant=plant,
        gateway=gateway,
        status=status,
        since_ns=_time_ns(document.get("since")),
        reported_ns=_time_ns(document.get("ts")),
        updated_ns=received_ns,
        outbox_depth=fields.get("depth"),
        oldest_age_s=fields.get("oldest_age_s"),
        hours_left=fields.get("hours_left"),
        backfilling=fields.get("backfilling"),
        drops=fields.get("drops"),
    )


def sequence_records(ledger: SequenceLedger, collector: str, *, shared: bool, now: int) -> list[GatewaySequenceRecord]:
    """The ledger's per-gateway totals as registry rows of this collector."""
    return [
        GatewaySequenceRecord(
            gateway=gateway,
            collector=collector,
            shared=shared,
            received=state.received,
            gaps=state.gaps,
            duplicates=state.duplicates,
            out_of_order=state.out_of_order,
            last_seq=state.highest,
            updated_ns=now,
        )
        for gateway, state in ledger.snapshot().items()
    ]


class GatewayStatusRecorder:
    """Latest gateway statuses (from paho's thread) and sequence totals, written to the registry."""

    def __init__(
        self,
        registry: GatewayRegistry,
        sequences: SequenceLedger,
        *,
        collector: str,
        shared: bool,
        flush_every_s: float = 1.0,
        sequences_every_s: float = 30.0,
    ) -> None:
        self._registry = registry
        self._sequences = sequences
        self._collector = collector
        self._shared = shared
        self._flush_every_s = flush_every_s
        self._sequences_every_s = sequences_every_s
        self._lock = threading.Lock()
        self._latest: dict[tuple[str, str], GatewayStatusRecord] = {}
        self._unwritten: set[tuple[str, str]] = set()
        self.statuses_ignored = 0

    def receive(self, topic: str, payload: bytes, retained: bool) -> None:
        """A status message (thread-safe). A status without ``since`` that differs from the last one
        seen live is taken to start now; a retained one's start is unknown."""
        received = now_ns()
        record = parse_gateway_status(topic, payload, received)
        if record is None:
            if payload:  # an empty retained payload only clears the topic
                self.statuses_ignored += 1
            return
        key = (record.plant, record.gateway)
        with self._lock:
            if record.since_ns is None:
                before = self._latest.get(key)
                if before is not None and before.status == record.status:
                    record = record.model_copy(update={"since_ns": before.since_ns})
                elif not retained:
                    record = record.model_copy(update={"since_ns": received})
            self._latest[key] = record
            self._unwritten.add(key)

    async def flush(self) -> int:
        """Write the statuses that changed since the last flush; returns how many."""
        with self._lock:
            records = [self._latest[key] for key in sorted(self._unwritten)]
            self._unwritten.clear()
        for at, record in enumerate(records):
            try:
                await asyncio.to_thread(self._registry.record_gateway_status, record)
            except RegistryError:
                with self._lock:  # written next time, unless a newer status replaces it meanwhile
                    self._unwritten.update((r.plant, r.gateway) for r in records[at:])
                raise
        return len(records)

    async def store_sequences(self) -> int:
        """Write this collector's sequence totals per gateway; returns how many gateways."""
        records = sequence_records(self._sequences, self._collector, shared=self._shared, now=now_ns())
        if records:
            await asyncio.to_thread(self._registry.record_gateway_sequences, records)
        return len(records)

    async def run(self, stop: asyncio.Event) -> None:
        """Flush statuses every ``flush_every_s`` and sequence totals every ``sequences_every_s`` until
        ``stop``; then write both once more."""
        sequences_due = time.monotonic() + self._sequences_every_s
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._flush_every_s)
            try:
                await self.flush()
                if stop.is_set() or time.monotonic() >= sequences_due:
                    sequences_due = time.monotonic() + self._sequences_every_s
                    await self.store_sequences()
            except RegistryError as exc:  # the dashboard lags; collecting goes on
                logger.warning("could not record gateway status or sequence totals: %s", exc)
