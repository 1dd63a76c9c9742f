"""Reading events back: the rows a project's changes wrote, and what Redis published."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from redis.asyncio.client import PubSub

from ayon_server.runtime import Runtime


async def project_events(runtime: Runtime, topic: str, project: str) -> list[dict[str, Any]]:
    rows = await runtime.db.fetch(
        "SELECT topic, user_name, summary, payload FROM public.events "
        "WHERE topic = $1 AND project_name = $2 ORDER BY created_at",
        topic,
        project,
    )
    return [dict(row) for row in rows]


async def subscribe_events(runtime: Runtime) -> PubSub:
    pubsub = runtime.redis.pubsub()
    await runtime.redis.subscribe(pubsub, "events")
    return pubsub


async def published_topics(pubsub: PubSub, until: str) -> list[dict[str, Any]]:
    """Messages on the events channel up to and including the first with topic `until`."""
    messages: list[dict[str, Any]] = []
    async with asyncio.timeout(10):
        while True:
            message = await pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            messages.append(json.loads(message["data"]))
            if messages[-1]["topic"] == until:
                await pubsub.aclose()
                return messages
