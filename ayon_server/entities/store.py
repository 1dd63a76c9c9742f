"""Create, read, change and delete entities of any type: one implementation for all six.

Writes run on the caller's connection inside the caller's transaction (REST requests and the
operations endpoint both go through entities.operations), and return a Change that becomes the
entity's event. SQL identifiers come from the registry and the validated project schema; every
value is a bind parameter.

AYON's rules kept here:
* a folder's `path` is its parent's path plus its name; renaming or moving a folder rewrites the
  paths of its subtree, and a folder cannot move under itself or its descendants (400);
* a folder whose subtree holds products is deleted only with force=true (409 otherwise), and
  only managers may force; the database cascades the rest of the subtree;
* a folder whose subtree holds versions keeps its name, type and parent (409), since published
  files were laid out by its path;
* a version's author defaults to the caller; only admins may publish as someone else.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import asyncpg
from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from ayon_server.entities.registry import ENTITY_TYPES, EntityField, EntityType, parse_entity_id
from ayon_server.exceptions import (
    BadRequestException,
    ConflictException,
    ForbiddenException,
    NotFoundException,
)
from ayon_server.projects.changes import Actor
from ayon_server.projects.store import Executor, ProjectRef, merge

# Used when a project defines no statuses at all (an entity always has one).
FALLBACK_STATUS = "Unknown"
_ALWAYS_NULLABLE = frozenset({"label", "thumbnail_id", "created_by", "updated_by"})
_MERGED = ("attrib", "data")
_ID_FIELDS = frozenset({"thumbnail_id"})


@dataclass(frozen=True)
class Change:
    """What one write did, as its event tells it."""

    action: Literal["created", "updated", "deleted"]
    entity_type: EntityType
    entity_id: uuid.UUID
    parent_id: uuid.UUID | None
    display_name: str
    changes: list[str] = field(default_factory=list)

    @property
    def topic(self) -> str:
        return f"entity.{self.entity_type.name}.{self.action}"

    @property
    def description(self) -> str:
        return f"{self.entity_type.title} {self.display_name} {self.action}"

    @property
    def summary(self) -> dict[str, Any]:
        return {
            "entityId": self.entity_id.hex,
            "parentId": self.parent_id.hex if self.parent_id else None,
        }

    @property
    def payload(self) -> dict[str, Any] | None:
        return {"changes": self.changes} if self.changes else None


def entity_not_found(entity_type: EntityType, entity_id: uuid.UUID) -> NotFoundException:
    return NotFoundException(f"{entity_type.title} {entity_id.hex} not found")


def _display_name(entity_type: EntityType, values: dict[str, Any]) -> str:
    """How messages and event descriptions name an entity: folders by their tree path,
    workfiles by their file path, the others by their name."""
    if entity_type.name == "folder":
        return "/" + values["path"]
    if entity_type.name == "workfile":
        return values["path"]
    return values["name"]


def _parent_id(entity_type: EntityType, values: dict[str, Any]) -> uuid.UUID | None:
    return values.get(entity_type.parent_field) if entity_type.parent_field else None


async def _lock_row(
    conn: asyncpg.Connection, project: ProjectRef, entity_type: EntityType, entity_id: uuid.UUID
) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"SELECT * FROM {project.table(entity_type.table)} WHERE id = $1 FOR UPDATE", entity_id
    )
    if row is None:
        raise entity_not_found(entity_type, entity_id)
    return dict(row)


async def _check_reference(
    conn: asyncpg.Connection, project: ProjectRef, reference: EntityField, value: str
) -> asyncpg.Record:
    """The referenced entity, locked against deletion until the transaction ends (FOR KEY
    SHARE); 404 if there is none. A rename or move of a parent folder locks its row and subtree
    FOR UPDATE, so it waits for this lock and then rewrites the new path with the others."""
    target_type = ENTITY_TYPES[reference.references or ""]
    target_id = parse_entity_id(value)
    columns = "id, path" if target_type.name == "folder" else "id"
    row = await conn.fetchrow(
        f"SELECT {columns} FROM {project.table(target_type.table)} WHERE id = $1 FOR KEY SHARE",
        target_id,
    )
    if row is None:
        raise entity_not_found(target_type, target_id)
    return row


async def _check_thumbnail(
    conn: asyncpg.Connection, project: ProjectRef, thumbnail_id: uuid.UUID
) -> None:
    """The thumbnail must exist; FOR KEY SHARE keeps clean_thumbnails (which locks its
    candidates FOR UPDATE SKIP LOCKED) from deleting it before this transaction commits."""
    found = await conn.fetchval(
        f"SELECT 1 FROM {project.table('thumbnails')} WHERE id = $1 FOR KEY SHARE", thumbnail_id
    )
    if found is None:
        raise NotFoundException(f"Thumbnail {thumbnail_id.hex} not found")


def _check_subtype(project: ProjectRef, entity_type: EntityType, value: str | None) -> str:
    """folder_type / task_type: one the project defines; its first one when not given."""
    assert entity_type.subtype is not None
    field_name, list_name = entity_type.subtype
    names = [item["name"] for item in getattr(project, list_name)]
    if value is None:
        if not names:
            raise BadRequestException(
                f"{to_camel(field_name)} is required: project {project.name} defines no "
                f"{to_camel(list_name)}"
            )
        return names[0]
    if names and value not in names:
        raise BadRequestException(
            f"Unknown {to_camel(field_name)} {value!r}; project {project.name} defines: "
            + ", ".join(names)
        )
    return value


def _check_status(project: ProjectRef, entity_type: EntityType, value: str | None) -> str:
    """A status the project defines; by default the first one whose scope covers the type."""
    names = [item["name"] for item in project.statuses]
    if value is None:
        for item in project.statuses:
            scope = item.get("scope")
            if scope is None or entity_type.name in scope:
                return item["name"]
        return names[0] if names else FALLBACK_STATUS
    if names and value not in names:
        raise BadRequestException(
            f"Unknown status {value!r}; project {project.name} defines: " + ", ".join(names)
        )
    return value


def _conflict(
    entity_type: EntityType, exc: asyncpg.UniqueViolationError, values: dict[str, Any]
) -> ConflictException:
    if (exc.constraint_name or "").endswith("_pkey"):
        return ConflictException(f"{entity_type.title} {values['id'].hex} already exists")
    return ConflictException(
        f"{entity_type.title} {_display_name(entity_type, values)} already exists"
    )


async def _subtree_holds(
    conn: asyncpg.Connection, project: ProjectRef, folder: dict[str, Any], what: str
) -> bool:
    """Whether the folder or any folder under it has products ("products") or versions."""
    join_versions = (
        f"JOIN {project.table('versions')} v ON v.product_id = p.id" if what == "versions" else ""
    )
    return await conn.fetchval(
        f"""
        SELECT EXISTS (
            SELECT 1 FROM {project.table("folders")} f
            JOIN {project.table("products")} p ON p.folder_id = f.id
            {join_versions}
            WHERE f.id = $1 OR (f.path > ($2::text || '/') AND f.path < ($2::text || '0'))
        )
        """,
        folder["id"],
        folder["path"],
    )


async def _resolve(
    conn: asyncpg.Connection,
    project: ProjectRef,
    entity_type: EntityType,
    values: dict[str, Any],
    current: dict[str, Any] | None,
) -> dict[str, Any]:
    """Check and convert the given values (ids, references, subtype, status, derived name,
    folder path); `current` is the stored row when updating."""
    for key in _ID_FIELDS & values.keys():
        if values[key] is not None:
            values[key] = parse_entity_id(values[key])
    if values.get("thumbnail_id") is not None:
        await _check_thumbnail(conn, project, values["thumbnail_id"])
    parent_path: str | None = None
    for reference in entity_type.references:
        value = values.get(reference.name)
        if value is None:
            continue
        row = await _check_reference(conn, project, reference, value)
        values[reference.name] = row["id"]
        if reference.name == "parent_id":
            parent_path = row["path"]
    if entity_type.subtype is not None:
        field_name = entity_type.subtype[0]
        if current is None or values.get(field_name) is not None:
            values[field_name] = _check_subtype(project, entity_type, values.get(field_name))
    if current is None or "status" in values:
        values["status"] = _check_status(project, entity_type, values.get("status"))
    if entity_type.derive_name is not None:
        values["name"] = entity_type.derive_name({**(current or {}), **values})
    if entity_type.name == "folder":
        await _resolve_folder_path(conn, project, values, current, parent_path)
    return values


async def _resolve_folder_path(
    conn: asyncpg.Connection,
    project: ProjectRef,
    values: dict[str, Any],
    current: dict[str, Any] | None,
    parent_path: str | None,
) -> None:
    if current is None:
        values["path"] = f"{parent_path}/{values['name']}" if parent_path else values["name"]
        return
    name = values.get("name", current["name"])
    if "parent_id" in values:
        if values["parent_id"] == current["id"] or (
            parent_path is not None
            and (parent_path == current["path"] or parent_path.startswith(current["path"] + "/"))
        ):
            raise BadRequestException("A folder cannot be moved under itself or its descendants")
    else:
        parent_path = current["path"].rpartition("/")[0] or None
    values["path"] = f"{parent_path}/{name}" if parent_path else name
    moved = {
        key
        for key in ("name", "parent_id", "folder_type")
        if key in values and values[key] != current[key]
    }
    if moved and await _subtree_holds(conn, project, current, "versions"):
        raise ConflictException(
            f"Cannot change {', '.join(sorted(to_camel(k) for k in moved))} of folder "
            f"/{current['path']}: it has published versions"
        )


async def create_entity(
    conn: asyncpg.Connection,
    project: ProjectRef,
    entity_type: EntityType,
    payload: BaseModel,
    actor: Actor,
    *,
    entity_id: uuid.UUID | None = None,
) -> Change:
    """Insert a new entity from a validated create model; the id is the client's or new."""
    values = {
        key: getattr(payload, key)
        for key in payload.model_fields_set
        if getattr(payload, key) is not None
    }
    given_id = values.pop("id", None)
    if given_id is not None and entity_id is not None and parse_entity_id(given_id) != entity_id:
        raise BadRequestException("entityId and data.id name different entities")
    entity_id = entity_id or (parse_entity_id(given_id) if given_id else uuid.uuid4())
    values = await _resolve(conn, project, entity_type, values, None)
    if entity_type.name == "version":
        values.setdefault("author", actor.user)
        if values["author"] != actor.user and not actor.is_admin:
            raise ForbiddenException("Only administrators can create versions for other users")
    values.setdefault("created_by", actor.user)
    values.setdefault("updated_by", values["created_by"])
    values["id"] = entity_id
    columns = list(values)
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    try:
        await conn.execute(
            f"INSERT INTO {project.table(entity_type.table)} ({', '.join(columns)}) "
            f"VALUES ({placeholders})",
            *values.values(),
        )
    except asyncpg.UniqueViolationError as exc:
        raise _conflict(entity_type, exc, values) from None
    return Change(
        "created",
        entity_type,
        entity_id,
        _parent_id(entity_type, values),
        _display_name(entity_type, values),
    )


