"""The one permission table: what each role may do, and which permission each route needs.

Every ``/api/v1`` route must appear in :data:`ROUTE_PERMISSIONS` (a route missing from it is refused
with 403); the permission-matrix test is generated from these two tables.
"""

from __future__ import annotations

from enum import StrEnum

from ganlink.registry import Role

__all__ = [
    "API_PREFIX",
    "CROSS_PLANT_READERS",
    "PUBLIC_ROUTES",
    "ROLE_PERMISSIONS",
    "ROUTE_PERMISSIONS",
    "Permission",
    "route_permission",
]


class Permission(StrEnum):
    READ = "read"  # asset tree, telemetry, latest values, events of the plants in scope
    ACK_ALARM = "ack-alarm"  # acknowledge, shelve, clear, comment, label alarms
    ONBOARD = "onboard"  # accept or reject pending sensors, onboard gateways
    MANAGE_ASSETS = "manage-assets"  # create, change, delete, import plants/lines/devices/sensors
    CROSS_PLANT_KPI = "cross-plant-kpi"  # KPIs compared across plants
    ADMIN = "admin"  # API keys, audit log


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.ENGINEER: frozenset({Permission.READ, Permission.ACK_ALARM}),
    Role.INTEGRATOR: frozenset({Permission.READ, Permission.ACK_ALARM, Permission.ONBOARD, Permission.MANAGE_ASSETS}),
    Role.MANAGER: frozenset({Permission.READ, Permission.CROSS_PLANT_KPI}),
    Role.ADMIN: frozenset(Permission),
}

API_PREFIX = "/api/v1"
# Roles that read (GET, Permission.READ) every plant, for cross-plant comparison; data class 3 raw
# values of plants outside their scope are still withheld (aggregates only).
CROSS_PLANT_READERS: frozenset[Role] = frozenset({Role.MANAGER})

PUBLIC_ROUTES = frozenset({("GET", "/api/v1/health")})

_LINE = "/api/v1/plants/{plant}/areas/{area}/lines/{line}"

ROUTE_PERMISSIONS: dict[tuple[str, str], Permission] = {
    ("GET", "/api/v1/me"): Permission.READ,
    ("GET", "/api/v1/plants"): Permission.READ,
    ("GET", "/api/v1/plants/{plant}"): Permission.READ,
    ("GET", "/api/v1/plants/{plant}/latest"): Permission.READ,
    ("GET", _LINE): Permission.READ,
    ("GET", f"{_LINE}/latest"): Permission.READ,
    ("GET", f"{_LINE}/anomalies"): Permission.READ,
    ("GET", "/api/v1/sensors/{sensor_id}"): Permission.READ,
    ("GET", "/api/v1/sensors/{sensor_id}/range"): Permission.READ,
    ("GET", "/api/v1/sensors/{sensor_id}/export"): Permission.READ,
    ("GET", "/api/v1/plants/{plant}/series"): Permission.READ,
    ("GET", "/api/v1/plants/{plant}/completeness"): Permission.READ,
    ("GET", "/api/v1/plants/{plant}/gateways"): Permission.READ,
    ("GET", f"{_LINE}/stream"): Permission.READ,
    ("GET", "/api/v1/plants/{plant}/alarms"): Permission.READ,
    ("GET", f"{_LINE}/alarms"): Permission.READ,
    ("GET", "/api/v1/alarms/{alarm_id}"): Permission.READ,
    ("POST", "/api/v1/alarms/{alarm_id}/acknowledge"): Permission.ACK_ALARM,
    ("POST", "/api/v1/alarms/{alarm_id}/clear"): Permission.ACK_ALARM,
    ("POST", "/api/v1/alarms/{alarm_id}/shelve"): Permission.ACK_ALARM,
    ("POST", "/api/v1/alarms/{alarm_id}/unshelve"): Permission.ACK_ALARM,
    ("POST", "/api/v1/alarms/{alarm_id}/comments"): Permission.ACK_ALARM,
    ("PUT", "/api/v1/alarms/{alarm_id}/label"): Permission.ACK_ALARM,
    ("GET", "/api/v1/audit"): Permission.ADMIN,
    # onboarding
    ("GET", "/api/v1/plants/{plant}/pending-sensors"): Permission.ONBOARD,
    ("GET", "/api/v1/pending-sensors/{sensor_id}"): Permission.ONBOARD,
    ("POST", "/api/v1/pending-sensors/{sensor_id}/approve"): Permission.ONBOARD,
    ("POST", "/api/v1/pending-sensors/{sensor_id}/reject"): Permission.ONBOARD,
    # changing the asset tree
    ("PUT", "/api/v1/plants/{plant}"): Permission.MANAGE_ASSETS,
    ("DELETE", "/api/v1/plants/{plant}"): Permission.MANAGE_ASSETS,
    ("PUT", "/api/v1/plants/{plant}/areas/{area}"): Permission.MANAGE_ASSETS,
    ("DELETE", "/api/v1/plants/{plant}/areas/{area}"): Permission.MANAGE_ASSETS,
    ("PUT", _LINE): Permission.MANAGE_ASSETS,
    ("DELETE", _LINE): Permission.MANAGE_ASSETS,
    ("PUT", f"{_LINE}/devices/{{device}}"): Permission.MANAGE_ASSETS,
    ("DELETE", f"{_LINE}/devices/{{device}}"): Permission.MANAGE_ASSETS,
    ("PUT", "/api/v1/sensors/{sensor_id}"): Permission.MANAGE_ASSETS,
    ("DELETE", "/api/v1/sensors/{sensor_id}"): Permission.MANAGE_ASSETS,
    ("POST", "/api/v1/plants/{plant}/import"): Permission.MANAGE_ASSETS,
    ("GET", "/api/v1/plants/{plant}/export"): Permission.READ,
    # KPIs and the scorecard (cross-plant for Permission.CROSS_PLANT_KPI, else the key's plants)
    ("GET", "/api/v1/plants/{plant}/kpi"): Permission.READ,
    ("GET", "/api/v1/compare"): Permission.READ,
    ("GET", "/api/v1/scorecard"): Permission.READ,
    ("GET", "/api/v1/pending-sensors/{sensor_id}/sample"): Permission.ONBOARD,
}


def route_permission(method: str, path_template: str) -> Permission | None:
    """The permission a route needs, or None when the route is not in the table (refused)."""
    return ROUTE_PERMISSIONS.get((method.upper(), path_template))
