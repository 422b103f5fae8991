"""The connector contract: an async context manager that yields batches of readings as it reads.

    async with connector:
        async for batch in connector.batches():
            ...  # commit to the outbox, publish

A connector owns its one connection (opened in ``__aenter__``, closed in ``__aexit__``), recovers
from transient read errors itself (counting them) and normalizes values to Readings with the
source time and a quality. Plug-ins are named in ``CONNECTORS`` and loaded lazily, so a missing
optional library is reported as the extra to install, only when that connector is used.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from ganlink.errors import ConfigError
from ganlink.schema import Reading

__all__ = ["CONNECTORS", "Connector", "MissingExtra", "load_connector_class", "require_extra"]

# name -> (module, class, pip extra that brings its library or None)
CONNECTORS: dict[str, tuple[str, str, str | None]] = {
    "simulator": ("gateway.connectors.simulated", "SimulatedPlant", None),
    "modbus": ("gateway.connectors.modbus", "ModbusConnector", "modbus"),
    "opcua": ("gateway.connectors.opcua", "OpcUaConnector", "opcua"),
    "mqtt": ("gateway.connectors.mqtt_device", "MqttDeviceConnector", None),
}


class MissingExtra(ConfigError):
    """A connector's optional library is not installed; says which extra brings it."""

    def __init__(self, connector: str, module: str, extra: str) -> None:
        self.extra = extra
        super().__init__(
            f"the {connector} connector needs the Python package {module!r}: pip install 'ganlink[{extra}]'"
        )


@runtime_checkable
class Connector(Protocol):
    """A source of readings (simulated plant, Modbus TCP device, OPC UA server, MQTT device)."""

    name: str

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None: ...

    def batches(self) -> AsyncIterator[list[Reading]]:
        """Readings as they are read, one batch per poll or tick, until the connector is closed."""
        ...


def require_extra(connector: str, module: str, extra: str) -> None:
    """Import ``module`` or raise MissingExtra naming ``extra``."""
    try:
        importlib.import_module(module)
    except ImportError:
        raise MissingExtra(connector, module, extra) from None


def load_connector_class(name: str) -> type:
    """The connector class registered as ``name``; ConfigError for unknown names."""
    if name not in CONNECTORS:
        raise ConfigError(f"unknown connector {name!r}; known: {', '.join(sorted(CONNECTORS))}")
    module_name, class_name, _extra = CONNECTORS[name]
    cls: type = getattr(importlib.import_module(module_name), class_name)
    return cls
