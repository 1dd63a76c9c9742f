"""EventStream: dispatch, update, get and delete events; every change is published on Redis.

Events live in public.events (AYON's shape, DESIGN §7). Each change is published on the
`events` channel (prefixed) so websocket clients on every replica see it. A failed publish is
logged, never turned into a failed write: the row is the source of truth.

`insert_row` and `update_row` write without publishing, for callers that write inside their own
transaction (enroll): they publish with `publish()` once it has committed, so no client hears of
a change that was rolled back or cannot be read yet.
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

from ayon_server.exceptions import BadRequestException, ConflictException
from ayon_server.lib.postgres import Postgres
from ayon_server.lib.redis import Redis

log = logging.getLogger(__name__)

EventStatus = Literal["pending", "in_progress", "finished", "failed", "aborted", "restarted"]
EVENTS_CHANNEL = "events"

COLUMNS = (
    "id, hash, topic, sender, sender_type, project_name, user_name, depends_on, status, "
    "retries, description, summary, payload, created_at, updated_at"
)
# Postgres for one-off statements (retried on a dropped connection), or a transaction's connection.
Executor = Postgres | asyncpg.Connection


class EventConflict(ConflictException):
    """An event with this hash exists and reuse was not asked for."""


class UnknownDependency(BadRequestException):
    """dependsOn names an event that does not exist."""


class EventInUse(ConflictException):
    """Other events depend on this one (dependsOn), so it cannot be deleted."""


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
    ) -> str:
        """Create an event, publish it and return its 32-hex id.

        With store=False the event is only published (websocket clients see it, nothing is
        kept). With reuse=True an event with the same hash is overwritten instead of a conflict.
        """
        fields: dict[str, Any] = {
            "sender": sender,
            "sender_type": sender_type,
            "hash": hash,
            "project": project,
            "user": user,
            "depends_on": depends_on,
            "description": description,
            "summary": summary,
            "payload": payload,
            "status": status,
        }
        if not store:
            now = datetime.now().astimezone()
            event_id = uuid.uuid4().hex
            event = EventModel(
                id=event_id,
                hash=hash or event_id,
                topic=topic,
                sender=sender,
                sender_type=sender_type,
                project=project,
                user=user,
                depends_on=parse_event_id(depends_on).hex if depends_on else None,
                status=status,
                description=description,
                summary=summary or {},
                payload=payload or {},
                created_at=now,
                updated_at=now,
            )
            await self.publish(event, store=False)
            return event.id
        event = await self.insert_row(self.db, topic, reuse=reuse, **fields)
        await self.publish(event)
        return event.id

    async def insert_row(
        self,
        db: Executor,
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
        reuse: bool = False,
        skip_conflict: bool = False,
    ) -> EventModel:
        """Insert an event row without publishing it.

        A duplicate hash raises EventConflict; with reuse=True the existing row is overwritten,
        with skip_conflict=True EventConflict is raised without aborting the caller's
        transaction (ON CONFLICT DO NOTHING, for callers that go on in the same transaction).
        """
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
        if reuse:
            on_conflict = """
            ON CONFLICT (hash) DO UPDATE SET
                topic = EXCLUDED.topic, sender = EXCLUDED.sender,
                sender_type = EXCLUDED.sender_type, project_name = EXCLUDED.project_name,
                user_name = EXCLUDED.user_name, depends_on = EXCLUDED.depends_on,
                status = EXCLUDED.status, description = EXCLUDED.description,
                summary = EXCLUDED.summary, payload = EXCLUDED.payload, retries = 0,
                updated_at = now()
            """
        elif skip_conflict:
            on_conflict = "ON CONFLICT (hash) DO NOTHING"
        else:
            on_conflict = ""
        query = f"""
            INSERT INTO public.events (id, hash, topic, sender, sender_type, project_name,
                user_name, depends_on, status, description, summary, payload)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            {on_conflict}
            RETURNING {COLUMNS}
        """
        try:
            row = await db.fetchrow(query, *values)
        except asyncpg.UniqueViolationError:
            row = None
        except asyncpg.ForeignKeyViolationError:
            raise UnknownDependency(f"dependsOn: event {values[7].hex} does not exist") from None
        if row is None:
            raise EventConflict(f"Event with hash {values[1]!r} already exists")
        return EventModel.from_row(row)

    async def update(
        self,
        event_id: str | uuid.UUID,
        *,
        status: EventStatus | None = None,
        description: str | None = None,
        summary: dict[str, Any] | None = None,
        payload: dict[str, Any] | None = None,
        sender: str | None = None,
        sender_type: str | None = None,
        project: str | None = None,
        user: str | None = None,
        retries: int | None = None,
        progress: float | None = None,
        only_if_status: tuple[str, ...] | None = None,
    ) -> EventModel | None:
        """Change the given fields and publish the change (with `progress`, which is not stored).

        None when no such event (or its status did not match `only_if_status`).
        """
        event = await self.update_row(
            self.db,
            event_id,
            status=status,
            description=description,
            summary=summary,
            payload=payload,
            sender=sender,
            sender_type=sender_type,
            project=project,
            user=user,
            retries=retries,
            only_if_status=only_if_status,
        )
        if event is not None:
            await self.publish(event, progress=progress)
        return event

    async def update_row(
        self,
        db: Executor,
        event_id: str | uuid.UUID,
        *,
        status: EventStatus | None = None,
        description: str | None = None,
        summary: dict[str, Any] | None = None,
        payload: dict[str, Any] | None = None,
        sender: str | None = None,
        sender_type: str | None = None,
        project: str | None = None,
        user: str | None = None,
        retries: int | None = None,
        only_if_status: tuple[str, ...] | None = None,
    ) -> EventModel | None:
        """Update the non-None fields without publishing; None when no row matched."""
        changes: dict[str, Any] = {
            "status": status,
            "description": description,
            "summary": summary,
            "payload": payload,
            "sender": sender,
            "sender_type": sender_type,
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
            f"WHERE {condition} RETURNING {COLUMNS}"
        )
        row = await db.fetchrow(query, *args)
        return EventModel.from_row(row) if row else None

    async def get(
        self, event_id: str | uuid.UUID, *, db: Executor | None = None
    ) -> EventModel | None:
        """The event, read through `db` when given (a transaction's connection)."""
        row = await (db or self.db).fetchrow(
            f"SELECT {COLUMNS} FROM public.events WHERE id = $1", parse_event_id(event_id)
        )
        return EventModel.from_row(row) if row else None

    async def delete(self, event_id: str | uuid.UUID) -> bool:
        """Delete one event; False when there was none. EventInUse when others depend on it."""
        try:
            status = await self.db.execute(
                "DELETE FROM public.events WHERE id = $1", parse_event_id(event_id)
            )
        except asyncpg.ForeignKeyViolationError:
            raise EventInUse("Other events depend on this event; delete them first") from None
        return status != "DELETE 0"

    async def publish(
        self, event: EventModel, *, progress: float | None = None, store: bool = True
    ) -> None:
        """Tell every replica about this event (EventModel JSON, plus `store` and `progress`)."""
        message = event.model_dump(mode="json", by_alias=True)
        message["store"] = store
        if progress is not None:
            message["progress"] = progress
        try:
            await self.redis.publish(EVENTS_CHANNEL, json.dumps(message))
        except (RedisError, OSError) as exc:
            log.warning("could not publish event %s on Redis: %s", event.id, exc)

    async def latest(self, topic: str) -> EventModel | None:
        """The newest event of a topic (e.g. the last server.maintenance run)."""
        row = await self.db.fetchrow(
            f"SELECT {COLUMNS} FROM public.events WHERE topic = $1 "
            "ORDER BY created_at DESC LIMIT 1",
            topic,
        )
        return EventModel.from_row(row) if row else None
