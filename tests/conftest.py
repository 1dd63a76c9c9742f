"""Test fixtures: every run gets its own PostgreSQL database and Redis key prefix.

The servers come from AYON_TEST_POSTGRES_URL / AYON_TEST_REDIS_URL (default: the local services).
When neither answers and a Docker engine does, testcontainers starts throwaway ones; without
Docker, whatever does not answer is started embedded (ayon_server.lib.embedded) under .local/.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from ayon_server.api.app import create_app
from ayon_server.auth.users import create_user
from ayon_server.config import Settings
from ayon_server.lib.embedded import EmbeddedServices, answers
from ayon_server.lib.postgres import with_database
from ayon_server.runtime import Runtime
from maintenance.service import MaintenanceProcedure
from setup.__main__ import run_setup

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
RUN_ID = secrets.token_hex(4)


def _docker_available() -> bool:
    """A Docker engine answers on its socket (a file left by a stopped one does not count)."""
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.connect("/var/run/docker.sock")
        except OSError:
            return False
    return True


@pytest.fixture(scope="session")
def service_urls() -> Iterator[tuple[str, str]]:
    """(PostgreSQL server URL, Redis URL) for this run."""
    pg_url = os.environ.get("AYON_TEST_POSTGRES_URL", DEFAULT_PG)
    redis_url = os.environ.get("AYON_TEST_REDIS_URL", DEFAULT_REDIS)
    # A URL given explicitly is used as it is, answering or not.
    pg_ok = "AYON_TEST_POSTGRES_URL" in os.environ or answers(pg_url)
    redis_ok = "AYON_TEST_REDIS_URL" in os.environ or answers(redis_url)
    if pg_ok and redis_ok:
        yield pg_url, redis_url
        return
    if pg_ok or redis_ok or not _docker_available():
        with EmbeddedServices(REPO_ROOT / ".local" / f"test-{RUN_ID}", ephemeral=True) as local:
            yield (
                (pg_url if pg_ok else local.postgres()),
                (redis_url if redis_ok else local.redis()),
            )
        return
    from testcontainers.postgres import PostgresContainer
    from testcontainers.redis import RedisContainer

    with PostgresContainer("postgres:16") as pg, RedisContainer("redis:7") as rd:
        host, port = pg.get_container_host_ip(), pg.get_exposed_port(5432)
        pg_url = f"postgres://{pg.username}:{pg.password}@{host}:{port}/postgres"
        redis_url = f"redis://{rd.get_container_host_ip()}:{rd.get_exposed_port(6379)}/0"
        yield pg_url, redis_url


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


async def drop_database(pg_server_url: str, name: str) -> None:
    conn = await asyncpg.connect(with_database(pg_server_url, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def settings(service_urls: tuple[str, str]) -> AsyncIterator[Settings]:
    """Settings for this run's own, fully set-up database and Redis prefix."""
    pg_url, redis_url = service_urls
    db_name = f"ayon_test_{RUN_ID}"
    result = make_settings(pg_url, redis_url, db_name)
    await run_setup(result)
    yield result
    await drop_database(pg_url, db_name)
    client = aioredis.from_url(redis_url)
    async for key in client.scan_iter(match=f"{result.redis_key_prefix}*"):
        await client.delete(key)
    await client.aclose()


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    rt = Runtime.create(settings)
    yield rt
    await rt.close()


@pytest.fixture
async def clean_tables(runtime: Runtime) -> None:
    """Empty the tables tests write to, so each test starts from a known state."""
    await runtime.db.execute("TRUNCATE public.events, public.logs, public.config")


@pytest.fixture
async def empty_database(service_urls: tuple[str, str]) -> AsyncIterator[Settings]:
    """Settings pointing at a database that does not exist yet (for setup tests)."""
    pg_url, redis_url = service_urls
    name = f"ayon_test_{RUN_ID}_{secrets.token_hex(3)}"
    yield make_settings(pg_url, redis_url, name)
    await drop_database(pg_url, name)


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_for_http(url: str, timeout: float = 30.0) -> int:
    """Poll url until it answers; return the status code."""
    import httpx

    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient() as client:
        while True:
            try:
                return (await client.get(url, timeout=2)).status_code
            except httpx.TransportError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.2)


PYTHON = sys.executable


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, and a client talking to it over ASGI."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def server_app(
    settings: Settings, *, run_maintenance: bool = False, runtime: Runtime | None = None
) -> FastAPI:
    """The app as entrypoint.py builds it: create_app with the maintenance procedure handed in."""
    return create_app(
        settings,
        run_maintenance=run_maintenance,
        runtime=runtime,
        maintenance=MaintenanceProcedure(),
    )


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process server on this run's database, without the maintenance scheduler."""
    async with serving(server_app(settings)) as http:
        yield http


async def make_user(
    runtime: Runtime,
    name: str | None = None,
    *,
    password: str = "correct horse battery",
    api_key: str | None = None,
    **flags: bool,
) -> str:
    """A user with a unique name and the given role flags (isAdmin=True, isService=True...)."""
    name = name or f"user_{secrets.token_hex(4)}"
    await create_user(
        runtime.db, name, password=password, api_key=api_key, data=dict(flags) or None
    )
    return name


async def login(
    client: httpx.AsyncClient, name: str, password: str = "correct horse battery"
) -> dict[str, str]:
    """Authorization headers of a fresh session for that user."""
    response = await client.post("/api/auth/login", json={"name": name, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}
