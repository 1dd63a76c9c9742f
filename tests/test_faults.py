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
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from redis import exceptions as redis_errors
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ayon_server.api.errors import unavailable_service
from ayon_server.api.routes import websocket as websocket_route
from ayon_server.background.event_relay import EventRelay
from ayon_server.config import Settings
from ayon_server.lib.postgres import Postgres
from ayon_server.runtime import Runtime
from tests.helpers.fault_proxy import FaultProxy, fault_proxy
from tests.helpers.projects import Project
from tests.helpers.server import (
    server_app,
    server_process,
    serving,
    uvicorn_in_process,
)
from tests.helpers.users import make_user
from tests.helpers.waiting import wait_until

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
    """Headers of an admin's API key (API keys need PostgreSQL only, no Redis session)."""
    key = secrets.token_hex(32)
    await make_user(runtime, api_key=key, isAdmin=True)
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


async def test_a_connection_left_mid_operation_is_terminated_not_handed_out_again(
    settings: Settings,
) -> None:
    db = Postgres(settings.postgres_url, max_size=1, command_timeout=BACKEND_TIMEOUT)
    try:
        with pytest.raises(asyncpg.InternalClientError):
            async with db.acquire() as conn:
                first = await conn.fetchval("SELECT pg_backend_pid()")
                # What asyncpg raises when a restart or a cancellation left the protocol busy.
                raise asyncpg.InternalClientError("cannot switch to state 12")
        async with db.acquire() as conn:
            second = await conn.fetchval("SELECT pg_backend_pid()")
    finally:
        await db.close()
    assert second != first


@pytest.mark.parametrize(
    ("error", "service"),
    [
        (asyncpg.InternalClientError("cannot switch to state 12"), "PostgreSQL"),
        (asyncpg.ConnectionDoesNotExistError("closed in the middle of operation"), "PostgreSQL"),
        (asyncpg.CannotConnectNowError("the database system is starting up"), "PostgreSQL"),
        (redis_errors.ConnectionError("Connection reset by peer"), "Redis"),
        (redis_errors.TimeoutError("Timeout reading from socket"), "Redis"),
    ],
)
def test_connection_level_failures_are_outages(error: Exception, service: str) -> None:
    assert unavailable_service(error) == service


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
            write = await client.post("/api/events", json={"topic": "test.fault"}, headers=api_key)
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


# Clients that fail: stalled and aborted uploads, against uvicorn in this process.


def partial_upload(project: str, api_key: dict[str, str]) -> bytes:
    """The start of an upload that announces a megabyte and sends a kilobyte."""
    headers = (
        f"POST /api/projects/{project}/files HTTP/1.1\r\nHost: test\r\n"
        f"X-Api-Key: {api_key['X-Api-Key']}\r\nx-file-name: big.bin\r\n"
        "Content-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n"
    )
    return headers.encode() + b"x" * 1024


def files_left(settings: Settings, project: str) -> list[Path]:
    root = Path(settings.storage_dir) / "projects" / project
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


async def test_a_stalled_upload_gets_408_and_leaves_no_file(
    settings: Settings, project: Project, api_key: dict[str, str]
) -> None:
    quick = settings.model_copy(update={"upload_read_timeout": 0.5})
    async with uvicorn_in_process(server_app(quick)) as base:
        port = int(base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(partial_upload(project.name, api_key))
        await writer.drain()
        async with asyncio.timeout(CLIENT_TIMEOUT):
            status_line = await reader.readline()
            answer = await reader.read()
        writer.close()
    assert status_line.split()[1] == b"408", status_line
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["code"] == 408
    assert files_left(settings, project.name) == []


async def test_an_aborted_upload_is_an_info_line_and_no_server_error(
    settings: Settings, project: Project, api_key: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with uvicorn_in_process(server_app(settings)) as base:
        port = int(base.rsplit(":", 1)[1])
        for _ in range(3):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(partial_upload(project.name, api_key))
            await writer.drain()
            # Closed, not reset: the server surely reads the start before it sees the end.
            writer.close()
            await writer.wait_closed()
        async with httpx.AsyncClient(base_url=base) as client:

            async def three_aborts_counted() -> str | None:
                text = (await client.get("/metrics")).text
                return text if 'status="499"} 3.0' in text else None

            metrics = await wait_until(three_aborts_counted, CLIENT_TIMEOUT, "3 aborts counted")

            async def no_file_left() -> bool:
                return not files_left(settings, project.name)

            await wait_until(no_file_left, CLIENT_TIMEOUT, "the partial files removed")
    upload_lines = [line for line in metrics.splitlines() if "/files" in line]
    assert not any('status="5' in line for line in upload_lines), upload_lines
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert "the client disconnected" in caplog.text


# Websockets in a Redis outage.


async def receive(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), CLIENT_TIMEOUT))


