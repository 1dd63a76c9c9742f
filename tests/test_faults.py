"""PostgreSQL and Redis failing under the server: cut, stalled and restarted through a TCP proxy
(tests/fault_proxy.py), never by touching the shared services.

What a client must see: 503 with `Retry-After` and `{"code","detail"}` while a backend is away
(never another 5xx, never a hang past AYON_BACKEND_TIMEOUT), every acknowledged write readable
afterwards, /api/ready back soon after the backend, and websockets closed with a retryable code
when the event relay loses Redis.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import subprocess
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ayon_server.config import Settings
from ayon_server.lib.postgres import Postgres
from ayon_server.runtime import Runtime
from tests.conftest import (
    PYTHON,
    REPO_ROOT,
    free_port,
    make_user,
    server_app,
    serving,
    subprocess_env,
    wait_for_http,
)
from tests.fault_proxy import FaultProxy, fault_proxy

# Short, so a stalled backend answers quickly; every wait below is bounded well above it.
BACKEND_TIMEOUT = 1.0
CLIENT_TIMEOUT = 8.0


@pytest.fixture
async def pg_proxy(settings: Settings) -> AsyncIterator[FaultProxy]:
    async with fault_proxy(settings.postgres_url) as proxy:
        yield proxy


@pytest.fixture
async def redis_proxy(settings: Settings) -> AsyncIterator[FaultProxy]:
    async with fault_proxy(settings.redis_url) as proxy:
        yield proxy


@pytest.fixture
def proxied(settings: Settings, pg_proxy: FaultProxy, redis_proxy: FaultProxy) -> Settings:
    """This run's settings with PostgreSQL and Redis behind the proxies."""
    return settings.model_copy(
        update={
            "postgres_url": pg_proxy.url,
            "redis_url": redis_proxy.url,
            "backend_timeout": BACKEND_TIMEOUT,
        }
    )


@pytest.fixture
async def api_key(runtime: Runtime) -> dict[str, str]:
    """Headers of a service user (API keys need PostgreSQL only, no Redis session)."""
    key = secrets.token_hex(32)
    await make_user(runtime, api_key=key, isService=True)
    return {"X-Api-Key": key}


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers.get("Retry-After")
    body = response.json()
    assert body["code"] == 503 and body["detail"]


# The pool on its own.


async def test_a_statement_on_a_stalled_connection_times_out_and_the_pool_recovers(
    settings: Settings, pg_proxy: FaultProxy
) -> None:
    db = Postgres(pg_proxy.url, max_size=1, command_timeout=BACKEND_TIMEOUT)
    try:
        assert await db.fetchval("SELECT 1") == 1
        pg_proxy.stall()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(CLIENT_TIMEOUT):
                await db.fetchval("SELECT 2")
        await pg_proxy.restore()
        # The timed-out connection was discarded: the only slot holds a working one.
        async with asyncio.timeout(CLIENT_TIMEOUT):
            assert await db.fetchval("SELECT 3") == 3
            async with db.transaction() as conn:
                assert await conn.fetchval("SELECT 4") == 4
    finally:
        await db.close()


async def test_a_transaction_whose_connection_breaks_is_discarded_not_reused(
    settings: Settings, pg_proxy: FaultProxy
) -> None:
    db = Postgres(pg_proxy.url, max_size=1, command_timeout=BACKEND_TIMEOUT)
    try:
        with pytest.raises(Exception) as failure:
            async with db.transaction() as conn:
                await conn.execute("SELECT 1")
                pg_proxy.drop_connections()
                await conn.execute("SELECT 2")
        assert not isinstance(failure.value, AssertionError)
        async with asyncio.timeout(CLIENT_TIMEOUT):
            async with db.transaction() as conn:
                assert await conn.fetchval("SELECT 5") == 5
    finally:
        await db.close()


# The API in this process.


async def test_with_postgresql_cut_every_events_route_answers_503_then_recovers(
    proxied: Settings, pg_proxy: FaultProxy, api_key: dict[str, str]
) -> None:
    async with serving(server_app(proxied)) as client:
        posted = await client.post("/api/events", json={"topic": "test.fault"}, headers=api_key)
        assert posted.status_code == 200, posted.text
        event_id = posted.json()["id"]
        await pg_proxy.cut()
        answers = [
            await client.post("/api/events", json={"topic": "test.fault"}, headers=api_key),
            await client.get(f"/api/events/{event_id}", headers=api_key),
            await client.get("/api/events", headers=api_key),
            await client.get("/api/ready"),
        ]
        for response in answers:
            assert_unavailable(response)
        await pg_proxy.restore()
        assert (await client.get(f"/api/events/{event_id}", headers=api_key)).status_code == 200
        assert (await client.get("/api/ready")).status_code == 200


async def test_a_stalled_postgresql_answers_503_within_the_backend_timeout(
    proxied: Settings, pg_proxy: FaultProxy, api_key: dict[str, str]
) -> None:
    async with serving(server_app(proxied)) as client:
        posted = await client.post("/api/events", json={"topic": "test.fault"}, headers=api_key)
        event_id = posted.json()["id"]
        pg_proxy.stall()
        async with asyncio.timeout(CLIENT_TIMEOUT):
            read = await client.get(f"/api/events/{event_id}", headers=api_key)
            write = await client.post(
                "/api/events", json={"topic": "test.fault"}, headers=api_key
            )
        assert_unavailable(read)
        assert_unavailable(write)
        await pg_proxy.restore()
        async with asyncio.timeout(CLIENT_TIMEOUT):
            again = await client.get(f"/api/events/{event_id}", headers=api_key)
        assert again.status_code == 200, again.text


async def test_a_stalled_redis_answers_503_within_the_backend_timeout(
    proxied: Settings, redis_proxy: FaultProxy, runtime: Runtime
) -> None:
    name = await make_user(runtime)
    credentials = {"name": name, "password": "correct horse battery"}
    async with serving(server_app(proxied)) as client:
        assert (await client.post("/api/auth/login", json=credentials)).status_code == 200
        redis_proxy.stall()
        async with asyncio.timeout(CLIENT_TIMEOUT):
            stalled = await client.post("/api/auth/login", json=credentials)
        assert_unavailable(stalled)
        assert "Redis" in stalled.json()["detail"]
        await redis_proxy.restore()
        async with asyncio.timeout(CLIENT_TIMEOUT):
            again = await client.post("/api/auth/login", json=credentials)
        assert again.status_code == 200, again.text
