"""Admin: the append-only audit log (read only; nothing in the API changes or deletes it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import RegistryDep
from api.models import AuditRecord
from api.permissions import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["admin"])


@router.get("/audit")
async def audit_log(
    registry: RegistryDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1, description="page back: records older than this id")] = None,
    actor: str | None = None,
    action: str | None = None,
) -> list[AuditRecord]:
    """Audit records, newest first."""
    rows = registry.audit_records(limit=limit, before_id=before_id, actor=actor, action=action)
    return [
        AuditRecord(
            id=r["id"],
            time_ms=r["time_ns"] // 1_000_000,
            actor=r["actor"],
            action=r["action"],
            target=r["target"],
            source=r["source"],
            result=r["result"],
            detail=r["detail"],
        )
        for r in rows
    ]
