"""`/ws`: event changes pushed to clients, AYON's protocol (what ayon-python-api's EventHub and
AYON's web UI speak).

1. The client connects and sends `{"topic": "auth", "token": <session token or API key>,
   "subscribe": [topics], "project"?: name}`, checked by the HTTP rules (`resolve_credential`).
   Until then nothing is sent; a socket that has not authenticated within AUTH_TIMEOUT, or whose
   token is invalid, is closed with code 1008 and a reason saying why. Other messages before
   the auth are ignored, as AYON does.
2. From then on it receives every event change whose topic matches a subscription (prefixes,
   `*` wildcards; see RelayClient), and a heartbeat every few seconds. The first heartbeat comes
   right after each (re)subscription, so a client knows from when on it is covered.
3. `{"topic": "auth", ...}` again (what EventHub does when its callbacks change) or
   `{"topic": "subscribe", "subscribe": [topics]}` replaces the subscription.

A client too slow to take its messages is closed with 1013 (try again later), and so is every
socket when the relay loses Redis, or when PostgreSQL or Redis fail while a socket is served:
clients reconnect. One process-wide EventRelay feeds all sockets
(ayon_server.background.event_relay).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from ayon_server.api.auth import Credential, resolve_credential
from ayon_server.api.errors import unavailable_service
from ayon_server.api.state import ServerState
from ayon_server.background.event_relay import (
    HEARTBEAT,
    TRY_AGAIN_LATER,
    EventRelay,
    RelayClient,
)
from ayon_server.exceptions import ForbiddenException, UnauthorizedException
from ayon_server.runtime import Runtime

log = logging.getLogger(__name__)
router = APIRouter(tags=["Events"])

AUTH_TIMEOUT = 3.0
# How long a new socket waits for the relay's Redis subscription (after a start or an outage).
RELAY_WAIT = 5.0
CLOSE_TIMEOUT = 2.0
MAX_TOPICS = 100
MAX_TOPIC_LENGTH = 256
POLICY_VIOLATION = 1008


class ClosedByServer(Exception):
    """The server decided to close this socket with this code and reason."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def _caller_name(runtime: Runtime, token: object) -> str:
    """The user a session token or an API key proves, by the HTTP rules; closes with 1008 else."""
    if not isinstance(token, str) or not token:
        raise ClosedByServer(POLICY_VIOLATION, "Invalid or expired token")
    try:
        caller = await resolve_credential(runtime, Credential(token=token, api_key=token))
    except (UnauthorizedException, ForbiddenException):
        raise ClosedByServer(POLICY_VIOLATION, "Invalid or expired token") from None
    return caller.name


def _topics(message: dict[str, Any]) -> list[str]:
    topics = message.get("subscribe")
    if not isinstance(topics, list):
        return []
    return [t for t in topics if isinstance(t, str) and 0 < len(t) <= MAX_TOPIC_LENGTH][:MAX_TOPICS]


def _project(message: dict[str, Any]) -> str | None:
    project = message.get("project")
    return project if isinstance(project, str) and project else None


async def _receive(websocket: WebSocket) -> dict[str, Any] | None:
    """The next message as a JSON object; None for anything else. Raises WebSocketDisconnect."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    raw = message.get("text") or message.get("bytes")
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError, TimeoutError):
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await websocket.close(code=code, reason=reason)


async def _authenticate(websocket: WebSocket, runtime: Runtime, relay: EventRelay) -> RelayClient:
    try:
        async with asyncio.timeout(AUTH_TIMEOUT):
            while True:
                message = await _receive(websocket)
                if message is not None and message.get("topic") == "auth":
                    break
    except TimeoutError:
        raise ClosedByServer(
            POLICY_VIOLATION, f"Not authenticated within {AUTH_TIMEOUT:g} s"
        ) from None
    user_name = await _caller_name(runtime, message.get("token"))
    return relay.new_client(user_name, _topics(message), _project(message))


async def _read(websocket: WebSocket, runtime: Runtime, client: RelayClient) -> None:
    """Handle the client's messages: re-authentication and subscription changes."""
    while True:
        message = await _receive(websocket)
        topic = message.get("topic") if message else None
        if message is None or topic not in ("auth", "subscribe"):
            continue
        if topic == "auth":
            client.user_name = await _caller_name(runtime, message.get("token"))
        client.subscribe(_topics(message), _project(message))
        client.offer(HEARTBEAT)


async def _write(websocket: WebSocket, client: RelayClient) -> None:
    while True:
        await websocket.send_text(await client.queue.get())


async def _serve(websocket: WebSocket, runtime: Runtime, client: RelayClient) -> None:
    """Run the reader and the writer until the client leaves, errs, or falls behind."""
    tasks = {
        asyncio.create_task(_read(websocket, runtime, client)),
        asyncio.create_task(_write(websocket, client)),
        asyncio.create_task(client.overflowed.wait()),
        asyncio.create_task(client.ended.wait()),
    }
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if client.end_reason is not None:
        raise ClosedByServer(*client.end_reason)
    if client.overflowed.is_set():
        raise ClosedByServer(TRY_AGAIN_LATER, "Too slow: messages were dropped, reconnect")
    for task in done:
        exc = task.exception()
        if exc is not None:
            raise exc


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    state: ServerState = websocket.app.state.server
    relay = state.workers.get(EventRelay.name)
    runtime = state.runtime
    await websocket.accept()
    if runtime is None or not isinstance(relay, EventRelay):
        await _close(websocket, TRY_AGAIN_LATER, "Server is starting, retry later")
        return
    try:
        async with asyncio.timeout(RELAY_WAIT):
            await relay.subscribed.wait()
    except TimeoutError:
        await _close(websocket, TRY_AGAIN_LATER, "Events are unavailable (no Redis), retry later")
        return
    client: RelayClient | None = None
    try:
        client = await _authenticate(websocket, runtime, relay)
        relay.register(client)
        client.offer(HEARTBEAT)
        await _serve(websocket, runtime, client)
    except ClosedByServer as closing:
        log.info("closing websocket of %s: %s", client.user_name if client else "?", closing.reason)
        await _close(websocket, closing.code, closing.reason)
    except WebSocketDisconnect as exc:
        log.debug("websocket closed by the client: %s", exc.code)
    except Exception as exc:
        service = unavailable_service(exc)
        if service is not None:
            log.warning("closing websocket: %s unavailable: %s", service, exc)
            await _close(websocket, TRY_AGAIN_LATER, f"{service} unavailable, retry later")
        elif isinstance(exc, RuntimeError | OSError):
            # The client went away mid-send (Starlette raises RuntimeError after the close).
            log.debug("websocket ended: %r", exc)
        else:
            raise
    finally:
        if client is not None:
            relay.unregister(client)
