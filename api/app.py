"""The FastAPI application: ``create_app(settings, store=..., registry=...)``.

The caller owns the store and the registry (opens and closes them); the app only uses them. Its
lifespan runs the alarm sync (anomaly events -> alarm rows). Errors always leave as JSON
``{"detail": ...}``; nothing of a traceback reaches a client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request, status
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles

from api.alarm_sync import sync_alarms_forever
from api.deps import authorize
from api.jwt_auth import JwtValidator
from api.limits import RateLimiter
from api.metrics import ApiMetrics, MetricsMiddleware
from api.models import ErrorBody
from api.page_views import PageViewMiddleware
from api.routes import admin, alarms, assets, commissioning, completeness, health, lines, onboarding, plants, sensors
from api.routes import gateways as gateway_routes
from api.routes import kpi as kpi_routes
from ganlink import __version__
from ganlink.errors import StoreError
from ganlink.registry import Registry, RegistryError
from ganlink.settings import Settings
from ganlink.store import TimeSeriesStore

__all__ = ["create_app"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
# What any protected route may answer besides its own success and 422 (documented in the OpenAPI).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "the request body cannot be parsed"},
    401: {"model": ErrorBody, "description": "no, malformed, unknown or revoked bearer token, or a refused JWT"},
    403: {"model": ErrorBody, "description": "the key's role or plant scope does not allow this"},
    404: {"model": ErrorBody, "description": "no such object (or one outside the key's plants)"},
    409: {"model": ErrorBody, "description": "the object's state does not allow this, or a parent is missing"},
    413: {"model": ErrorBody, "description": "request body too large"},
    422: {"model": ErrorBody, "description": "invalid parameters or body (detail: message or list of errors)"},
    429: {"model": ErrorBody, "description": "rate limit exceeded; see Retry-After"},
    503: {"model": ErrorBody, "description": "time-series store or registry unavailable"},
}
PAGES = {"/": "index.html"}
log = logging.getLogger(__name__)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    log.info("api up: %d plants in the registry", len(app.state.registry.plants()))
    sync = None
    if app.state.sync_alarms:
        sync = asyncio.create_task(sync_alarms_forever(app.state.store, app.state.registry), name="alarm-sync")
    try:
        yield
    finally:
        if sync is not None:
            sync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sync
        log.info("api down")


async def _store_failed(request: Request, exc: Exception) -> JSONResponse:
    log.warning("%s %s: %s", request.method, request.url.path, exc)
    return JSONResponse({"detail": "time-series store unavailable, retry later"}, status.HTTP_503_SERVICE_UNAVAILABLE)


async def _registry_failed(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s: %s", request.method, request.url.path, exc)
    return JSONResponse({"detail": "registry unavailable, retry later"}, status.HTTP_503_SERVICE_UNAVAILABLE)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal error"}, status.HTTP_500_INTERNAL_SERVER_ERROR)


def _allowed_methods(app: FastAPI) -> Callable[[str], list[str]]:
    """Methods the OpenAPI documents for a concrete path (one path can be served by several routers)."""
    table: list[tuple[re.Pattern[str], set[str]]] = []

    def allowed(path: str) -> list[str]:
        if not table:
            for template, operations in app.openapi()["paths"].items():
                pattern = re.compile(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)) + "$")
                table.append((pattern, {m.upper() for m in operations}))
        return sorted(set().union(*(methods for pattern, methods in table if pattern.match(path))))

    return allowed


def create_app(
    settings: Settings, *, store: TimeSeriesStore, registry: Registry, sync_alarms: bool = True
) -> FastAPI:
    """Build the API and its pages over an open store and registry."""
    app = FastAPI(
        title="ganlink",
        version=__version__,
        lifespan=_lifespan,
        max_body_size=settings.api_max_body_bytes,
        description="Telemetry, assets, alarms and onboarding of ganlink plants. "
        "Every /api/v1 route but /api/v1/health needs `Authorization: Bearer <token>`.",
    )
    app.state.settings = settings
    app.state.store = store
    app.state.registry = registry
    app.state.sync_alarms = sync_alarms
    app.state.jwt_validator = JwtValidator.from_settings(settings)  # None unless JWT keys are configured
    app.state.rate_limiter = RateLimiter(settings.api_rate_limit_per_s, settings.api_rate_limit_burst)
    app.state.metrics = ApiMetrics()
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(PageViewMiddleware, registry=registry)

    # Routers carry their full /api/v1 paths so authorize() sees the same templates as the permission table.
    app.include_router(health.router)
    protected: dict[str, Any] = {"dependencies": [Depends(authorize)], "responses": ERROR_RESPONSES}
    for module in (plants, lines, sensors, alarms, onboarding, assets, completeness, admin):
        app.include_router(module.router, **protected)
    app.include_router(kpi_routes.router, **protected)
    app.include_router(commissioning.router, **protected)
    app.include_router(gateway_routes.router, **protected)
    app.include_router(kpi_routes.pages)

    app.add_exception_handler(StoreError, _store_failed)
    app.add_exception_handler(RegistryError, _registry_failed)
    app.add_exception_handler(Exception, _unexpected)
    allowed_methods = _allowed_methods(app)

    async def _method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
        # Starlette lists only the first matching route's methods; PUT and GET of a path live in two routers.
        allow = ", ".join(allowed_methods(request.url.path))
        return JSONResponse({"detail": "Method Not Allowed"}, status.HTTP_405_METHOD_NOT_ALLOWED, {"Allow": allow})

    app.add_exception_handler(status.HTTP_405_METHOD_NOT_ALLOWED, _method_not_allowed)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> PlainTextResponse:
        """Prometheus scrape target: request counts and latencies by route template (no plant data)."""
        return PlainTextResponse(app.state.metrics.prometheus(), media_type="text/plain; version=0.0.4")

    @app.get("/", include_in_schema=False)
    async def workshop_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