def _nullable(entity_type: EntityType, key: str) -> bool:
    if key in _ALWAYS_NULLABLE:
        return True
    return any(f.name == key and f.nullable for f in entity_type.fields)


_SUBTREE = "path > ($1::text || '/') AND path < ($1::text || '0')"


async def _lock_subtree(conn: asyncpg.Connection, project: ProjectRef, path: str) -> None:
    """Lock every folder under `path` (FOR UPDATE) until the transaction ends.

    Anything being created under one of them meanwhile holds FOR KEY SHARE on its parent, so it
    is waited for, and statements after this one see it: a subtree rewrite includes it instead
    of leaving it with an old path, and the product check before a delete counts it.
    """
    await conn.execute(
        f"SELECT 1 FROM {project.table('folders')} WHERE {_SUBTREE} FOR UPDATE", path
    )


async def _move_subtree(conn: asyncpg.Connection, project: ProjectRef, old: str, new: str) -> None:
    """Rewrite the paths under a renamed or moved folder."""
    await _lock_subtree(conn, project, old)
    await conn.execute(
        f"UPDATE {project.table('folders')} "
        f"SET path = $2::text || substr(path, char_length($1::text) + 1) WHERE {_SUBTREE}",
        old,
        new,
    )


async def update_entity(
    conn: asyncpg.Connection,
    project: ProjectRef,
    entity_type: EntityType,
    entity_id: uuid.UUID,
    payload: BaseModel,
    actor: Actor,
) -> Change | None:
    """Apply a validated patch model; None when it changes nothing (no write, no event).

    attrib and data are merged key by key (a null value removes the key); other fields are
    replaced. An explicit null is accepted only where the field may be empty.
    """
    current = await _lock_row(conn, project, entity_type, entity_id)
    values: dict[str, Any] = {}
    for key in payload.model_fields_set:
        value = getattr(payload, key)
        if value is None and not _nullable(entity_type, key):
            raise BadRequestException(f"{to_camel(key)} cannot be null")
        values[key] = value
    for key in _MERGED:
        if key in values:
            values[key] = merge(current[key], values[key])
    values = await _resolve(conn, project, entity_type, values, current)
    changed = [key for key, value in values.items() if current[key] != value]
    if not changed:
        return None
    if not (entity_type.client_authors and "updated_by" in values):
        values["updated_by"] = actor.user
        changed.append("updated_by")
    assignments = ", ".join(f"{key} = ${i}" for i, key in enumerate(changed, start=2))
    table = project.table(entity_type.table)
    try:
        await conn.execute(
            f"UPDATE {table} SET {assignments}, updated_at = now() WHERE id = $1",
            entity_id,
            *(values[key] for key in changed),
        )
        if entity_type.name == "folder" and values["path"] != current["path"]:
            await _move_subtree(conn, project, current["path"], values["path"])
    except asyncpg.UniqueViolationError as exc:
        raise _conflict(entity_type, exc, {**current, **values}) from None
    merged = {**current, **values}
    return Change(
        "updated",
        entity_type,
        entity_id,
        _parent_id(entity_type, merged),
        _display_name(entity_type, merged),
        changes=sorted(to_camel(key) for key in changed if key != "updated_by"),
    )


