"""EventStream: dispatch, update, get and delete events; every change is published on Redis.

Events live in public.events (AYON's shape). Each change is published on the
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
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, TypedDict, Unpack

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
# What a retried dispatch repeats: an event with the same hash and these is the same event.
_SAME_EVENT = (
    "topic",
    "sender",
    "sender_type",
    "project_name",
    "user_name",
    "depends_on",
    "status",
    "description",
    "summary",
    "payload",
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
    def from_row(cls, row: asyncpg.Record | Mapping[str, Any]) -> EventModel:
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


class NewEventFields(TypedDict, total=False):
    """What a caller may say about a new event (dispatch, insert_row); see new_event_row for
    what a field left out becomes."""

    sender: str | None
    sender_type: str | None
    hash: str | None
    project: str | None
    user: str | None
    depends_on: str | uuid.UUID | None
    description: str
    summary: dict[str, Any] | None
    payload: dict[str, Any] | None
    status: EventStatus


def _reject_unknown_fields(fields: Mapping[str, Any], known: frozenset[str]) -> None:
    """A TypeError for a field no event has, as a misspelt keyword argument would be."""
    unknown = fields.keys() - known
    if unknown:
        raise TypeError(f"unknown event fields: {', '.join(sorted(unknown))}")


def new_event_row(topic: str, fields: NewEventFields) -> dict[str, Any]:
    """The columns of a new event's row, by column name: a fresh id, the hash defaulting to it,
    no sender, project, user or dependency, an empty description, summary and payload, and
    status `finished`, unless the caller said otherwise."""
    _reject_unknown_fields(fields, NewEventFields.__optional_keys__)
    event_id = uuid.uuid4()
    depends_on = fields.get("depends_on")
    return {
        "id": event_id,
        "hash": fields.get("hash") or event_id.hex,
        "topic": topic,
        "sender": fields.get("sender"),
        "sender_type": fields.get("sender_type"),
        "project_name": fields.get("project"),
        "user_name": fields.get("user"),
        "depends_on": parse_event_id(depends_on) if depends_on else None,
        "status": fields.get("status", "finished"),
        "description": fields.get("description", ""),
        "summary": fields.get("summary") or {},
        "payload": fields.get("payload") or {},
    }


class EventChanges(TypedDict, total=False):
    """What `update` and `update_row` may change; a field left out or None stays as it is."""

    status: EventStatus | None
    description: str | None
    summary: dict[str, Any] | None
    payload: dict[str, Any] | None
    sender: str | None
    sender_type: str | None
    project: str | None
    user: str | None
    retries: int | None


# The column of each field whose name differs from it (AYON's names on the API side).
_CHANGE_COLUMNS = {"project": "project_name", "user": "user_name"}


def changed_columns(changes: EventChanges) -> dict[str, Any]:
    """The non-None changes by column name; an unknown field is a TypeError."""
    _reject_unknown_fields(changes, EventChanges.__optional_keys__)
    return {
        _CHANGE_COLUMNS.get(field, field): value
        for field, value in changes.items()
        if value is not None
    }


class EventStream:
    def __init__(self, db: Postgres, redis: Redis):
        self.db = db
        self.redis = redis

    async def dispatch(
        self,
        topic: str,
        *,
        store: bool = True,
        reuse: bool = False,
        **fields: Unpack[NewEventFields],
    ) -> str:
        """Create an event, publish it and return its 32-hex id.

        With store=False the event is only published (websocket clients see it, nothing is
        kept). With reuse=True an event with the same hash is overwritten instead of a conflict.
        """
        if not store:
            now = datetime.now().astimezone()
            row = new_event_row(topic, fields)
            event = EventModel.from_row({**row, "retries": 0, "created_at": now, "updated_at": now})
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
        reuse: bool = False,
        skip_conflict: bool = False,
        **fields: Unpack[NewEventFields],
    ) -> EventModel:
        """Insert an event row without publishing it.

        A duplicate hash raises EventConflict; with reuse=True the existing row is overwritten,
        with skip_conflict=True EventConflict is raised without aborting the caller's
        transaction (ON CONFLICT DO NOTHING, for callers that go on in the same transaction).
        """
        row = new_event_row(topic, fields)
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
        placeholders = ", ".join(f"${n}" for n in range(1, len(row) + 1))
        query = f"""
            INSERT INTO public.events ({", ".join(row)}) VALUES ({placeholders})
            {on_conflict}
            RETURNING {COLUMNS}
        """
        try:
            inserted = await db.fetchrow(query, *row.values())
        except asyncpg.UniqueViolationError:
            inserted = None
        except asyncpg.ForeignKeyViolationError:
            raise UnknownDependency(
                f"dependsOn: event {row['depends_on'].hex} does not exist"
            ) from None
        if inserted is None and not skip_conflict:
            inserted = await self._same_event(db, row)
        if inserted is None:
            raise EventConflict(f"Event with hash {row['hash']!r} already exists")
        return EventModel.from_row(inserted)

    async def _same_event(self, db: Executor, row: dict[str, Any]) -> asyncpg.Record | None:
        """The stored event with this row's hash if it says the same as the row, else None.

        This makes a retried dispatch safe: a client that sent an event with a hash and did not
        hear back (a timeout, a connection lost after the commit) sends it again and gets the
        stored event, not a duplicate and not a conflict.
        """
        existing = await db.fetchrow(
            f"SELECT {COLUMNS} FROM public.events WHERE hash = $1", row["hash"]
        )
        if existing is None or any(existing[column] != row[column] for column in _SAME_EVENT):
            return None
        return existing

    async def update(
        self,
        event_id: str | uuid.UUID,
        *,
        progress: float | None = None,
        only_if_status: tuple[str, ...] | None = None,
        **changes: Unpack[EventChanges],
    ) -> EventModel | None:
        """Change the given fields and publish the change (with `progress`, which is not stored).

        None when no such event (or its status did not match `only_if_status`).
        """
        event = await self.update_row(self.db, event_id, only_if_status=only_if_status, **changes)
        if event is not None:
            await self.publish(event, progress=progress)
        return event

    async def update_row(
        self,
        db: Executor,
        event_id: str | uuid.UUID,
        *,
        only_if_status: tuple[str, ...] | None = None,
        **changes: Unpack[EventChanges],
    ) -> EventModel | None:
        """Update the non-None fields without publishing; None when no row matched."""
        columns = changed_columns(changes)
        assignments = [f"{column} = ${i}" for i, column in enumerate(columns, start=2)]
        assignments.append("updated_at = now()")
        args: list[Any] = [parse_event_id(event_id), *columns.values()]
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
        """The newest event of a topic (e.g. the last maintenance run)."""
        row = await self.db.fetchrow(
            f"SELECT {COLUMNS} FROM public.events WHERE topic = $1 "
            "ORDER BY created_at DESC LIMIT 1",
            topic,
        )
        return EventModel.from_row(row) if row else None
