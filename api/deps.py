"""Dependencies and their aliases: the store, the registry, the settings and the caller's key.

:func:`authorize` is the one place that enforces authentication, the per-key rate limit, role and
plant scope for every ``/api/v1`` route. The plant comes from the path (``{plant}``, the first part
of ``{sensor_id}``) or from the registry (``{alarm_id}``), never from the request body. An object
addressed by id that belongs to a plant outside the key's scope is reported as not found.

A bearer token shaped like a JWT goes to the JWT validator when one is configured
(``app.state.jwt_validator``, see :mod:`api.jwt_auth`); every other token is an API key. Both yield an
:class:`ApiKey` (a JWT caller is its subclass :class:`JwtIdentity`), so the checks after that are the
same for both.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from api.jwt_auth import JwtIdentity, JwtRefused, JwtValidator, looks_like_jwt
from api.limits import RateLimiter
from api.permissions import CROSS_PLANT_READERS, ROLE_PERMISSIONS, Permission, route_permission
from ganlink.registry import ApiKey, Registry, SensorInfo
from ganlink.settings import Settings
from ganlink.store import TimeSeriesStore

__all__ = [
    "CurrentUser",
    "RegistryDep",
    "SettingsDep",
    "StoreDep",
    "actor_of",
    "authorize",
    "client_address",
    "get_registry",
    "get_settings",
    "get_store",
    "raw_values_allowed",
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


def actor_of(key: ApiKey) -> str:
    """How a key appears in audit records and alarm actions (a JWT caller by its subject)."""
    if isinstance(key, JwtIdentity):
        return f"jwt {key.subject}"
    return f"key {key.id} {key.name}"


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def _invalid_token(reason: str) -> HTTPException:
    """401 for a refused JWT with the RFC 6750 error attributes (the reason made header-safe)."""
    description = "".join(c if " " <= c <= "~" and c not in '"\\' else "'" for c in reason)
    challenge = f'Bearer error="invalid_token", error_description="{description}"'
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, f"invalid token: {reason}", headers={"WWW-Authenticate": challenge}
    )


def _authenticate(
    request: Request, registry: Registry, token: str, *, what: str, source: str
) -> tuple[ApiKey, int | str]:
    """The caller a bearer token stands for and its rate-limit bucket; a refusal is audited and raises 401."""
    validator: JwtValidator | None = request.app.state.jwt_validator
    if validator is not None and looks_like_jwt(token):
        try:
            caller = validator.identify(token)
        except JwtRefused as refused:
            actor = f"jwt {refused.subject}" if refused.subject is not None else "anonymous"
            detail = {"via": "jwt", "reason": refused.reason}
            registry.audit(actor, "authenticate", what, detail, source=source, result="denied")
            raise _invalid_token(refused.reason) from refused
        return caller, actor_of(caller)
    key = registry.authenticate(token)
    if key is None:
        registry.audit("anonymous", "authenticate", what, source=source, result="denied")
        raise _unauthorized("unknown or revoked token")
    return key, key.id


def _not_found(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no {what}")


def _plant_of_request(request: Request, registry: Registry, key: ApiKey, *, cross_plant: bool) -> str | None:
    """The plant a request is about; raises 404 for objects unknown or outside what the key may see."""
    params = request.path_params
    if "plant" in params:
        return str(params["plant"])
    if "sensor_id" in params:
        return str(params["sensor_id"]).split(".", 1)[0]
    if "alarm_id" in params:
        plant = registry.alarm_plant(str(params["alarm_id"]))
        if plant is None or not (cross_plant or key.can_see_plant(plant)):
            raise _not_found(f"alarm {params['alarm_id']!r}")
        return plant
    return None


def _caller_kind(key: ApiKey) -> str:
    return "token" if isinstance(key, JwtIdentity) else "key"


def raw_values_allowed(key: ApiKey, sensor: SensorInfo) -> bool:
    """Data class 3 (restricted) raw values go only to keys scoped to the sensor's plant; a manager looking
    across plants gets aggregates of them instead."""
    return sensor.data_class < 3 or key.can_see_plant(sensor.plant)


def authorize(request: Request, registry: RegistryDep) -> ApiKey:
    """Authenticate the bearer token, rate-limit the key, then check the route's permission and plant scope.

    Managers read every plant (cross-plant comparison); routes then withhold class-3 raw values of
    plants outside the manager's scope (see :func:`raw_values_allowed`). Every other role sees only
    the plants in its scope.
    """
    route = request.scope.get("route")
    template = getattr(route, "path_format", None) or request.url.path  # full path: routers carry API_PREFIX
    what = f"{request.method} {template}"
    source = client_address(request)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise _unauthorized("missing Authorization: Bearer <token>")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Authorization header must be 'Bearer <token>'")
    key, bucket = _authenticate(request, registry, token.strip(), what=what, source=source)
    limiter: RateLimiter = request.app.state.rate_limiter
    retry_after = limiter.take(bucket)
    if retry_after is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"rate limit of {limiter.rate_per_s:g} requests/s for this {_caller_kind(key)} exceeded",
            headers={"Retry-After": str(retry_after)},
        )
    permission = route_permission(request.method, template)
    if permission is None or permission not in ROLE_PERMISSIONS[key.role]:
        registry.audit(actor_of(key), "authorize", what, {"role": key.role}, source=source, result="denied")
        needed = f"permission {permission}" if permission else "a permission entry"
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {key.role} lacks {needed} for {what}")
    cross_plant = key.role in CROSS_PLANT_READERS and permission is Permission.READ and request.method == "GET"
    plant = _plant_of_request(request, registry, key, cross_plant=cross_plant)
    if plant is not None and not cross_plant and not key.can_see_plant(plant):
        registry.audit(actor_of(key), "authorize", what, {"plant": plant}, source=source, result="denied")
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this {_caller_kind(key)} is not scoped to plant {plant!r}")
    request.state.api_key = key
    return key


CurrentUser = Annotated[ApiKey, Depends(authorize)]
