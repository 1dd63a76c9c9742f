"""This run's identity and settings: the repository, the Python running the tests, the run id
that names its database and Redis prefix, and the environment a subprocess needs to join it."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from ayon_server.config import Settings
from ayon_server.lib.postgres import with_database

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
RUN_ID = secrets.token_hex(4)


def make_settings(pg_server_url: str, redis_url: str, db_name: str, **overrides) -> Settings:
    values = {
        "postgres_url": with_database(pg_server_url, db_name),
        "redis_url": redis_url,
        "redis_key_prefix": f"ayontest_{RUN_ID}",
        "storage_dir": str(Path("/tmp") / f"ayontest_{RUN_ID}" / "storage"),
        "addons_dir": str(Path("/tmp") / f"ayontest_{RUN_ID}" / "addons"),
        "setup_timeout": 10.0,
        "log_level": "info",
        **overrides,
    }
    return Settings(**values)


def subprocess_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment for running entrypoint.py / python -m ... against these settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AYON_") or k.startswith("AYON_TEST")
    }
    env.update(
        {
            "AYON_POSTGRES_URL": settings.postgres_url,
            "AYON_REDIS_URL": settings.redis_url,
            "AYON_REDIS_KEY_PREFIX": settings.redis_key_prefix,
            "AYON_STORAGE_DIR": settings.storage_dir,
            "AYON_ADDONS_DIR": settings.addons_dir,
            "AYON_SETUP_TIMEOUT": str(settings.setup_timeout),
            "PYTHONPATH": str(REPO_ROOT),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env
