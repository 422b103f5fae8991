"""Serving the API with uvicorn: over a store and registry the caller opened (the demo), or over the
configured ones (``ganlink api run``)."""

from __future__ import annotations

import logging

import uvicorn

from api.app import create_app
from ganlink.registry import Registry
from ganlink.settings import Settings
from ganlink.store import TimeSeriesStore
from ganlink.stores import open_store

__all__ = ["run", "serve"]

log = logging.getLogger(__name__)


async def serve(
    settings: Settings, *, store: TimeSeriesStore, registry: Registry, host: str | None = None, port: int | None = None
) -> None:
    """Serve the API and pages until cancelled or interrupted."""
    app = create_app(settings, store=store, registry=registry)
    config = uvicorn.Config(
        app,
        host=host or settings.api_host,
        port=port if port is not None else settings.api_port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    log.info("api serving on http://%s:%d/", config.host, config.port)
    await uvicorn.Server(config).serve()


async def run(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Open the configured store and registry (loading the bundled plants into an empty one) and serve."""
    registry = Registry.from_settings(settings)
    try:
        async with open_store(settings) as store:
            await serve(settings, store=store, registry=registry, host=host, port=port)
    finally:
        registry.close()
