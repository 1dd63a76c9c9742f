"""EventRelay: one Redis subscription per server process, fanned out to its websocket clients.

Every replica runs one, so a change published by any replica or by maintenance
reaches the websocket clients of all of them. Clients are queues, not sockets: the relay only
ever does a non-blocking put, so one slow client cannot hold up the others. A client whose queue
is full is dropped (its `overflowed` is set and it gets nothing more); its connection handler
closes the socket, and AYON's client reconnects.

When the relay loses Redis it ends every client (`ended`, with a retryable close code): their
sockets are closed so clients reconnect, instead of waiting in silence for events that cannot
come. It resubscribes within about a second of Redis answering again (the restart backoff is
capped short), and sockets opened meanwhile are refused with 1013 (try again later).

Messages are AYON's websocket shape: the event without its payload (clients GET the event when
they need it) plus `progress` and `store`. Every HEARTBEAT_INTERVAL each client also gets
`{"topic": "heartbeat"}`, which AYON's client needs to tell a live connection from a dead one.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from typing import Any

from ayon_server.events.naming import topic_prefix_matcher
from ayon_server.events.subscription import subscribe_events
from ayon_server.lib.workers import BackgroundWorker
from ayon_server.runtime import Runtime

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = 5.0
# The longest the relay waits for Redis before it looks at its own state again.
CANCEL_CHECK_INTERVAL = 1.0
DEFAULT_QUEUE_SIZE = 1000
# WebSocket close code "try again later": what a client is told when the relay loses Redis.
TRY_AGAIN_LATER = 1013
REDIS_LOST = "Events are unavailable (lost Redis), reconnect"
HEARTBEAT = json.dumps({"topic": "heartbeat"})
MESSAGE_FIELDS = (
    "id",
    "topic",
    "project",
    "user",
    "dependsOn",
    "description",
    "summary",
    "status",
    "progress",
    "sender",
    "senderType",
    "store",
    "createdAt",
    "updatedAt",
)


def websocket_message(event: dict[str, Any]) -> dict[str, Any]:
    """AYON's websocket message for an event message from the Redis channel."""
    return {key: event[key] for key in MESSAGE_FIELDS if key in event}


def _raise_if_cancel_was_lost(task: asyncio.Task[Any] | None) -> None:
    """Finish a cancellation that redis-py lost.

    On Python 3.11, asyncio.wait_for (which redis-py uses while connecting) returns normally
    when its inner future completes as the task is cancelled (CPython gh-86296): the
    CancelledError is gone, but the request stays counted in `task.cancelling()`. Without this
    check a relay cancelled while subscribing would run on and hold up the shutdown.
    """
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class RelayClient:
    """One authenticated websocket: who it is, what it subscribed to, what waits to be sent."""

    def __init__(
        self,
        user_name: str,
        topics: Iterable[str],
        project: str | None = None,
        *,
        queue_size: int = DEFAULT_QUEUE_SIZE,
    ):
        self.user_name = user_name
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)
        self.overflowed = asyncio.Event()
        self.dropped = 0
        # Set by the relay when it can no longer feed this client: (close code, reason).
        self.ended = asyncio.Event()
        self.end_reason: tuple[int, str] | None = None
        self.subscribe(topics, project)

    def subscribe(self, topics: Iterable[str], project: str | None = None) -> None:
        """Replace the subscription: topics as AYON's prefixes with `*` wildcards, and when a
        project is given, only events of that project or of none."""
        self.topics = sorted(set(topics))
        self.project = project
        self._matchers = [topic_prefix_matcher(topic) for topic in self.topics]

    def wants(self, topic: str, project: str | None) -> bool:
        if self.project is not None and project is not None and project != self.project:
            return False
        return any(matcher.match(topic) for matcher in self._matchers)

    def end(self, code: int, reason: str) -> None:
        self.end_reason = (code, reason)
        self.ended.set()

    def offer(self, text: str) -> bool:
        """Queue a message without waiting; False (and overflowed) when the queue is full."""
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.dropped += 1
            self.overflowed.set()
            return False
        return True


class EventRelay(BackgroundWorker):
    name = "event_relay"
    # Back on Redis within about a second of it answering again, however long it was away.
    initial_backoff = 0.5
    max_backoff = 1.0

    def __init__(
        self,
        runtime: Runtime,
        *,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        queue_size: int = DEFAULT_QUEUE_SIZE,
    ) -> None:
        super().__init__()
        self.runtime = runtime
        self.heartbeat_interval = heartbeat_interval
        self.queue_size = queue_size
        self.clients: set[RelayClient] = set()
        # Set while the Redis subscription is up: until then a client would hear nothing.
        self.subscribed = asyncio.Event()
        self.relayed = 0
        self.dropped_clients = 0

    def new_client(
        self, user_name: str, topics: Iterable[str], project: str | None = None
    ) -> RelayClient:
        return RelayClient(user_name, topics, project, queue_size=self.queue_size)

    def register(self, client: RelayClient) -> None:
        self.clients.add(client)

    def unregister(self, client: RelayClient) -> None:
        self.clients.discard(client)

    async def run(self) -> None:
        try:
            await self._relay()
        except Exception:
            self.end_clients(TRY_AGAIN_LATER, REDIS_LOST)
            raise

    def end_clients(self, code: int, reason: str) -> None:
        """Tell every client it gets nothing more from here, and forget them."""
        for client in list(self.clients):
            client.end(code, reason)
        self.clients.clear()

    async def _relay(self) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        async with subscribe_events(self.runtime.redis) as events:
            self.subscribed.set()
            try:
                next_heartbeat = loop.time() + self.heartbeat_interval
                while True:
                    _raise_if_cancel_was_lost(task)
                    wait = min(max(next_heartbeat - loop.time(), 0.0), CANCEL_CHECK_INTERVAL)
                    event = await events.get(timeout=wait)
                    if event is not None:
                        self.fan_out(event)
                    if loop.time() >= next_heartbeat:
                        self.broadcast(HEARTBEAT)
                        next_heartbeat = loop.time() + self.heartbeat_interval
            finally:
                self.subscribed.clear()

    def fan_out(self, event: dict[str, Any]) -> None:
        """Queue the event for every client subscribed to it."""
        topic, project = event.get("topic"), event.get("project")
        if not isinstance(topic, str):
            log.warning("ignoring an event message without a topic")
            return
        text: str | None = None
        for client in list(self.clients):
            if client.wants(topic, project if isinstance(project, str) else None):
                text = text or json.dumps(websocket_message(event))
                self._offer(client, text)
        self.relayed += 1

    def broadcast(self, text: str) -> None:
        for client in list(self.clients):
            self._offer(client, text)

    def _offer(self, client: RelayClient, text: str) -> None:
        if not client.offer(text):
            self.unregister(client)
            self.dropped_clients += 1
            log.warning(
                "websocket client of %s is too slow (%d messages queued); disconnecting it",
                client.user_name,
                client.queue.qsize(),
            )

    def health(self) -> dict[str, Any]:
        return {
            **super().health(),
            "subscribed": self.subscribed.is_set(),
            "clients": len(self.clients),
            "relayed": self.relayed,
            "droppedClients": self.dropped_clients,
        }
