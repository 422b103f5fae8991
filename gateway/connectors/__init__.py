"""Connectors: where readings come from. Each is a plug-in behind :class:`Connector`; the simulator
is one of them. Optional protocol libraries are imported only by the connector that needs them."""

from gateway.connectors.base import Connector, MissingExtra, load_connector_class

__all__ = ["Connector", "MissingExtra", "load_connector_class"]
