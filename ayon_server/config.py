"""Environment settings, read once per process and passed down.

Runtime settings that admins change while the server runs (maintenance schedule, retention) live in
`public.config`, not here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class ConfigError(Exception):
    """An environment variable holds a value we cannot use; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AYON_", extra="ignore", frozen=True)

    postgres_url: str = "postgres://ayon:ayon@postgres:5432/ayon"
    redis_url: str = "redis://redis:6379/0"
    redis_key_prefix: str = Field(default="ayon", pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")
    storage_dir: str = "/storage"
    # Largest project file upload (bytes); a bigger body is refused with 413.
    max_upload_bytes: int = Field(default=1024**3, ge=1)
    # Largest addon zip, dependency package or installer (bytes); a bigger one is refused with
    # 413 and nothing of it is stored.
    max_package_bytes: int = Field(default=4 * 1024**3, ge=1024)
    # Largest JSON request body (bytes); a bigger one is refused with 413, read no further.
    max_json_bytes: int = Field(default=16 * 1024**2, ge=1024)
    # Seconds a PostgreSQL or Redis call may stall before the request answers 503.
    backend_timeout: float = Field(default=10.0, gt=0, le=600)
    # Seconds an upload may send nothing before it is refused with 408 and its bytes dropped.
    upload_read_timeout: float = Field(default=60.0, gt=0, le=3600)
    # Comma-separated addresses or CIDRs whose X-Forwarded-For is believed; empty: nobody's.
    trusted_proxies: str = ""
    admin_user: str | None = None
    admin_password: str | None = None
    log_level: LogLevel = "info"
    log_level_db: LogLevel = "info"
    log_format: Literal["text", "json"] = "text"
    session_ttl: int = Field(default=24 * 3600, ge=60)

    http_listen_address: str = "0.0.0.0"
    http_listen_port: int = Field(default=5000, ge=1, le=65535)

    # How long setup waits for PostgreSQL before giving up, in seconds.
    setup_timeout: float = Field(default=120.0, gt=0)
    # How long a graceful shutdown may take before workers are abandoned, in seconds.
    shutdown_timeout: float = Field(default=30.0, gt=0)
    # How many days of log partitions are created ahead of today.
    log_partitions_ahead: int = Field(default=3, ge=1, le=60)
    # Log records waiting for the database; beyond this the log collector drops and counts them.
    log_queue_size: int = Field(default=10_000, ge=100, le=1_000_000)
    db_pool_max_size: int = Field(default=20, ge=2, le=500)
    # Threads hashing/verifying passwords (argon2) off the event loop; a login burst queues
    # behind them instead of stalling every other request.
    password_hash_workers: int = Field(default=2, ge=1, le=64)
    # Web actions: a launcher action still pending after this many seconds is failed by the
    # action invalidator, which every replica runs this often (seconds).
    action_timeout: int = Field(default=300, ge=1, le=7 * 24 * 3600)
    action_invalidate_interval: float = Field(default=300.0, gt=0, le=24 * 3600)
    # Where this replica unpacks addons (<name>/<version>/); a local cache of the database's
    # archives, so every replica has its own and none needs a shared volume.
    addons_dir: str = "/addons"
    # Seconds between two heartbeats of this replica's public.replicas row.
    replica_heartbeat_interval: float = Field(default=30.0, gt=0, le=3600)
    # Seconds between two fallback reconciles of the installer (it also reconciles when told).
    installer_interval: float = Field(default=60.0, gt=0, le=24 * 3600)

    @field_validator("log_level", "log_level_db", "log_format", mode="before")
    @classmethod
    def _lowercase(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("postgres_url")
    @classmethod
    def _postgres_scheme(cls, value: str) -> str:
        if not value.startswith(("postgres://", "postgresql://")):
            raise ValueError("must start with postgres:// or postgresql://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value


def load_settings(**overrides: object) -> Settings:
    """Read the environment; raise ConfigError naming the first bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "?"
        value = error.get("input")
        raise ConfigError(
            f"invalid value {value!r} for AYON_{field.upper()}: {error['msg']}"
        ) from None
