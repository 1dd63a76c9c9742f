"""Activities and their references.

An activity has one `origin` reference (the entity it was made on), one `author` reference (the
user who made it) and a `mention` reference per markdown link in its body that names a user or
an entity, the way AYON writes them: `[label](user:name)`, `[label](folder:<32 hex>)` (images,
`![..](..)`, are not mentions). Files are attached through files.activity_id. Nothing cascades
from entities to activities: clean_activities removes those whose origin is gone.

Each change writes an `activity.<type>.created|updated|deleted` event in its transaction.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from ayon_server.activities.models import ActivityPatchModel, ActivityPostModel
from ayon_server.entities.registry import ENTITY_TYPES, EntityType, parse_entity_id
from ayon_server.entities.store import entity_not_found
from ayon_server.events.stream import EventModel, EventStream
from ayon_server.exceptions import (
    BadRequestException,
    ConflictException,
    ForbiddenException,
    NotFoundException,
)
from ayon_server.files.store import attach_files, detach_files
from ayon_server.lib.postgres import Postgres
from ayon_server.projects.changes import Actor, publish_events, record_event
from ayon_server.projects.store import ProjectRef, load_project_ref, write_transaction

# Markdown links but not images, as AYON finds them.
LINK_PATTERN = re.compile(r"(?<!!)\[(.*?)\]\((.*?)\)")
# Types any user may create; others (status changes, version publishes...) are services' job.
USER_ACTIVITY_TYPES = frozenset({"comment"})

Reference = tuple[str, str, uuid.UUID | None, str | None]  # (reference, type, id, name)


def entity_type_of(name: str) -> EntityType:
    """The entity type a URL names, with or without AYON's plural `s`; 400 otherwise."""
    entity_type = ENTITY_TYPES.get(name.removesuffix("s"))
    if entity_type is None:
        raise BadRequestException(f"Unknown entity type {name[:40]!r}")
    return entity_type


def activity_not_found(activity_id: uuid.UUID) -> NotFoundException:
    return NotFoundException(f"Activity {activity_id.hex} not found")


def parse_mentions(body: str) -> set[Reference]:
    """The users and entities the body links to; links of other kinds are plain links."""
    mentions: set[Reference] = set()
    for _label, target in LINK_PATTERN.findall(body):
        kind, _, value = target.partition(":")
        if kind == "user" and value:
            mentions.add(("mention", "user", None, value))
        elif kind in ENTITY_TYPES:
            try:
                mentions.add(("mention", kind, parse_entity_id(value), None))
            except BadRequestException:
                continue  # not an entity id: an ordinary link
    return mentions


async def _insert_references(
    conn: asyncpg.Connection, project: ProjectRef, activity_id: uuid.UUID, refs: set[Reference]
) -> None:
    await conn.executemany(
        f"""
        INSERT INTO {project.table("activity_references")}
            (id, activity_id, reference_type, entity_type, entity_id, entity_name)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT DO NOTHING
        """,
        [(uuid.uuid4(), activity_id, *ref) for ref in sorted(refs, key=str)],
    )


async def _event(
    events: EventStream,
    conn: asyncpg.Connection,
    project: ProjectRef,
    actor: Actor,
    action: str,
    activity_id: uuid.UUID,
    activity_type: str,
) -> EventModel:
    return await record_event(
        events,
        conn,
        actor,
        f"activity.{activity_type}.{action}",
        project=project.name,
        description=f"Activity {activity_id.hex} {action}",
        summary={"activityId": activity_id.hex, "activityType": activity_type},
    )


async def create_activity(
    events: EventStream,
    db: Postgres,
    project_name: str,
    entity_type: EntityType,
    entity_id: uuid.UUID,
    body: ActivityPostModel,
    actor: Actor,
) -> uuid.UUID:
    """Create the activity on the entity, with its origin, author, mentions and files."""
    if body.activity_type not in USER_ACTIVITY_TYPES and not actor.is_service:
        raise BadRequestException(f"Only services can create {body.activity_type} activities")
    activity_id = parse_entity_id(body.id) if body.id else uuid.uuid4()
    async with write_transaction(db) as conn:
        project = await load_project_ref(conn, project_name, lock=True)
        if not await conn.fetchval(
            f"SELECT 1 FROM {project.table(entity_type.table)} WHERE id = $1", entity_id
        ):
            raise entity_not_found(entity_type, entity_id)
        try:
            await conn.execute(
                f"INSERT INTO {project.table('activities')} "
                "(id, activity_type, body, tags, data, created_at, updated_at) "
                "VALUES ($1, $2, $3, $4, $5, coalesce($6, now()), coalesce($6, now()))",
                activity_id,
                body.activity_type,
                body.body,
                body.tags,
                body.data,
                body.timestamp,
            )
        except asyncpg.UniqueViolationError:
            raise ConflictException(f"Activity {activity_id.hex} already exists") from None
        refs = parse_mentions(body.body)
        refs.add(("origin", entity_type.name, entity_id, None))
        refs.add(("author", "user", None, actor.user))
        await _insert_references(conn, project, activity_id, refs)
        await attach_files(conn, project, activity_id, [parse_entity_id(f) for f in body.files])
        event = await _event(
            events, conn, project, actor, "created", activity_id, body.activity_type
        )
    await publish_events(events, [event])
    return activity_id


