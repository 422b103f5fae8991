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
    # Optional JWT bearer tokens (api/jwt_auth.py); off unless a secret, public key or JWKS file is set.
    api_jwt_secret: SecretStr | None = Field(None, description="HS256 shared secret (at least 32 bytes)")
    api_jwt_secret_file: Path | None = Field(None, description="file holding the HS256 shared secret")
    api_jwt_public_key_file: Path | None = Field(None, description="PEM public key: RSA -> RS256, EC P-256 -> ES256")
    api_jwt_jwks_file: Path | None = Field(None, description="JSON Web Key Set file of the identity provider")
    api_jwt_issuer: str | None = Field(None, description="required `iss` of every JWT")
    api_jwt_audience: str | None = Field(None, description="required `aud` of every JWT")
    api_jwt_leeway_s: float = Field(30.0, ge=0, description="clock skew allowed on exp/nbf/iat")
    api_jwt_role_claim: str = Field("ganlink_role", min_length=1)
    api_jwt_plants_claim: str = Field("ganlink_plants", min_length=1)
    collector_batch_size: int = Field(5000, gt=0)
    collector_flush_interval_s: float = Field(0.2, gt=0)
    collector_share_group: str = "collectors"

    @property
    def api_jwt_configured(self) -> bool:
        """True when any JWT key material is set (JWT bearer tokens are then accepted besides API keys)."""
        keys = (self.api_jwt_secret, self.api_jwt_secret_file, self.api_jwt_public_key_file, self.api_jwt_jwks_file)
        return any(k is not None for k in keys)

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
