"""Dependencies and their aliases: the store, the registry, the settings and the caller's key.

:func:`authorize` is the one place that enforces authentication, role and plant scope for every
``/api/v1`` route; the plant comes from the path (``{plant}`` or the first part of ``{sensor_id}``),
never from the request body.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from api.permissions import ROLE_PERMISSIONS, route_permission
from ganlink.registry import ApiKey, Registry
from ganlink.settings import Settings
from ganlink.store import TimeSeriesStore

__all__ = [
    "CurrentUser",
    "RegistryDep",
    "SettingsDep",
    "StoreDep",
    "authorize",
    "get_registry",
    "get_settings",
    "get_store",
    "plant_of_path",
]


def get_store(request: Request) -> TimeSeriesStore:
    store: TimeSeriesStore = request.app.state.store
    return store


def get_registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


StoreDep = Annotated[TimeSeriesStore, Depends(get_store)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def plant_of_path(path_params: dict[str, str]) -> str | None:
    """The plant a request is about, from its path only."""
    if "plant" in path_params:
        return path_params["plant"]
    if "sensor_id" in path_params:
        return path_params["sensor_id"].split(".", 1)[0]
    return None


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def authorize(request: Request, registry: RegistryDep) -> ApiKey:
    """Authenticate the bearer token, then check the route's permission and the plant scope."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise _unauthorized("missing Authorization: Bearer <token>")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Authorization header must be 'Bearer <token>'")
    key = registry.authenticate(token.strip())
    if key is None:
        raise _unauthorized("unknown or revoked token")
    route = request.scope.get("route")
    template = getattr(route, "path_format", None) or request.url.path  # full path: routers carry API_PREFIX
    permission = route_permission(request.method, template)
    if permission is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{request.method} {template} is not open to any API key")
    if permission not in ROLE_PERMISSIONS[key.role]:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {key.role} lacks permission {permission}")
    plant = plant_of_path(request.path_params)
    if plant is not None and not key.can_see_plant(plant):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this key is not scoped to plant {plant!r}")
    request.state.api_key = key
    return key


CurrentUser = Annotated[ApiKey, Depends(authorize)]
