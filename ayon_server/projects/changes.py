"""Who changes project data, and the event each change leaves behind.

Changes to projects and entities write their event row in the same transaction as the change
(EventStream.insert_row), so an event exists exactly when its change was committed; callers
publish the returned events once the transaction has committed (EventStream.publish), so no
websocket client hears of a change that was rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from ayon_server.events.stream import EventModel, EventStream

DEFAULT_SENDER_TYPE = "api"


@dataclass(frozen=True)
class Actor:
    """The user a change is made as, their roles, and the client that asked (x-sender)."""

    user: str
    is_manager: bool = False
    is_admin: bool = False
    is_service: bool = False
    sender: str | None = None
    sender_type: str | None = None


async def record_event(
    events: EventStream,
    conn: asyncpg.Connection,
    actor: Actor,
    topic: str,
    *,
    project: str,
    description: str,
    summary: dict[str, Any],
    payload: dict[str, Any] | None = None,
) -> EventModel:
    """Write the event of a change inside the change's transaction; publish it after commit."""
    return await events.insert_row(
        conn,
        topic,
        sender=actor.sender,
        sender_type=actor.sender_type or DEFAULT_SENDER_TYPE,
        project=project,
        user=actor.user,
        description=description,
        summary=summary,
        payload=payload,
    )


async def publish_events(events: EventStream, committed: list[EventModel]) -> None:
    for event in committed:
        await events.publish(event)