async def _lock_own_activity(
    conn: asyncpg.Connection, project: ProjectRef, activity_id: uuid.UUID, actor: Actor
) -> asyncpg.Record:
    """The activity row, locked; 404 when unknown, 403 unless the actor wrote it or manages."""
    row = await conn.fetchrow(
        f"SELECT id, activity_type, body FROM {project.table('activities')} "
        "WHERE id = $1 FOR UPDATE",
        activity_id,
    )
    if row is None:
        raise activity_not_found(activity_id)
    author = await conn.fetchval(
        f"SELECT entity_name FROM {project.table('activity_references')} "
        "WHERE activity_id = $1 AND reference_type = 'author'",
        activity_id,
    )
    if author != actor.user and not actor.is_manager:
        raise ForbiddenException("Only the activity's author or a manager can change it")
    return row


async def update_activity(
    events: EventStream,
    db: Postgres,
    project_name: str,
    activity_id: uuid.UUID,
    patch: ActivityPatchModel,
    actor: Actor,
) -> None:
    """Change body, tags, data or files; a new body replaces the mentions."""
    async with write_transaction(db) as conn:
        project = await load_project_ref(conn, project_name, lock=True)
        row = await _lock_own_activity(conn, project, activity_id, actor)
        await conn.execute(
            f"UPDATE {project.table('activities')} SET body = coalesce($2, body), "
            "tags = coalesce($3, tags), data = data || coalesce($4, '{}'::jsonb), "
            "updated_at = now() WHERE id = $1",
            activity_id,
            patch.body,
            patch.tags,
            patch.data,
        )
        if patch.body is not None:
            await conn.execute(
                f"DELETE FROM {project.table('activity_references')} "
                "WHERE activity_id = $1 AND reference_type = 'mention'",
                activity_id,
            )
            await _insert_references(conn, project, activity_id, parse_mentions(patch.body))
        if patch.files is not None:
            file_ids = [parse_entity_id(f) for f in patch.files]
            if not patch.append_files:
                await detach_files(conn, project, activity_id, keep=file_ids)
            await attach_files(conn, project, activity_id, file_ids)
        event = await _event(
            events, conn, project, actor, "updated", activity_id, row["activity_type"]
        )
    await publish_events(events, [event])


async def delete_activity(
    events: EventStream, db: Postgres, project_name: str, activity_id: uuid.UUID, actor: Actor
) -> None:
    """Delete the activity and its references; its files stay, attached to nothing, until
    clean_files removes them after the grace period."""
    async with write_transaction(db) as conn:
        project = await load_project_ref(conn, project_name, lock=True)
        row = await _lock_own_activity(conn, project, activity_id, actor)
        await detach_files(conn, project, activity_id)
        await conn.execute(f"DELETE FROM {project.table('activities')} WHERE id = $1", activity_id)
        event = await _event(
            events, conn, project, actor, "deleted", activity_id, row["activity_type"]
        )
    await publish_events(events, [event])


@dataclass(frozen=True)
class ActivityReference:
    reference_type: str
    entity_type: str
    entity_id: uuid.UUID | None
    entity_name: str | None


@dataclass(frozen=True)
class ActivityFile:
    id: uuid.UUID
    name: str
    size: int
    mime: str | None


@dataclass
class Activity:
    """An activity with what it refers to (its author among them) and its attached files."""

    id: uuid.UUID
    activity_type: str
    body: str
    tags: list[str]
    data: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    author: str | None = None
    references: list[ActivityReference] = field(default_factory=list)
    files: list[ActivityFile] = field(default_factory=list)


async def list_activities(
    db: Postgres, project_name: str, entity_type: EntityType, entity_id: uuid.UUID
) -> list[Activity]:
    """The activities whose origin is the entity, oldest first, with references and files."""
    async with db.transaction() as conn:
        project = await load_project_ref(conn, project_name, lock=True)
        if not await conn.fetchval(
            f"SELECT 1 FROM {project.table(entity_type.table)} WHERE id = $1", entity_id
        ):
            raise entity_not_found(entity_type, entity_id)
        rows = await conn.fetch(
            f"""
            SELECT a.id, a.activity_type, a.body, a.tags, a.data, a.created_at, a.updated_at
            FROM {project.table("activities")} a
            JOIN {project.table("activity_references")} o
                ON o.activity_id = a.id AND o.reference_type = 'origin'
            WHERE o.entity_type = $1 AND o.entity_id = $2
            ORDER BY a.created_at, a.id
            """,
            entity_type.name,
            entity_id,
        )
        ids = [row["id"] for row in rows]
        refs = await conn.fetch(
            "SELECT activity_id, reference_type, entity_type, entity_id, entity_name "
            f"FROM {project.table('activity_references')} WHERE activity_id = ANY($1::uuid[]) "
            "ORDER BY reference_type, entity_type, entity_name, entity_id",
            ids,
        )
        files = await conn.fetch(
            f"SELECT id, activity_id, name, size, mime FROM {project.table('files')} "
            "WHERE activity_id = ANY($1::uuid[]) ORDER BY created_at, id",
            ids,
        )
    activities = {
        row["id"]: Activity(
            id=row["id"],
            activity_type=row["activity_type"],
            body=row["body"],
            tags=row["tags"],
            data=row["data"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )
        for row in rows
    }
    for ref in refs:
        activity = activities[ref["activity_id"]]
        activity.references.append(
            ActivityReference(
                ref["reference_type"], ref["entity_type"], ref["entity_id"], ref["entity_name"]
            )
        )
        if ref["reference_type"] == "author":
            activity.author = ref["entity_name"]
    for file in files:
        activities[file["activity_id"]].files.append(
            ActivityFile(file["id"], file["name"], file["size"], file["mime"])
        )
    return list(activities.values())
