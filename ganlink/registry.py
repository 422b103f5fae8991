"""The relational registry: plants, areas, lines, devices, sensors, API keys, alarms, pending sensors
and the audit log (SQLAlchemy 2.x Core; SQLite by default, any SQLAlchemy URL such as PostgreSQL).

Calls are short and synchronous; async callers may run them directly or in a thread.
Writers besides the API: the collector records unknown sensors with :meth:`Registry.report_unknown_readings`
(and still stores their readings); analytics or the API's alarm sync open and clear alarms with
:meth:`Registry.open_alarm` / :meth:`Registry.update_alarm` (columns in ganlink.registry_tables).

The parts live in their own modules: registry_tables (schema), registry_records (what goes in and
out), registry_core (engine, transactions), registry_assets, registry_onboarding, registry_alarms,
registry_gateways (gateway status and sequence totals, written by the collector), registry_bindings
(which plant each gateway may publish for: declared by plants, learned by collectors);
this module is the facade and keeps API keys and the audit log.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    select,
)

from ganlink.assets import bundled_plant_files, load_plant_file
from ganlink.registry_alarms import AlarmRegistry
from ganlink.registry_aliases import BackfillClaim
from ganlink.registry_bindings import GatewayBinding, GatewayBindingRegistry
from ganlink.registry_core import RegistryError
from ganlink.registry_gateways import GatewayRegistry, GatewaySequenceRecord, GatewayStatusRecord
from ganlink.registry_onboarding import OnboardingRegistry, TargetRegistered
from ganlink.registry_records import (
    ALL_PLANTS,
    TOKEN_PREFIX,
    ApiKey,
    AreaNode,
    AssetTree,
    BackfillState,
    DeviceNode,
    LineNode,
    PendingSensor,
    PlantInfo,
    Role,
    SensorAlias,
    SensorInfo,
    SensorSpec,
    SensorTarget,
    hash_token,
)
from ganlink.registry_tables import (
    alarm_comments,
    alarms,
    api_keys,
    audit_log,
    metadata,
    pending_sensors,
    sensor_aliases,
)
from ganlink.settings import Settings

__all__ = [
    "ALL_PLANTS",
    "TOKEN_PREFIX",
    "ApiKey",
    "AreaNode",
    "AssetTree",
    "BackfillClaim",
    "BackfillState",
    "DeviceNode",
    "GatewayBinding",
    "GatewaySequenceRecord",
    "GatewayStatusRecord",
    "LineNode",
    "PendingSensor",
    "PlantInfo",
    "Registry",
    "RegistryError",
    "Role",
    "SensorAlias",
    "SensorInfo",
    "SensorSpec",
    "SensorTarget",
    "TargetRegistered",
    "alarm_comments",
    "alarms",
    "api_keys",
    "audit_log",
    "hash_token",
    "metadata",
    "pending_sensors",
    "sensor_aliases",
]


class Registry(OnboardingRegistry, AlarmRegistry, GatewayRegistry, GatewayBindingRegistry):
    """The registry database; build with a SQLAlchemy URL (or :meth:`from_settings`), call
    :meth:`create_schema` once. Asset tree, onboarding, alarms and gateways live in their own modules."""

    @classmethod
    def from_settings(cls, settings: Settings, *, load_bundled: bool = True) -> Registry:
        """The configured registry with its schema; loads the bundled plant files when it is empty."""
        if settings.registry_url is None:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        registry = cls(settings.resolved_registry_url)
        registry.create_schema()
        if load_bundled and registry.is_empty():
            for path in bundled_plant_files():
                registry.load_plant_file(load_plant_file(path))
        return registry

    # -- API keys ---------------------------------------------------------------------------

    def create_api_key(
        self, role: Role, plants_scope: Iterable[str] = (ALL_PLANTS,), name: str = ""
    ) -> tuple[ApiKey, str]:
        """Create a key; returns it with the token, which is shown once and stored only hashed."""
        scope = sorted(set(plants_scope)) or [ALL_PLANTS]
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = {
            "name": name or f"{role}-key",
            "token_hash": hash_token(token),
            "role": str(Role(role)),
            "plants": [ALL_PLANTS] if ALL_PLANTS in scope else scope,
            "created_ns": time.time_ns(),
        }
        with self._begin() as conn:
            key_id = conn.execute(api_keys.insert().values(**row)).inserted_primary_key[0]  # type: ignore[index]
        key = ApiKey(id=key_id, name=row["name"], role=Role(role), plants=row["plants"], created_ns=row["created_ns"])
        return key, token

    def authenticate(self, token: str) -> ApiKey | None:
        """The live key a token belongs to, or None."""
        query = select(api_keys).where(api_keys.c.token_hash == hash_token(token), api_keys.c.revoked_ns.is_(None))
        with self._begin() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return ApiKey(id=row.id, name=row.name, role=Role(row.role), plants=list(row.plants), created_ns=row.created_ns)

    def revoke_api_key(self, key_id: int) -> bool:
        query = api_keys.update().where(api_keys.c.id == key_id, api_keys.c.revoked_ns.is_(None))
        with self._begin() as conn:
            return conn.execute(query.values(revoked_ns=time.time_ns())).rowcount > 0

    # -- audit ------------------------------------------------------------------------------

    def audit(
        self,
        actor: str,
        action: str,
        target: str,
        detail: dict[str, Any] | None = None,
        *,
        source: str = "",
        result: str = "ok",
    ) -> None:
        """Append one audit record: who (actor), what (action on target), from where (source), result."""
        row = {
            "time_ns": time.time_ns(),
            "actor": actor,
            "action": action,
            "target": target,
            "detail": json.loads(json.dumps(detail or {}, default=str)),
            "source": source,
            "result": result,
        }
        with self._begin() as conn:
            conn.execute(audit_log.insert().values(**row))

    def audit_records(
        self, *, limit: int = 100, before_id: int | None = None, actor: str | None = None, action: str | None = None
    ) -> list[dict[str, Any]]:
        """Audit records, newest first; page back with ``before_id``."""
        query = select(audit_log)
        if before_id is not None:
            query = query.where(audit_log.c.id < before_id)
        if actor is not None:
            query = query.where(audit_log.c.actor == actor)
        if action is not None:
            query = query.where(audit_log.c.action == action)
        with self._begin() as conn:
            rows = conn.execute(query.order_by(audit_log.c.id.desc()).limit(limit)).all()
        return [dict(r._mapping) for r in rows]
