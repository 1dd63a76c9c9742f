"""The `/ws` event websocket (AYON's protocol) and the EventRelay that feeds it.

Servers run for real: uvicorn in this process where a test needs to reach into the app, and
`python entrypoint.py` processes for the replica test.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ayon_server.api.routes import websocket as websocket_route
from ayon_server.background.event_relay import EventRelay, RelayClient, websocket_message
from ayon_server.config import Settings
from ayon_server.runtime import Runtime
from tests.helpers.server import free_port, server_app, server_process, uvicorn_in_process
from tests.helpers.users import login, make_user
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.usefixtures("clean_tables")

HEARTBEAT = {"topic": "heartbeat"}


@asynccontextmanager
async def server_in_process(settings: Settings) -> AsyncIterator[tuple[str, EventRelay]]:
    """The app under uvicorn on this event loop: (base URL, the app's EventRelay)."""
    app = server_app(settings)
    async with uvicorn_in_process(app) as base_url:
        relay = app.state.server.workers.get(EventRelay.name)
        assert isinstance(relay, EventRelay)
        yield base_url, relay


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[tuple[str, EventRelay]]:
    async with server_in_process(settings) as running:
        yield running


@pytest.fixture
async def base_url(server: tuple[str, EventRelay]) -> str:
    return server[0]


async def session_token(base_url: str, runtime: Runtime, **flags: bool) -> str:
    async with httpx.AsyncClient(base_url=base_url) as http:
        headers = await login(http, await make_user(runtime, **flags))
    return headers["Authorization"].removeprefix("Bearer ")


@asynccontextmanager
async def websocket(base_url: str) -> AsyncIterator[ClientConnection]:
    async with connect(base_url.replace("http", "ws", 1) + "/ws", open_timeout=10) as ws:
        yield ws


async def receive(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def authenticate(ws: ClientConnection, token: str, topics: list[str], **extra: Any) -> None:
    """Send AYON's auth message and wait for the heartbeat that confirms the subscription."""
    await ws.send(json.dumps({"topic": "auth", "token": token, "subscribe": topics, **extra}))
    assert await receive(ws) == HEARTBEAT


async def next_event(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    """The next message that is not a heartbeat."""
    while True:
        message = await receive(ws, timeout)
        if message != HEARTBEAT:
            return message


async def close_code(ws: ClientConnection, timeout: float = 10) -> tuple[int, str]:
    """Read until the server closes; its close code and reason."""
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_an_authenticated_client_receives_dispatched_events_in_ayons_shape(
    base_url: str, runtime: Runtime
) -> None:
    token = await session_token(base_url, runtime, isAdmin=True)
    async with websocket(base_url) as ws:
        await authenticate(ws, token, ["test.ws"])
        async with httpx.AsyncClient(base_url=base_url) as http:
            response = await http.post(
                "/api/events",
                json={
                    "topic": "test.ws.created",
                    "sender": "pytest",
                    "project": "demo",
                    "description": "hello",
                    "summary": {"n": 1},
                    "payload": {"secret": "not on the socket"},
                },
                headers={"Authorization": f"Bearer {token}"},
            )
        event_id = response.json()["id"]
        message = await next_event(ws)
    assert message["id"] == event_id
    assert (message["topic"], message["status"], message["description"]) == (
        "test.ws.created",
        "finished",
        "hello",
    )
    assert (message["project"], message["sender"], message["senderType"]) == (
        "demo",
        "pytest",
        "api",
    )
    assert (message["summary"], message["store"], message["dependsOn"]) == ({"n": 1}, True, None)
    assert {"user", "createdAt", "updatedAt"} <= set(message)
    assert "payload" not in message and "hash" not in message


async def test_subscriptions_select_topics_by_prefix_and_wildcard(
    base_url: str, runtime: Runtime
) -> None:
    token = await session_token(base_url, runtime)
    async with websocket(base_url) as ws:
        await authenticate(ws, token, ["test.ws.a", "test.*.done"])
        for topic in ("test.ws.b", "test.ws.a.sub", "other.x.done", "test.x.done", "test.ws.a"):
            await runtime.events.dispatch(topic)
        received = [(await next_event(ws))["topic"] for _ in range(3)]
    assert received == ["test.ws.a.sub", "test.x.done", "test.ws.a"]


async def test_a_star_subscribes_to_everything(base_url: str, runtime: Runtime) -> None:
    token = await session_token(base_url, runtime)
    async with websocket(base_url) as ws:
        await authenticate(ws, token, ["*"])
        await runtime.events.dispatch("anything.at.all")
        assert (await next_event(ws))["topic"] == "anything.at.all"


async def test_subscribe_and_repeated_auth_messages_replace_the_subscription(
    base_url: str, runtime: Runtime
) -> None:
    token = await session_token(base_url, runtime)
    async with websocket(base_url) as ws:
        await authenticate(ws, token, ["test.one"])
        await ws.send(json.dumps({"topic": "subscribe", "subscribe": ["test.two"]}))
        assert await receive(ws) == HEARTBEAT
        await runtime.events.dispatch("test.one")
        await runtime.events.dispatch("test.two")
        assert (await next_event(ws))["topic"] == "test.two"

        # ayon-python-api's EventHub re-sends auth when its callbacks change.
        await authenticate(ws, token, ["test.three"])
        await runtime.events.dispatch("test.two")
        await runtime.events.dispatch("test.three")
        assert (await next_event(ws))["topic"] == "test.three"


async def test_a_project_scoped_client_sees_its_project_and_global_events_only(
    base_url: str, runtime: Runtime
) -> None:
    token = await session_token(base_url, runtime)
    async with websocket(base_url) as ws:
        await authenticate(ws, token, ["test"], project="mine")
        await runtime.events.dispatch("test.p", project="theirs")
        await runtime.events.dispatch("test.p", project="mine")
        await runtime.events.dispatch("test.p")
        assert [(await next_event(ws))["project"] for _ in range(2)] == ["mine", None]


async def test_progress_updates_reach_websocket_clients(base_url: str, runtime: Runtime) -> None:
    token = await session_token(base_url, runtime, isAdmin=True)
    event_id = await runtime.events.dispatch("test.job", status="in_progress")
    async with websocket(base_url) as ws, httpx.AsyncClient(base_url=base_url) as http:
        await authenticate(ws, token, ["test.job"])
        response = await http.patch(
            f"/api/events/{event_id}",
            json={"progress": 75, "description": "three quarters"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 204
        message = await next_event(ws)
    assert (message["id"], message["progress"], message["description"]) == (
        event_id,
        75,
        "three quarters",
    )


async def test_service_api_keys_authenticate_websockets(base_url: str, runtime: Runtime) -> None:
    key = secrets.token_hex(32)
    await make_user(runtime, api_key=key, isService=True)
    async with websocket(base_url) as ws:
        await authenticate(ws, key, ["test"])
        await runtime.events.dispatch("test.for.services")
        assert (await next_event(ws))["topic"] == "test.for.services"


@pytest.mark.parametrize("token", ["f" * 64, "not-a-key", "", None, 42])
async def test_a_bad_token_closes_the_socket_with_1008_and_a_reason(
    base_url: str, token: object
) -> None:
    async with websocket(base_url) as ws:
        await ws.send(json.dumps({"topic": "auth", "token": token, "subscribe": ["*"]}))
        code, reason = await close_code(ws)
    assert (code, reason) == (1008, "Invalid or expired token")


async def test_an_inactive_users_token_is_refused(base_url: str, runtime: Runtime) -> None:
    key = secrets.token_hex(32)
    name = await make_user(runtime, api_key=key, isService=True)
    await runtime.db.execute("UPDATE public.users SET active = FALSE WHERE name = $1", name)
    async with websocket(base_url) as ws:
        await ws.send(json.dumps({"topic": "auth", "token": key, "subscribe": ["*"]}))
        assert (await close_code(ws))[0] == 1008


async def test_a_deactivated_users_session_is_refused_and_dropped_as_over_http(
    base_url: str, runtime: Runtime
) -> None:
    name = await make_user(runtime)
    async with httpx.AsyncClient(base_url=base_url) as http:
        headers = await login(http, name)
        await runtime.db.execute("UPDATE public.users SET active = FALSE WHERE name = $1", name)
        async with websocket(base_url) as ws:
            token = headers["Authorization"].removeprefix("Bearer ")
            await ws.send(json.dumps({"topic": "auth", "token": token, "subscribe": ["*"]}))
            assert await close_code(ws) == (1008, "Invalid or expired token")
        await runtime.db.execute("UPDATE public.users SET active = TRUE WHERE name = $1", name)
        # The session went with the refusal: reactivating the user does not revive it.
        response = await http.get("/api/users/me", headers=headers)
    assert response.status_code == 401


async def test_a_socket_that_never_authenticates_is_closed_with_a_reason(
    base_url: str, runtime: Runtime
) -> None:
    async with websocket(base_url) as ws:
        await ws.send("not json")
        await ws.send(json.dumps({"topic": "subscribe", "subscribe": ["*"]}))
        await runtime.events.dispatch("test.unseen")
        code, reason = await close_code(ws)
    assert code == 1008
    assert reason.startswith("Not authenticated within")


async def test_a_client_that_falls_behind_is_closed_with_1013_and_others_carry_on(
    server: tuple[str, EventRelay], runtime: Runtime
) -> None:
    base_url, relay = server
    token = await session_token(base_url, runtime)
    async with websocket(base_url) as slow, websocket(base_url) as fast:
        await authenticate(slow, token, ["test"])
        (slow_client,) = relay.clients
        # Queue messages without yielding to the socket's writer: the queue overflows.
        while not slow_client.overflowed.is_set():
            relay.broadcast(json.dumps({"topic": "test.filler"}))
        assert relay.clients == set()
        code, reason = await close_code(slow)
        await authenticate(fast, token, ["test"])
        await runtime.events.dispatch("test.after")
        assert (await next_event(fast))["topic"] == "test.after"
    assert code == 1013 and "slow" in reason.lower()
    assert relay.health()["droppedClients"] == 1


async def test_disconnected_clients_are_unregistered(
    server: tuple[str, EventRelay], runtime: Runtime
) -> None:
    base_url, relay = server
    token = await session_token(base_url, runtime)
    async with websocket(base_url) as ws:
        await authenticate(ws, token, ["test"])
        assert len(relay.clients) == 1
    # The server notices the close on its own schedule.
    await wait_until(lambda: not relay.clients, what="the client to be unregistered")


async def test_every_replica_relays_every_change_over_one_redis_subscription_each(
    settings: Settings, runtime: Runtime
) -> None:
    channel = f"{settings.redis_key_prefix}:events"
    raw = aioredis.from_url(settings.redis_url)
    try:
        baseline = dict(await raw.pubsub_numsub(channel))[channel.encode()]
        async with server_process(settings) as one, server_process(settings) as two:
            token = await session_token(one, runtime, isAdmin=True)
            async with websocket(two) as a, websocket(two) as b, websocket(one) as c:
                for ws in (a, b, c):
                    await authenticate(ws, token, ["test.replica"])
                numsub = dict(await raw.pubsub_numsub(channel))[channel.encode()]
                async with httpx.AsyncClient(base_url=one) as http:
                    response = await http.post(
                        "/api/events",
                        json={"topic": "test.replica.hello"},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                event_id = response.json()["id"]
                received = [(await next_event(ws))["id"] for ws in (a, b, c)]
    finally:
        await raw.aclose()
    assert numsub == baseline + 2  # one per server process, not one per socket
    assert received == [event_id] * 3


async def test_without_redis_sockets_are_closed_with_1013_and_a_reason(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(websocket_route, "RELAY_WAIT", 0.5)
    no_redis = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async with server_in_process(no_redis) as (base_url, relay), websocket(base_url) as ws:
        code, reason = await close_code(ws)
        assert relay.health()["subscribed"] is False
    assert code == 1013 and "Redis" in reason


# The relay on its own.


async def test_the_relay_never_blocks_on_a_slow_client(runtime: Runtime) -> None:
    relay = EventRelay(runtime, heartbeat_interval=60, queue_size=3)
    slow = relay.new_client("slow", ["test"])
    fast = RelayClient("fast", ["test"], queue_size=100)
    relay.register(slow)
    relay.register(fast)
    relay.start()
    try:
        async with asyncio.timeout(10):
            await relay.subscribed.wait()
        ids = [await runtime.events.dispatch("test.burst") for _ in range(10)]
        got = [json.loads(await asyncio.wait_for(fast.queue.get(), 10))["id"] for _ in ids]
    finally:
        await relay.stop(5)
    assert got == ids
    assert slow.overflowed.is_set() and slow.queue.qsize() == 3
    assert relay.clients == {fast}
    assert relay.health()["droppedClients"] == 1


async def test_the_relay_stops_when_cancelled_at_any_moment_of_its_start(runtime: Runtime) -> None:
    # A cancellation during redis-py's connect can be swallowed on Python 3.11 (gh-86296);
    # the relay must stop anyway, or it holds up the server's shutdown.
    for step in range(40):
        relay = EventRelay(runtime)
        relay.start()
        await asyncio.sleep(step * 0.0002)
        await relay.stop(5)
        assert relay.state == "stopped", f"abandoned when stopped after {step * 0.2} ms"


def test_websocket_messages_leave_out_the_payload_and_hash() -> None:
    event = {
        "id": "a" * 32,
        "hash": "h",
        "topic": "t.x.y",
        "payload": {"big": "data"},
        "summary": {},
        "progress": 10,
        "store": True,
    }
    assert websocket_message(event) == {
        "id": "a" * 32,
        "topic": "t.x.y",
        "summary": {},
        "progress": 10,
        "store": True,
    }


@pytest.mark.parametrize(
    ("topics", "project", "topic", "event_project", "wanted"),
    [
        (["entity.folder"], None, "entity.folder.created", None, True),
        (["entity.folder"], None, "entity.task.created", None, False),
        (["entity.*.created"], None, "entity.task.created", "p", True),
        (["*"], None, "anything", None, True),
        (["entity"], "p", "entity.x", "q", False),
        (["entity"], "p", "entity.x", "p", True),
        (["entity"], "p", "entity.x", None, True),
        (["a.b"], None, "aXb", None, False),  # dots are literal
        ([], None, "anything", None, False),
    ],
)
def test_a_client_wants_its_topics_from_its_own_project_or_from_none(
    topics: list[str], project: str | None, topic: str, event_project: str | None, wanted: bool
) -> None:
    assert RelayClient("u", topics, project).wants(topic, event_project) is wanted
