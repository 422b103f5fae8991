"""ganlink: the shared contract of the platform (schema, topics, assets, settings, store, errors, CLI).

Services (gateway, collector, analytics, api) import from here and never from each other.
"""

from ganlink.errors import ConfigError, GanlinkError, MessageRejected, StoreError, StoreUnavailable
from ganlink.schema import AnomalyEvent, Quality, Reading, TelemetryMessage
from ganlink.topics import DevicePath

__all__ = [
    "AnomalyEvent",
    "ConfigError",
    "DevicePath",
    "GanlinkError",
    "MessageRejected",
    "Quality",
    "Reading",
    "StoreError",
    "StoreUnavailable",
    "TelemetryMessage",
]

__version__ = "0.1.0"
