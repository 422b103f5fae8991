"""Gateway -> plant bindings in the registry: which plant each gateway may publish for.

A plant's ``gateway`` column *declares* its gateway. A gateway no plant declares is bound to the first
plant it publishes for, by whichever collector sees it first (*learned*, a ``gateway_bindings`` row):
:meth:`GatewayBindingRegistry.bind_gateways` inserts first-sight bindings first-writer-wins and answers
the bindings as stored, so every collector (after a restart, or on a shared subscription) follows one
binding per gateway. A declared binding wins over a learned one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import BigInteger, Column, Connection, String, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from ganlink.registry_core import RegistryCore
from ganlink.registry_tables import metadata, plants

__all__ = ["GatewayBinding", "GatewayBindingRegistry", "gateway_bindings"]

DECLARED, LEARNED = "declared", "learned"

# First-sight bindings, one row per gateway, never overwritten by a collector (first writer wins).
gateway_bindings = Table(
    "gateway_bindings",
    metadata,
    Column("gateway", String(63), primary_key=True),
    Column("plant", String(63), nullable=False),
    Column("source", String(20), nullable=False),  # declared | learned
    Column("bound_ns", BigInteger, nullable=False),
    Column("bound_by", String(200), nullable=True),  # the collector that saw the gateway first
)


class GatewayBinding(BaseModel):
    """Which plant a gateway may publish for, and why: declared by the plant, or learned on first sight."""

    model_config = ConfigDict(frozen=True)

    gateway: str
    plant: str
    source: Literal["declared", "learned"]
    bound_ns: int | None = None
    bound_by: str | None = None


class GatewayBindingRegistry(RegistryCore):
    """Gateway bindings: declared by plants, learned by collectors."""

    def gateway_bindings(self) -> dict[str, str]:
        """Every gateway's plant: declared (plants table) merged with learned rows; declared wins."""
        with self._begin() as conn:
            return self._bindings(conn)

    def gateway_binding_records(self) -> list[GatewayBinding]:
        """Every binding with its source, by gateway id (declared wins over learned)."""
        with self._begin() as conn:
            declared = self._declared(conn)
            rows = conn.execute(select(gateway_bindings)).all()
        records = {
            row.gateway: GatewayBinding(
                gateway=row.gateway, plant=row.plant, source=LEARNED, bound_ns=row.bound_ns, bound_by=row.bound_by
            )
            for row in rows
        }
        for gateway, (plant, updated_ns) in declared.items():
            records[gateway] = GatewayBinding(gateway=gateway, plant=plant, source=DECLARED, bound_ns=updated_ns)
        return [records[gateway] for gateway in sorted(records)]

    def bind_gateways(self, bindings: Mapping[str, str], collector: str) -> dict[str, str]:
        """Record first-sight bindings (gateway -> plant) seen by ``collector``; a gateway already bound
        (declared, or learned by anyone first) keeps its binding. Returns every binding as stored after
        the insert, all gateways, so a collector that lost a race learns the winner."""
        now = time.time_ns()
        with self._begin() as conn:
            declared = self._declared(conn)
            rows = [
                {"gateway": gateway, "plant": plant, "source": LEARNED, "bound_ns": now, "bound_by": collector}
                for gateway, plant in sorted(bindings.items())
                if gateway not in declared
            ]
            if rows:
                dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
                conn.execute(dialect.insert(gateway_bindings).on_conflict_do_nothing(), rows)
            return self._bindings(conn)

    @staticmethod
    def _declared(conn: Connection) -> dict[str, tuple[str, int]]:
        """gateway -> (plant, plant updated_ns); a gateway two plants name goes to the first plant by id."""
        query = select(plants.c.gateway, plants.c.id, plants.c.updated_ns).order_by(plants.c.id.desc())
        return {row.gateway: (row.id, row.updated_ns) for row in conn.execute(query) if row.gateway}

    def _bindings(self, conn: Connection) -> dict[str, str]:
        rows = conn.execute(select(gateway_bindings.c.gateway, gateway_bindings.c.plant))
        learned = {row.gateway: row.plant for row in rows}
        return learned | {gateway: plant for gateway, (plant, _) in self._declared(conn).items()}
