"""The collector's own configuration, built from the GANLINK_* settings plus run-time choices.

Kept separate from :class:`ganlink.settings.Settings` so the demo and the tests can pick a protocol,
a share group or a spool directory without touching the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ganlink.errors import ConfigError
from ganlink.settings import Settings
from ganlink.topics import is_slug

__all__ = ["CollectorConfig", "MqttProtocol", "RetryPolicy"]


class MqttProtocol(StrEnum):
    """MQTT protocol level; 3.1.1 for brokers such as amqtt that do not speak v5."""

    V5 = "5"
    V311 = "3.1.1"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped, jittered exponential backoff for transient store failures."""

    initial_s: float = 0.1
    max_s: float = 5.0
    multiplier: float = 2.0
    # After this long failing, batches go to the disk spool so the broker can hand over more.
    spool_after_s: float = 10.0


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    """Everything one collector process needs to know."""

    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    mqtt_username: str | None = None
    mqtt_password: str | None = field(default=None, repr=False)
    protocol: MqttProtocol = MqttProtocol.V5
    client_id: str = "ganlink-collector"
    share_group: str | None = "collectors"
    # Unacknowledged messages the broker may have in flight to us (MQTT v5 Receive Maximum).
    inflight_window: int = 1000
    session_expiry_s: int = 7 * 24 * 3600
    batch_size: int = 5000
    # Batches written at once, one store connection each (acks still go out in arrival order).
    write_concurrency: int = 1
    flush_interval_s: float = 0.2
    max_skew_ns: int = 3600 * 1_000_000_000
    max_payload_bytes: int = 1 << 20
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    data_dir: Path = Path(".ganlink")
    subscribe_anomalies: bool = True
    # On stop, how long to keep trying to flush; what is not written by then stays unacknowledged.
    stop_grace_s: float = 15.0
    # Plant files declaring which gateway serves which plant (default: the bundled plants).
    plant_files: tuple[Path, ...] | None = None
    completeness_window_s: float = 60.0
    # Sparkplug B input; its births are per-collector state, so with several collectors enable it on one.
    sparkplug: bool = True
    sparkplug_host_id: str = "ganlink-collector"
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    # The registry (GANLINK_REGISTRY_URL): unknown sensors reported as pending, gateway status and
    # sequence totals recorded. Cached registered sensors are re-read every registry_refresh_s.
    use_registry: bool = True
    registry_refresh_s: float = 30.0
    onboarding_report_every_s: float = 2.0
    sequences_every_s: float = 30.0

    def __post_init__(self) -> None:
        if self.share_group is not None and not is_slug(self.share_group):
            raise ConfigError(f"share group {self.share_group!r} must be a slug", path="GANLINK_COLLECTOR_SHARE_GROUP")
        if self.inflight_window < 2 or self.inflight_window > 65535:
            raise ConfigError("in-flight window must be within 2..65535")

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "collector-spool"

    @property
    def completeness_db(self) -> Path:
        return self.data_dir / "completeness.sqlite"

    @property
    def deadletter_db(self) -> Path:
        return self.data_dir / "deadletter.sqlite"

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> CollectorConfig:
        """Read broker URL, batching and skew from ``settings``; ``overrides`` win."""
        url = urlsplit(settings.mqtt_url)
        if url.scheme not in ("mqtt", "tcp") or not url.hostname:
            what = f"mqtt url {settings.mqtt_url!r} must look like mqtt://host:port"
            raise ConfigError(what, path="GANLINK_MQTT_URL")
        password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else url.password
        config = cls(
            mqtt_host=url.hostname,
            mqtt_port=url.port or 1883,
            mqtt_username=settings.mqtt_username or url.username,
            mqtt_password=password,
            share_group=settings.collector_share_group or None,
            batch_size=settings.collector_batch_size,
            flush_interval_s=settings.collector_flush_interval_s,
            max_skew_ns=int(settings.max_future_skew_s * 1_000_000_000),
            data_dir=settings.data_dir,
        )
        return replace(config, **overrides)