async def closed_with(ws: ClientConnection) -> tuple[int, str]:
    """Read until the server closes the socket; its close code and reason."""
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(CLIENT_TIMEOUT):
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_sockets_are_told_when_redis_goes_and_events_resume_when_it_returns(
    proxied: Settings,
    redis_proxy: FaultProxy,
    api_key: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(websocket_route, "RELAY_WAIT", 0.5)
    app = server_app(proxied)
    auth = {"topic": "auth", "token": api_key["X-Api-Key"], "subscribe": ["test.fault"]}
    async with uvicorn_in_process(app) as base:
        relay = app.state.server.workers.get(EventRelay.name)
        ws_url = base.replace("http", "ws", 1) + "/ws"
        async with connect(ws_url) as ws:
            await ws.send(json.dumps(auth))
            assert await receive(ws) == {"topic": "heartbeat"}
            await redis_proxy.cut()
            code, reason = await closed_with(ws)
        assert code == 1013 and "Redis" in reason
        # While Redis is away a new socket is refused the same way, not left in silence.
        async with connect(ws_url) as ws:
            code, _ = await closed_with(ws)
        assert code == 1013

        await redis_proxy.restore()
        restored_at = asyncio.get_running_loop().time()
        async with asyncio.timeout(CLIENT_TIMEOUT):
            await relay.subscribed.wait()
        resumed_after = asyncio.get_running_loop().time() - restored_at
        print(f"event relay resubscribed {resumed_after:.2f} s after Redis returned")
        async with connect(ws_url) as ws, httpx.AsyncClient(base_url=base) as client:
            await ws.send(json.dumps(auth))
            assert await receive(ws) == {"topic": "heartbeat"}
            posted = await client.post("/api/events", json={"topic": "test.fault"}, headers=api_key)
            assert (await receive(ws))["id"] == posted.json()["id"]


# A server process under load while its backends fail.


class Load:
    """A few clients dispatching events (each retried with its hash until acknowledged) and
    reading them back, counting every answer by status."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str], workers: int = 4):
        self.client = client
        self.headers = headers
        self.statuses: Counter[int | str] = Counter()
        self.acknowledged: dict[str, str] = {}  # hash -> event id
        self.stopping = asyncio.Event()
        self._answered = asyncio.Condition()
        self._tasks = [asyncio.create_task(self._work(n)) for n in range(workers)]

    @property
    def answered(self) -> int:
        return sum(self.statuses.values())

    async def wait_for_answers(self, count: int) -> None:
        """Until `count` more requests have been answered."""
        target = self.answered + count
        async with asyncio.timeout(60), self._answered:
            await self._answered.wait_for(lambda: self.answered >= target)

    async def stop(self) -> None:
        self.stopping.set()
        await asyncio.gather(*self._tasks)

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response | None:
        try:
            response = await self.client.request(
                method, url, headers=self.headers, timeout=CLIENT_TIMEOUT, **kwargs
            )
        except httpx.TimeoutException:
            status: int | str = "client timeout"
            response = None
        else:
            status = response.status_code
            if status == 503:
                assert response.headers.get("Retry-After"), response.text
                assert response.json()["code"] == 503
        async with self._answered:
            self.statuses[status] += 1
            self._answered.notify_all()
        return response

    async def _work(self, worker: int) -> None:
        number = 0
        while not self.stopping.is_set():
            number += 1
            event_hash = f"fault-{worker}-{number}-{secrets.token_hex(4)}"
            body = {"topic": "test.fault.load", "hash": event_hash, "summary": {"n": number}}
            # A write is retried, with the same hash, until it is acknowledged.
            for _ in range(200):
                response = await self._request("POST", "/api/events", json=body)
                if response is not None and response.status_code == 200:
                    self.acknowledged[event_hash] = response.json()["id"]
                    break
                await asyncio.sleep(0.05)
            event_id = self.acknowledged.get(event_hash)
            if event_id is not None:
                await self._request("GET", f"/api/events/{event_id}")


async def ready_after(client: httpx.AsyncClient) -> float:
    """Seconds until /api/ready answers 200."""
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def ready() -> bool:
        return (await client.get("/api/ready", timeout=CLIENT_TIMEOUT)).status_code == 200

    await wait_until(ready, 30, "/api/ready")
    return loop.time() - started


async def test_under_load_backend_faults_answer_503_only_and_lose_no_acknowledged_write(
    settings: Settings,
    pg_proxy: FaultProxy,
    redis_proxy: FaultProxy,
    api_key: dict[str, str],
    runtime: Runtime,
) -> None:
    env = {
        "AYON_POSTGRES_URL": pg_proxy.url,
        "AYON_REDIS_URL": redis_proxy.url,
        "AYON_BACKEND_TIMEOUT": str(BACKEND_TIMEOUT),
    }
    recovery: dict[str, float] = {}
    async with server_process(settings, **env) as base, httpx.AsyncClient(base_url=base) as client:
        await ready_after(client)
        load = Load(client, api_key)
        try:
            await load.wait_for_answers(40)
            for fault in ("postgres cut", "postgres stalled", "postgres restart", "redis cut"):
                proxy = redis_proxy if fault.startswith("redis") else pg_proxy
                if fault.endswith("cut"):
                    await proxy.cut()
                elif fault.endswith("stalled"):
                    proxy.stall()
                else:
                    proxy.drop_connections()
                # Each stalled request takes the backend timeout; fewer of them show it.
                await load.wait_for_answers(6 if fault.endswith("stalled") else 12)
                await proxy.restore()
                recovery[fault] = await ready_after(client)
                await load.wait_for_answers(20)
        finally:
            await load.stop()
    print(
        f"\nfault run: {load.answered} requests, statuses {dict(load.statuses)}, "
        f"{len(load.acknowledged)} acknowledged writes, /api/ready back after "
        + ", ".join(f"{fault} {seconds:.2f} s" for fault, seconds in recovery.items())
    )
    assert set(load.statuses) <= {200, 503}, load.statuses
    assert load.statuses[503] > 0  # the faults were felt
    rows = await runtime.db.fetch(
        "SELECT hash, id FROM public.events WHERE topic = 'test.fault.load'"
    )
    stored = {row["hash"]: row["id"].hex for row in rows}
    assert stored == load.acknowledged  # every acknowledged write is there, exactly once
