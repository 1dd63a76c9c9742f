"""Thumbnail rows of a project schema: store, replace, read, and assign one to an entity.

The bytes live inline in `data` (BYTEA, stored out of line by PostgreSQL), so storing a
thumbnail and pointing an entity at it is one transaction. Writes hold the project lock of
`load_project_ref(..., lock=True)`, so a project being deleted never receives a thumbnail.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from ayon_server.entities.operations import Operation, apply_operation
from ayon_server.entities.registry import EntityType
from ayon_server.entities.store import entity_not_found
from ayon_server.events.stream import EventStream
from ayon_server.exceptions import BadRequestException
from ayon_server.lib.postgres import Postgres
from ayon_server.projects.changes import Actor, publish_events, record_event
from ayon_server.projects.store import (
    Executor,
    ProjectRef,
    load_project_ref,
    write_transaction,
)

# The operation id of a thumbnail assignment; never shown to the client.
THUMBNAIL_OPERATION = "thumbnail"


@dataclass(frozen=True)
class Thumbnail:
    id: uuid.UUID
    mime: str
    data: bytes


async def _upsert(
    conn: Executor, project: ProjectRef, thumbnail_id: uuid.UUID, mime: str, data: bytes
) -> None:
    await conn.execute(
        f"""
        INSERT INTO {project.table("thumbnails")} (id, mime, size, data)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (id) DO UPDATE SET mime = EXCLUDED.mime, size = EXCLUDED.size,
            data = EXCLUDED.data, storage_path = NULL, updated_at = now()
        """,
        thumbnail_id,
        mime,
        len(data),
        data,
    )


async def store_thumbnail(
    db: Postgres, project_name: str, mime: str, data: bytes, thumbnail_id: uuid.UUID | None = None
) -> uuid.UUID:
    """Store a new thumbnail, or replace the one with `thumbnail_id`; return its id."""
    thumbnail_id = thumbnail_id or uuid.uuid4()
    async with write_transaction(db) as conn:
        project = await load_project_ref(conn, project_name, lock=True)
        await _upsert(conn, project, thumbnail_id, mime, data)
    return thumbnail_id


async def set_entity_thumbnail(
    events: EventStream,
    db: Postgres,
    project_name: str,
    entity_type: EntityType,
    entity_id: uuid.UUID,
    mime: str,
    data: bytes,
    actor: Actor,
) -> uuid.UUID:
    """Store a new thumbnail and make it the entity's, as one entity update (same checks and
    `entity.<type>.updated` event as a PATCH of thumbnailId). The previous thumbnail stays
    until clean_thumbnails finds it unreferenced."""
    check_has_thumbnail(entity_type)
    thumbnail_id = uuid.uuid4()
    operation = Operation(
        THUMBNAIL_OPERATION,
        "update",
        entity_type,
        entity_id,
        {"thumbnailId": thumbnail_id.hex},
        actor,
    )
    async with write_transaction(db) as conn:
        project = await load_project_ref(conn, project_name, lock=True)
        await _upsert(conn, project, thumbnail_id, mime, data)
        change = await apply_operation(conn, project, operation)
        assert change is not None  # a new thumbnail id always changes the entity
        event = await record_event(
            events,
            conn,
            actor,
            change.topic,
            project=project.name,
            description=change.description,
            summary=change.summary,
            payload=change.payload,
        )
    await publish_events(events, [event])
    return thumbnail_id


def check_has_thumbnail(entity_type: EntityType) -> None:
    if not entity_type.has_thumbnail:
        raise BadRequestException(f"{entity_type.title}s have no thumbnails")


async def get_thumbnail(
    db: Postgres, project_name: str, thumbnail_id: uuid.UUID
) -> Thumbnail | None:
    """The thumbnail, or None when the project has none with this id (404 for no project)."""
    async with db.transaction() as conn:
        project = await load_project_ref(conn, project_name)
        return await _load(conn, project, thumbnail_id)


async def get_entity_thumbnail(
    db: Postgres, project_name: str, entity_type: EntityType, entity_id: uuid.UUID
) -> Thumbnail | None:
    """The entity's thumbnail, or None when it has none (404 when the entity does not exist)."""
    check_has_thumbnail(entity_type)
    async with db.transaction() as conn:
        project = await load_project_ref(conn, project_name)
        row = await conn.fetchrow(
            f"SELECT thumbnail_id FROM {project.table(entity_type.table)} WHERE id = $1",
            entity_id,
        )
        if row is None:
            raise entity_not_found(entity_type, entity_id)
        if row["thumbnail_id"] is None:
            return None
        return await _load(conn, project, row["thumbnail_id"])


async def _load(conn: Executor, project: ProjectRef, thumbnail_id: uuid.UUID) -> Thumbnail | None:
    row = await conn.fetchrow(
        f"SELECT mime, data FROM {project.table('thumbnails')} WHERE id = $1 AND data IS NOT NULL",
        thumbnail_id,
    )
    if row is None:
        return None
    return Thumbnail(thumbnail_id, row["mime"], row["data"])
