"""EventStream: dispatch, update and get events; every change is published on Redis.

Events live in public.events (AYON's shape, DESIGN §7). Each change is published on the
`events` channel (prefixed) so websocket clients on every replica see it. A failed publish is
logged, never turned into a failed write: the row is the source of truth.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime
from typing import Any, Literal

import asyncpg
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from redis.exceptions import RedisError

from ayon_server.lib.postgres import Postgres
from ayon_server.lib.redis import Redis

log = logging.getLogger(__name__)

EventStatus = Literal["pending", "in_progress", "finished", "failed", "aborted", "restarted"]
EVENT_STATUSES: tuple[str, ...] = EventStatus.__args__  # type: ignore[attr-defined]
EVENTS_CHANNEL = "events"

_COLUMNS = (
    "id, hash, topic, sender, sender_type, project_name, user_name, depends_on, status, "
    "retries, description, summary, payload, created_at, updated_at"
)


class EventConflict(Exception):
    """An event with this hash exists and reuse was not asked for."""


class EventModel(BaseModel):
    """An event as AYON's REST API shows it (camelCase, 32-hex ids)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    id: str
    hash: str
    topic: str
    sender: str | None = None
    sender_type: str | None = None
    project: str | None = None
    user: str | None = None
    depends_on: str | None = None
    status: EventStatus
    retries: int = 0
    description: str = ""
    summary: dict[str, Any] = {}
    payload: dict[str, Any] = {}
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> EventModel:
        return cls(
            id=row["id"].hex,
            hash=row["hash"],
            topic=row["topic"],
            sender=row["sender"],
            sender_type=row["sender_type"],
            project=row["project_name"],
            user=row["user_name"],
            depends_on=row["depends_on"].hex if row["depends_on"] else None,
            status=row["status"],
            retries=row["retries"],
            description=row["description"],
            summary=row["summary"],
            payload=row["payload"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


def parse_event_id(value: str | uuid.UUID) -> uuid.UUID:
    """Accept AYON's 32-hex form or a dashed UUID; raise ValueError otherwise."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(hex=value)


class EventStream:
    def __init__(self, db: Postgres, redis: Redis):
        self.db = db
        self.redis = redis

    async def dispatch(
        self,
        topic: str,
        *,
        sender: str | None = None,
        sender_type: str | None = None,
        hash: str | None = None,
        project: str | None = None,
        user: str | None = None,
        depends_on: str | uuid.UUID | None = None,
        description: str = "",
        summary: dict[str, Any] | None = None,
        payload: dict[str, Any] | None = None,
        status: EventStatus = "finished",
        store: bool = True,
        reuse: bool = False,
        conn: asyncpg.Connection | None = None,
    ) -> str:
        """Create an event and return its 32-hex id."""
        event_id = uuid.uuid4()
        values = (
            event_id,
            hash or event_id.hex,
            topic,
            sender,
            sender_type,
            project,
            user,
            parse_event_id(depends_on) if depends_on else None,
            status,
            description,
            summary or {},
            payload or {},
        )
        if not store:
            now = datetime.now().astimezone()
            await self._publish(
                EventModel(
                    id=event_id.hex,
                    hash=values[1],
                    topic=topic,
                    sender=sender,
                    sender_type=sender_type,
                    project=project,
                    user=user,
                    depends_on=values[7].hex if values[7] else None,
                    status=status,
                    description=description,
                    summary=values[10],
                    payload=values[11],
                    created_at=now,
                    updated_at=now,
                )
            )
            return event_id.hex

        on_conflict = (
            """
            ON CONFLICT (hash) DO UPDATE SET
                topic = EXCLUDED.topic, sender = EXCLUDED.sender,
                sender_type = EXCLUDED.sender_type, project_name = EXCLUDED.project_name,
                user_name = EXCLUDED.user_name, depends_on = EXCLUDED.depends_on,
                status = EXCLUDED.status, description = EXCLUDED.description,
                summary = EXCLUDED.summary, payload = EXCLUDED.payload, retries = 0,
                updated_at = now()
            """
            if reuse
            else ""
        )
        query = f"""
            INSERT INTO public.events (id, hash, topic, sender, sender_type, project_name,
                user_name, depends_on, status, description, summary, payload)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            {on_conflict}
            RETURNING {_COLUMNS}
        """
        try:
            if conn is not None:
                row = await conn.fetchrow(query, *values)
            else:
                row = await self.db.fetchrow(query, *values)
        except asyncpg.UniqueViolationError:
            raise EventConflict(f"event with hash {values[1]!r} already exists") from None
        event = EventModel.from_row(row)
        await self._publish(event)
        return event.id

    async def update(
        self,
        event_id: str | uuid.UUID,
        *,
        status: EventStatus | None = None,
        description: str | None = None,
        summary: dict[str, Any] | None = None,
        payload: dict[str, Any] | None = None,
        sender: str | None = None,
        project: str | None = None,
        user: str | None = None,
        retries: int | None = None,
        progress: float | None = None,
        only_if_status: tuple[str, ...] | None = None,
        conn: asyncpg.Connection | None = None,
    ) -> EventModel | None:
        """Change the given fields; None when no such event (or its status did not match)."""
        changes: dict[str, Any] = {
            "status": status,
            "description": description,
            "summary": summary,
            "payload": payload,
            "sender": sender,
            "project_name": project,
            "user_name": user,
            "retries": retries,
        }
        changes = {k: v for k, v in changes.items() if v is not None}
        assignments = [f"{column} = ${i}" for i, column in enumerate(changes, start=2)]
        assignments.append("updated_at = now()")
        args: list[Any] = [parse_event_id(event_id), *changes.values()]
        condition = "id = $1"
        if only_if_status:
            args.append(list(only_if_status))
            condition += f" AND status = ANY(${len(args)}::text[])"
        query = (
            f"UPDATE public.events SET {', '.join(assignments)} "
            f"WHERE {condition} RETURNING {_COLUMNS}"
        )
        if conn is not None:
            row = await conn.fetchrow(query, *args)
        else:
            row = await self.db.fetchrow(query, *args)
        if row is None:
            return None
        event = EventModel.from_row(row)
        await self._publish(event, progress=progress)
        return event

    async def get(self, event_id: str | uuid.UUID) -> EventModel | None:
        row = await self.db.fetchrow(
            f"SELECT {_COLUMNS} FROM public.events WHERE id = $1", parse_event_id(event_id)
        )
        return EventModel.from_row(row) if row else None

    async def _publish(self, event: EventModel, progress: float | None = None) -> None:
        message = event.model_dump(mode="json", by_alias=True)
        if progress is not None:
            message["progress"] = progress
        try:
            await self.redis.publish(EVENTS_CHANNEL, json.dumps(message))
        except (RedisError, OSError) as exc:
            log.warning("could not publish event %s on Redis: %s", event.id, exc)

    async def latest(self, topic: str) -> EventModel | None:
        """The newest event of a topic (e.g. the last server.maintenance run)."""
        row = await self.db.fetchrow(
            f"SELECT {_COLUMNS} FROM public.events WHERE topic = $1 "
            "ORDER BY created_at DESC LIMIT 1",
            topic,
        )
        return EventModel.from_row(row) if row else None
