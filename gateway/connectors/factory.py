"""Build a connector from a device profile file, loading only the library its kind needs."""

from __future__ import annotations

from pathlib import Path

import yaml

from ganlink.errors import ConfigError
from gateway.connectors.base import CONNECTORS, Connector, require_extra
from gateway.yaml_errors import line_of

__all__ = ["connector_from_profile", "profile_kind"]

_LIBRARIES = {"modbus": "pymodbus", "opcua": "asyncua"}


def profile_kind(path: Path) -> str:
    """The ``connector:`` kind a profile declares; ConfigError with the line when unknown."""
    try:
        document = path.read_text(encoding="utf-8")
        raw = yaml.safe_load(document)
    except OSError as exc:
        raise ConfigError(f"cannot read device profile: {exc.strerror}", path=str(path)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", path=str(path)) from None
    kind = raw.get("connector") if isinstance(raw, dict) else None
    if not isinstance(kind, str) or kind not in CONNECTORS or kind == "simulator":
        known = ", ".join(k for k in sorted(CONNECTORS) if k != "simulator")
        raise ConfigError(
            f"connector {kind!r} is not a device connector ({known})",
            path=str(path),
            line=line_of(document, ("connector",)),
        )
    return kind


def connector_from_profile(path: Path) -> Connector:
    """A ready-to-enter connector for the device ``path`` describes (profile checked first)."""
    kind = profile_kind(path)
    _module, _class_name, extra = CONNECTORS[kind]
    if extra is not None:
        require_extra(kind, _LIBRARIES[kind], extra)
    from gateway.connectors.profile import ModbusProfile, MqttDeviceProfile, load_profile  # noqa: PLC0415

    profile = load_profile(path)
    if isinstance(profile, MqttDeviceProfile):
        from gateway.connectors.mqtt_device import MqttDeviceConnector  # noqa: PLC0415

        return MqttDeviceConnector(profile)
    if isinstance(profile, ModbusProfile):
        from gateway.connectors.modbus import ModbusConnector  # noqa: PLC0415 - optional extra

        return ModbusConnector(profile)
    from gateway.connectors.opcua import OpcUaConnector  # noqa: PLC0415 - optional extra

    return OpcUaConnector(profile)
