"""Link types and links of a project: the SQL behind the links API.

A link type is named "<type>|<input type>|<output type>"; a link of that type joins an entity of
the input type to one of the output type. Writes hold the project lock (`load_project_ref(...,
lock=True)`) and a FOR KEY SHARE lock on the link type, so neither the project nor the type can
be deleted under a link being created. Entities carry no such lock: a link to an entity deleted
meanwhile is what clean_dead_links removes.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

from ayon_server.entities.registry import ENTITY_TYPES, EntityType, parse_entity_id
from ayon_server.entities.store import entity_not_found
from ayon_server.events.stream import EventStream
from ayon_server.exceptions import BadRequestException, ConflictException, NotFoundException
from ayon_server.lib.postgres import Postgres
from ayon_server.links.models import LinkPostModel
from ayon_server.projects.changes import Actor, publish_events, record_event
from ayon_server.projects.store import LinkType, ProjectRef, load_project_ref, write_transaction

# The first part of a link type name, as the project anatomy accepts it.
_LINK_TYPE_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9_.\-]{0,99}$")
_ENTITY_TYPE_NAMES = tuple(ENTITY_TYPES)


def parse_link_type_name(name: str) -> tuple[str, str, str]:
    """(type, input type, output type) of "type|input|output"; 400 when malformed."""
    parts = name.split("|")
    if len(parts) != 3 or not _LINK_TYPE_RE.match(parts[0]):
        raise BadRequestException(
            f"Invalid link type name {name[:120]!r}: expected <type>|<input type>|<output type>"
        )
    for entity_type in parts[1:]:
        if entity_type not in ENTITY_TYPES:
            raise BadRequestException(
                f"Invalid link type name {name[:120]!r}: {entity_type[:40]!r} is not one of "
                + ", ".join(_ENTITY_TYPE_NAMES)
            )
    return parts[0], parts[1], parts[2]


async def list_link_types(db: Postgres, project_name: str) -> list[LinkType]:
    async with db.transaction() as conn:
        project = await load_project_ref(conn, project_name)
        rows = await conn.fetch(
            "SELECT name, link_type, input_type, output_type, data "
            f"FROM {project.table('link_types')} ORDER BY name"
        )
    return [LinkType.from_row(row) for row in rows]


async def save_link_type(db: Postgres, project_name: str, name: str, data: dict[str, Any]) -> None:
    """Create the link type, or replace its data when it exists."""
    link_type, input_type, output_type = parse_link_type_name(name)
    async with write_transaction(db) as conn:
        project = await load_project_ref(conn, project_name, lock=True)
        await conn.execute(
            f"""
            INSERT INTO {project.table("link_types")}
                (name, link_type, input_type, output_type, data)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (name) DO UPDATE SET data = EXCLUDED.data
            """,
            name,
            link_type,
            input_type,
            output_type,
            data,
        )


async def delete_link_type(db: Postgres, project_name: str, name: str) -> None:
    """Delete the link type; its links stay until clean_links removes them."""
    async with db.transaction() as conn:
        project = await load_project_ref(conn, project_name, lock=True)
        deleted = await conn.fetchval(
            f"DELETE FROM {project.table('link_types')} WHERE name = $1 RETURNING name", name
        )
    if deleted is None:
        raise NotFoundException(f"Link type {name} not found")


async def _entity_type_of(
    conn: asyncpg.Connection, project: ProjectRef, entity_id: uuid.UUID
) -> str | None:
    """The type of the entity with this id (ids are unique across a project), None if none."""
    lookups = " UNION ALL ".join(
        f"SELECT {index} AS kind FROM {project.table(entity_type.table)} WHERE id = $1"
        for index, entity_type in enumerate(ENTITY_TYPES.values())
    )
    index = await conn.fetchval(f"SELECT kind FROM ({lookups}) found LIMIT 1", entity_id)
    return None if index is None else _ENTITY_TYPE_NAMES[index]


async def _existing_entity_type(
    conn: asyncpg.Connection, project: ProjectRef, entity_id: uuid.UUID, role: str
) -> str:
    entity_type = await _entity_type_of(conn, project, entity_id)
    if entity_type is None:
        raise NotFoundException(f"{role.capitalize()} entity {entity_id.hex} not found")
    return entity_type


async def _resolve_link_type(
    conn: asyncpg.Connection, project: ProjectRef, body: LinkPostModel
) -> tuple[str, uuid.UUID, uuid.UUID]:
    """The full link type name and both entity ids, checked: the type exists and the entities
    exist and are of its input and output types."""
    input_id = parse_entity_id(body.input)
    output_id = parse_entity_id(body.output)
    if input_id == output_id:
        raise BadRequestException("A link cannot join an entity to itself")
    given = body.link_type or ""
    if "|" in given:
        parse_link_type_name(given)
        await _lock_link_type(conn, project, given)
    input_type = await _existing_entity_type(conn, project, input_id, "input")
    output_type = await _existing_entity_type(conn, project, output_id, "output")
    if "|" in given:
        _, expected_input, expected_output = given.split("|")
        for role, actual, expected, entity_id in (
            ("input", input_type, expected_input, input_id),
            ("output", output_type, expected_output, output_id),
        ):
            if actual != expected:
                raise BadRequestException(
                    f"Link type {given} needs a {expected} as {role}: {entity_id.hex} is a {actual}"
                )
        return given, input_id, output_id
    # The short form ("reference"): the entity types complete the name, as the client would.
    if not _LINK_TYPE_RE.match(given):
        raise BadRequestException(f"Invalid link type {given[:120]!r}")
    name = f"{given}|{input_type}|{output_type}"
    await _lock_link_type(conn, project, name)
    return name, input_id, output_id


async def _lock_link_type(conn: asyncpg.Connection, project: ProjectRef, name: str) -> None:
    """400 when the link type does not exist; otherwise keep it until the transaction ends."""
    found = await conn.fetchval(
        f"SELECT name FROM {project.table('link_types')} WHERE name = $1 FOR KEY SHARE", name
    )
    if found is None:
        raise BadRequestException(f"Link type {name} does not exist in project {project.name}")


async def _insert_link(
    conn: asyncpg.Connection, project: ProjectRef, body: LinkPostModel, actor: Actor
) -> dict[str, str]:
    link_type, input_id, output_id = await _resolve_link_type(conn, project, body)
    link_id = parse_entity_id(body.id) if body.id else uuid.uuid4()
    try:
        await conn.execute(
            f"""
            INSERT INTO {project.table("links")}
                (id, name, link_type, input_id, output_id, author, data)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            """,
            link_id,
            body.name,
            link_type,
            input_id,
            output_id,
            actor.user,
            body.data,
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "links_pkey":
            raise ConflictException(f"Link {link_id.hex} already exists") from None
        raise ConflictException(
            f"A {link_type} link from {input_id.hex} to {output_id.hex} already exists"
        ) from None
    return {
        "id": link_id.hex,
        "input": input_id.hex,
        "output": output_id.hex,
        "linkType": link_type,
    }


async def create_links(
    events: EventStream,
    db: Postgres,
    project_name: str,
    bodies: list[LinkPostModel],
    actor: Actor,
    *,
    bulk: bool = False,
) -> list[dict[str, str]]:
    """Create every link or none (one transaction); one `link.created` event, or one
    `links.created` event for a bulk request."""
    async with write_transaction(db) as conn:
        project = await load_project_ref(conn, project_name, lock=True)
        created = [await _insert_link(conn, project, body, actor) for body in bodies]
        if bulk:
            topic, description = "links.created", f"Created {len(created)} links"
            summary: dict[str, Any] = {"links": [link["id"] for link in created]}
        else:
            topic, description = "link.created", f"Created {created[0]['linkType']} link"
            summary = created[0]
        event = await record_event(
            events,
            conn,
            actor,
            topic,
            project=project.name,
            description=description,
            summary=summary,
        )
    await publish_events(events, [event])
    return created


async def delete_link(
    events: EventStream, db: Postgres, project_name: str, link_id: uuid.UUID, actor: Actor
) -> None:
    async with db.transaction() as conn:
        project = await load_project_ref(conn, project_name, lock=True)
        row = await conn.fetchrow(
            f"DELETE FROM {project.table('links')} WHERE id = $1 "
            "RETURNING link_type, input_id, output_id",
            link_id,
        )
        if row is None:
            raise NotFoundException(f"Link {link_id.hex} not found")
        event = await record_event(
            events,
            conn,
            actor,
            "link.deleted",
            project=project.name,
            description=f"Deleted {row['link_type']} link",
            summary={
                "id": link_id.hex,
                "input": row["input_id"].hex,
                "output": row["output_id"].hex,
                "linkType": row["link_type"],
            },
        )
    await publish_events(events, [event])


@dataclass(frozen=True)
class EntityLink:
    """A link seen from one of its ends, in the shape of AYON's GraphQL entity links: `in`
    links point at the entity (it is their output), `out` links leave it."""

    id: uuid.UUID
    name: str | None
    link_type: str
    direction: Literal["in", "out"]
    entity_id: uuid.UUID  # the other end
    entity_type: str | None  # the other end's type, when the link type names it
    author: str | None
    data: dict[str, Any]
    created_at: datetime

    @classmethod
    def seen_from(cls, row: asyncpg.Record, entity_id: uuid.UUID) -> EntityLink:
        outgoing = row["input_id"] == entity_id
        parts = row["link_type"].split("|")
        other_type = (parts[2] if outgoing else parts[1]) if len(parts) == 3 else None
        return cls(
            id=row["id"],
            name=row["name"],
            link_type=row["link_type"],
            direction="out" if outgoing else "in",
            entity_id=row["output_id"] if outgoing else row["input_id"],
            entity_type=other_type,
            author=row["author"],
            data=row["data"],
            created_at=row["created_at"],
        )


async def entity_links(
    db: Postgres, project_name: str, entity_type: EntityType, entity_id: uuid.UUID
) -> list[EntityLink]:
    """Every link into or out of the entity; 404 when the entity does not exist."""
    async with db.transaction() as conn:
        project = await load_project_ref(conn, project_name)
        exists = await conn.fetchval(
            f"SELECT true FROM {project.table(entity_type.table)} WHERE id = $1", entity_id
        )
        if exists is None:
            raise entity_not_found(entity_type, entity_id)
        rows = await conn.fetch(
            "SELECT id, name, link_type, input_id, output_id, author, data, created_at "
            f"FROM {project.table('links')} WHERE input_id = $1 OR output_id = $1 "
            "ORDER BY created_at, id",
            entity_id,
        )
    return [EntityLink.seen_from(row, entity_id) for row in rows]
