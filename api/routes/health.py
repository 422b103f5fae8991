"""``/api/v1/health``: liveness, no authentication."""

from __future__ import annotations

from fastapi import APIRouter

from api.models import Health
from api.permissions import API_PREFIX
from ganlink import __version__

router = APIRouter(prefix=API_PREFIX, tags=["health"])


@router.get("/health")
async def health() -> Health:
    return Health(status="ok", version=__version__)
