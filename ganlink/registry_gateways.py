"""The gateways part of the registry: each gateway's latest retained status (online/offline, outbox
backlog) and per-collector totals of its message sequence (gaps, duplicates, late arrivals).

The collector writes both (status as it arrives, sequence totals periodically); the API reads them.
With a shared subscription each collector sees only part of a gateway's sequence, so sequence rows
are kept per (gateway, collector) and marked ``shared``: their gaps are not the gateway's gaps.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict
from sqlalchemy import BigInteger, Boolean, Column, Float, Integer, String, Table, select

from ganlink.registry_core import RegistryCore
from ganlink.registry_tables import metadata

__all__ = [
    "GatewayRegistry",
    "GatewaySequenceRecord",
    "GatewayStatusRecord",
    "gateway_sequences",
    "gateway_status",
]

# The latest retained status document of each gateway (one row per gateway, overwritten).
gateway_status = Table(
    "gateway_status",
    metadata,
    Column("plant", String(63), primary_key=True),
    Column("gateway", String(63), primary_key=True),
    Column("status", String(20), nullable=False),  # online | offline | backfilling | ...
    Column("since_ns", BigInteger, nullable=True),  # when the gateway entered this status
    Column("reported_ns", BigInteger, nullable=True),  # the document's own ts
    Column("updated_ns", BigInteger, nullable=False),  # when the collector recorded it
    Column("outbox_depth", Integer, nullable=True),
    Column("oldest_age_s", Float, nullable=True),
    Column("hours_left", Float, nullable=True),
    Column("backfilling", Boolean, nullable=True),
    Column("drops", Integer, nullable=True),
)
# Sequence totals of one gateway as seen by one collector (rewritten periodically by that collector).
gateway_sequences = Table(
    "gateway_sequences",
    metadata,
    Column("gateway", String(63), primary_key=True),
    Column("collector", String(200), primary_key=True),
    Column("shared", Boolean, nullable=False),  # the collector reads through a shared subscription
    Column("received", BigInteger, nullable=False),
    Column("gaps", BigInteger, nullable=False),
    Column("duplicates", BigInteger, nullable=False),
    Column("out_of_order", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("updated_ns", BigInteger, nullable=False),
)


class GatewayStatusRecord(BaseModel):
    """A gateway's latest status; outbox fields are None when the gateway has no outbox or sent none."""

    model_config = ConfigDict(frozen=True)

    plant: str
    gateway: str
    status: str
    since_ns: int | None = None
    reported_ns: int | None = None
    updated_ns: int
    outbox_depth: int | None = None
    oldest_age_s: float | None = None
    hours_left: float | None = None
    backfilling: bool | None = None
    drops: int | None = None


class GatewaySequenceRecord(BaseModel):
    """One collector's totals of a gateway's sequence numbers; ``shared``: a partial view."""

    model_config = ConfigDict(frozen=True)

    gateway: str
    collector: str
    shared: bool
    received: int
    gaps: int
    duplicates: int
    out_of_order: int
    last_seq: int
    updated_ns: int


class GatewayRegistry(RegistryCore):
    """Gateway status and sequence totals (written by the collector, read by the API)."""

    def record_gateway_status(self, record: GatewayStatusRecord) -> None:
        """Keep ``record`` as the gateway's latest status (replacing the previous one)."""
        with self._begin() as conn:
            self._upsert(conn, gateway_status, [record.model_dump()])

    def gateway_statuses(self, plant: str) -> list[GatewayStatusRecord]:
        """The latest status of every gateway of ``plant`` that reported one, by gateway id."""
        query = select(gateway_status).where(gateway_status.c.plant == plant).order_by(gateway_status.c.gateway)
        with self._begin() as conn:
            rows = conn.execute(query).all()
        return [GatewayStatusRecord.model_validate(dict(r._mapping)) for r in rows]

    def record_gateway_sequences(self, records: Iterable[GatewaySequenceRecord]) -> None:
        """Replace the sequence totals of each (gateway, collector) given."""
        rows = [r.model_dump() for r in records]
        with self._begin() as conn:
            self._upsert(conn, gateway_sequences, rows)

    def gateway_sequences(self, gateways: Iterable[str]) -> list[GatewaySequenceRecord]:
        """Sequence totals of these gateways, one per collector that saw them, by gateway then collector."""
        ids = sorted(set(gateways))
        if not ids:
            return []
        query = (
            select(gateway_sequences)
            .where(gateway_sequences.c.gateway.in_(ids))
            .order_by(gateway_sequences.c.gateway, gateway_sequences.c.collector)
        )
        with self._begin() as conn:
            rows = conn.execute(query).all()
        return [GatewaySequenceRecord.model_validate(dict(r._mapping)) for r in rows]
