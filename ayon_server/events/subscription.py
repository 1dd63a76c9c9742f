"""Listening to the events EventStream publishes on Redis (the prefixed `events` channel).

`subscribe_events(redis)` subscribes before it yields, so nothing published after entering the
block is missed; the websocket relay of every replica and the tests consume events this way.
A Redis outage surfaces as a redis ConnectionError from the iteration: resubscribing is the
caller's decision (what it missed is in public.events).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio.client import PubSub

from ayon_server.events.stream import EVENTS_CHANNEL
from ayon_server.lib.redis import Redis

log = logging.getLogger(__name__)

# How long one read blocks; short so a cancelled listener ends promptly.
_POLL_SECONDS = 1.0


class EventSubscription:
    """Event messages (EventModel JSON, camelCase, plus `progress` when given), in order."""

    def __init__(self, pubsub: PubSub):
        self._pubsub = pubsub

    def __aiter__(self) -> EventSubscription:
        return self

    async def __anext__(self) -> dict[str, Any]:
        while True:
            event = await self.get(timeout=_POLL_SECONDS)
            if event is not None:
                return event

    async def get(self, timeout: float) -> dict[str, Any] | None:
        """The next event, or None when none arrives within `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            message = await self._pubsub.get_message(
                ignore_subscribe_messages=True, timeout=min(remaining, _POLL_SECONDS)
            )
            if message is None or message.get("type") != "message":
                continue
            try:
                event = json.loads(message["data"])
            except (TypeError, ValueError):
                log.warning("ignoring a message on the events channel that is not JSON")
                continue
            if isinstance(event, dict):
                return event


@asynccontextmanager
async def subscribe_events(redis: Redis) -> AsyncIterator[EventSubscription]:
    """Subscribe to this deployment's events channel for the duration of the block."""
    pubsub = redis.pubsub()
    try:
        await redis.subscribe(pubsub, EVENTS_CHANNEL)
        yield EventSubscription(pubsub)
    finally:
        await pubsub.aclose()
