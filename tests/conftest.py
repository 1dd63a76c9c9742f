"""Test fixtures: every run gets its own PostgreSQL database and Redis key prefix.

Helper functions the fixtures and tests share live in tests/helpers/, one module per kind.

The servers come from AYON_TEST_POSTGRES_URL / AYON_TEST_REDIS_URL (default: the local services).
When neither answers and a Docker engine does, testcontainers starts throwaway ones; without
Docker, whatever does not answer is started embedded (ayon_server.lib.embedded) under .local/.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from ayon_server.config import Settings
from ayon_server.lib.embedded import EmbeddedServices, answers
from ayon_server.lib.postgres import with_database
from ayon_server.runtime import Runtime
from setup.__main__ import run_setup
from tests.helpers.projects import Project, dropping_new_projects, new_project
from tests.helpers.server import server_app, serving
from tests.helpers.settings import REPO_ROOT, RUN_ID, make_settings

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


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


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process server on this run's database, without the maintenance scheduler."""
    async with serving(server_app(settings)) as http:
        yield http


@pytest.fixture
async def project(client: httpx.AsyncClient, runtime: Runtime) -> Project:
    """A fresh project and a manager who works in it."""
    return await new_project(client, runtime)


@pytest.fixture
async def _new_projects_dropped(runtime: Runtime) -> AsyncIterator[None]:
    async with dropping_new_projects(runtime):
        yield


@pytest.fixture(autouse=True)
def _projects_are_dropped_after_each_test(request: pytest.FixtureRequest) -> None:
    """A test on this run's database leaves none of the projects it created behind.

    Only tests that use the database pay for it; set up before their other fixtures, so the
    projects are dropped after those (a server, say) have stopped.
    """
    if "runtime" in request.fixturenames or "settings" in request.fixturenames:
        request.getfixturevalue("_new_projects_dropped")