async def delete_entity(
    conn: asyncpg.Connection,
    project: ProjectRef,
    entity_type: EntityType,
    entity_id: uuid.UUID,
    actor: Actor,
    *,
    force: bool = False,
) -> Change:
    """Delete the entity and, through the database's cascades, its subtree."""
    if force and not actor.is_manager:
        raise ForbiddenException("Only managers can force delete")
    current = await _lock_row(conn, project, entity_type, entity_id)
    if entity_type.name == "folder" and not force:
        await _lock_subtree(conn, project, current["path"])
        if await _subtree_holds(conn, project, current, "products"):
            raise ConflictException(
                f"Folder /{current['path']} or a folder under it has products; "
                "delete them first or delete with force=true"
            )
    await conn.execute(f"DELETE FROM {project.table(entity_type.table)} WHERE id = $1", entity_id)
    return Change(
        "deleted",
        entity_type,
        entity_id,
        _parent_id(entity_type, current),
        _display_name(entity_type, current),
    )


def _path_sql(project: ProjectRef, entity_type: EntityType) -> tuple[str, str]:
    """(joins, expression) of the entity's path in the project: /folder/path/product/v001/..."""
    if entity_type.name == "folder":
        return "", "'/' || e.path"
    if entity_type.name == "workfile":
        return "", "e.path"  # a workfile's path is its file path
    joins: list[str] = []
    parts = ["e.name"]
    alias, current = "e", entity_type
    while current.name != "folder":
        assert current.parent_field is not None
        parent = ENTITY_TYPES[current.field(current.parent_field).references or ""]
        parent_alias = f"p{len(joins) + 1}"
        joins.append(
            f"JOIN {project.table(parent.table)} {parent_alias} "
            f"ON {parent_alias}.id = {alias}.{current.parent_field}"
        )
        parts.insert(0, f"{parent_alias}.{'path' if parent.name == 'folder' else 'name'}")
        alias, current = parent_alias, parent
    return " ".join(joins), "'/' || " + " || '/' || ".join(parts)


@dataclass(frozen=True)
class EntityRecord:
    """An entity's columns as stored (each type has its own, `path` aside) and its path in the
    project: `/folder/path/product/v001/...`; a workfile's is its file path."""

    values: dict[str, Any]
    path: str


async def get_entity(
    db: Executor, project: ProjectRef, entity_type: EntityType, entity_id: uuid.UUID
) -> EntityRecord:
    joins, path = _path_sql(project, entity_type)
    row = await db.fetchrow(
        f"SELECT e.*, {path} AS entity_path FROM {project.table(entity_type.table)} e {joins} "
        "WHERE e.id = $1",
        entity_id,
    )
    if row is None:
        raise entity_not_found(entity_type, entity_id)
    values = dict(row)
    path_value = values.pop("entity_path")
    values.pop("path", None)
    return EntityRecord(values, path_value)
