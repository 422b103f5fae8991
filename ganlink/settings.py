"""Deploy-time settings from ``GANLINK_*`` environment variables (pydantic-settings).

Built only through :func:`get_settings` (cached), never at import time.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    """Every setting a service reads; ``GANLINK_MQTT_URL`` sets ``mqtt_url`` and so on."""

    model_config = SettingsConfigDict(env_prefix="GANLINK_", extra="ignore")

    mqtt_url: str = Field("mqtt://127.0.0.1:1883", description="mqtt://[user:pass@]host:port")
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    influx_url: str | None = Field(None, description="InfluxDB base URL; unset = embedded SQLite store")
    influx_db: str = "ganlink"
    influx_token: SecretStr | None = None
    influx_username: str | None = None
    influx_password: SecretStr | None = None
    data_dir: Path = Field(Path(".ganlink"), description="embedded store, registry, spools, checkpoints")
    registry_url: str | None = Field(None, description="SQLAlchemy URL; unset = sqlite in data_dir")
    max_future_skew_s: float = Field(3600.0, gt=0)
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_rate_limit_per_s: float = Field(50.0, gt=0, description="sustained requests/s per API key")
    api_rate_limit_burst: int = Field(200, gt=0, description="requests an API key may send at once")
    api_max_body_bytes: int = Field(1_048_576, gt=0)
    collector_batch_size: int = Field(5000, gt=0)
    collector_flush_interval_s: float = Field(0.2, gt=0)
    collector_share_group: str = "collectors"

    @property
    def embedded_store_path(self) -> Path:
        return self.data_dir / "timeseries.sqlite"

    @property
    def resolved_registry_url(self) -> str:
        return self.registry_url or f"sqlite:///{self.data_dir / 'registry.sqlite'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    return Settings()
