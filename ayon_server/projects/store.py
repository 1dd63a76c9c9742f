"""public.projects and each project's schema: create, read, change and delete projects.

Lookups ignore case (the schema is named after the lowercased name) and go through the unique
index on public.project_schema_name(name). Creating a project inserts its row, creates its
schema with public.create_project_schema (the template, whose full text is in the migration
setup/migrations/README.md names) and deploys its link types in one transaction;
deleting drops the row and the schema in one transaction, so a failure leaves nothing behind.

Entity writes hold a FOR KEY SHARE lock on the project row for their transaction
(`load_project_ref(..., lock=True)`), so deleting a project waits for them to finish and they
never write into a schema that is being dropped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from ayon_server.events.stream import EventStream
from ayon_server.exceptions import BadRequestException, ConflictException, NotFoundException
from ayon_server.lib.postgres import Postgres
from ayon_server.projects.anatomy import Anatomy, anatomy_to_project
from ayon_server.projects.changes import Actor, publish_events, record_event
from ayon_server.projects.models import ProjectPatchModel, ProjectPostModel
from ayon_server.projects.names import quoted_schema, validate_project_name

Executor = Postgres | asyncpg.Connection

_COLUMNS = (
    "name, code, label, library, active, folder_types, task_types, statuses, tags, attrib, "
    "data, config, created_at, updated_at"
)
_BY_NAME = "public.project_schema_name(name) = public.project_schema_name($1)"
_LIST_FIELDS = ("folder_types", "task_types", "statuses", "tags")
_MERGED_FIELDS = ("attrib", "data", "config")


@dataclass(frozen=True)
class ProjectRef:
    """What entity code needs to know of a project: its stored name, schema and anatomy."""

    name: str
    schema: str  # quoted, ready to prefix a table name
    folder_types: list[dict[str, Any]] = field(default_factory=list)
    task_types: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: asyncpg.Record | dict[str, Any]) -> ProjectRef:
        """From a public.projects row holding at least name and the three anatomy lists."""
        return cls(
            name=row["name"],
            schema=quoted_schema(row["name"]),
            folder_types=row["folder_types"],
            task_types=row["task_types"],
            statuses=row["statuses"],
        )

    def table(self, table: str) -> str:
        return f"{self.schema}.{table}"


@asynccontextmanager
async def write_transaction(db: Postgres) -> AsyncIterator[asyncpg.Connection]:
    """A transaction in which a value PostgreSQL refuses (a NUL character in text or JSON,
    which JSON and pydantic allow) is the client's mistake: 400, not 500."""
    try:
        async with db.transaction() as conn:
            yield conn
    except asyncpg.DataError as exc:
        raise BadRequestException(f"Invalid value: {exc}") from None


def project_not_found(name: str) -> NotFoundException:
    return NotFoundException(f"Project {name} not found")


async def load_project_ref(db: Executor, name: str, *, lock: bool = False) -> ProjectRef:
    """The project, 404 when it does not exist; `lock` (inside a transaction) keeps it from
    being deleted until the transaction ends."""
    validate_project_name(name)
    row = await db.fetchrow(
        f"SELECT name, folder_types, task_types, statuses FROM public.projects WHERE {_BY_NAME}"
        + (" FOR KEY SHARE" if lock else ""),
        name,
    )
    if row is None:
        raise project_not_found(name)
    return ProjectRef.from_row(row)


async def project_names(db: Executor) -> list[str]:
    """Every project's stored name, for the clean-ups that visit each project schema."""
    return [row["name"] for row in await db.fetch("SELECT name FROM public.projects ORDER BY name")]


@dataclass(frozen=True)
class LinkType:
    """A project's link type; `name` is `<link_type>|<input_type>|<output_type>`."""

    name: str
    link_type: str
    input_type: str
    output_type: str
    data: dict[str, Any]

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> LinkType:
        return cls(
            row["name"], row["link_type"], row["input_type"], row["output_type"], row["data"]
        )


@dataclass(frozen=True)
class ProjectSummary:
    """A project as the project list shows it."""

    name: str
    code: str
    label: str | None
    library: bool
    active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Project(ProjectSummary):
    """A project with its anatomy, attributes and data."""

    folder_types: list[dict[str, Any]]
    task_types: list[dict[str, Any]]
    link_types: list[LinkType]
    statuses: list[dict[str, Any]]
    tags: list[dict[str, Any]]
    config: dict[str, Any]
    attrib: dict[str, Any]
    data: dict[str, Any]


def _summary_fields(row: asyncpg.Record) -> dict[str, Any]:
    return {name: row[name] for name in ProjectSummary.__dataclass_fields__}


async def get_project(db: Postgres, name: str) -> Project:
    validate_project_name(name)
    async with db.transaction() as conn:
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM public.projects WHERE {_BY_NAME}", name)
        if row is None:
            raise project_not_found(name)
        link_types = await conn.fetch(
            "SELECT name, link_type, input_type, output_type, data "
            f"FROM {quoted_schema(row['name'])}.link_types ORDER BY name"
        )
    return Project(
        **_summary_fields(row),
        folder_types=row["folder_types"],
        task_types=row["task_types"],
        link_types=[LinkType.from_row(lt) for lt in link_types],
        statuses=row["statuses"],
        tags=row["tags"],
        config=row["config"],
        attrib=row["attrib"],
        data=row["data"],
    )


async def list_projects(
    db: Postgres, *, active: bool | None = None, library: bool | None = None
) -> list[ProjectSummary]:
    """The project list of GET /api/projects, by name."""
    rows = await db.fetch(
        """
        SELECT name, code, label, library, active, created_at, updated_at
        FROM public.projects
        WHERE ($1::boolean IS NULL OR active = $1) AND ($2::boolean IS NULL OR library = $2)
        ORDER BY lower(name)
        """,
        active,
        library,
    )
    return [ProjectSummary(**_summary_fields(row)) for row in rows]


def _new_project_fields(body: ProjectPostModel) -> dict[str, Any]:
    """What the anatomy deploys (the built-in one when none is given), overridden by the
    explicit fields of the request."""
    fields = anatomy_to_project(body.anatomy or Anatomy())
    for key in _LIST_FIELDS:
        if (items := getattr(body, key)) is not None:
            fields[key] = [item.model_dump() for item in items]
    if body.link_types is not None:
        fields["link_types"] = [lt.model_dump() for lt in body.link_types]
    if body.attrib is not None:
        fields["attrib"] = body.attrib
    if body.config is not None:
        fields["config"] = body.config
    return fields


async def create_project(
    events: EventStream, db: Postgres, body: ProjectPostModel, actor: Actor
) -> None:
    """Create the project, its schema and link types; 409 when the name or code is taken."""
    fields = _new_project_fields(body)
    async with write_transaction(db) as conn:
        await _insert_project_row(conn, body, fields)
        try:
            await conn.fetchval("SELECT public.create_project_schema($1)", body.name)
        except asyncpg.DuplicateSchemaError:
            # A schema without a project row: left by hand, never by this server.
            raise ConflictException(
                f"Project {body.name} cannot be created: its schema already exists"
            ) from None
        await _replace_link_types(conn, quoted_schema(body.name), fields["link_types"])
        event = await record_event(
            events,
            conn,
            actor,
            "entity.project.created",
            project=body.name,
            description=f"Created project {body.name}",
            summary={"entityId": body.name, "projectName": body.name},
        )
    await publish_events(events, [event])


async def _insert_project_row(
    conn: asyncpg.Connection, body: ProjectPostModel, fields: dict[str, Any]
) -> None:
    try:
        await conn.execute(
            """
            INSERT INTO public.projects (name, code, label, library, active, folder_types,
                task_types, statuses, tags, attrib, data, config)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            """,
            body.name,
            body.code,
            body.label,
            body.library,
            body.active,
            fields["folder_types"],
            fields["task_types"],
            fields["statuses"],
            fields["tags"],
            fields["attrib"],
            body.data,
            fields["config"],
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "projects_code_key":
            raise ConflictException(f"Project code {body.code} is already used") from None
        raise ConflictException(f"Project {body.name} already exists") from None


async def _replace_link_types(
    conn: asyncpg.Connection, schema: str, link_types: list[dict[str, Any]]
) -> None:
    """Make the project's link types exactly these; links of removed types stay until
    clean_links removes them."""
    names = [lt["name"] for lt in link_types]
    await conn.execute(f"DELETE FROM {schema}.link_types WHERE name <> ALL($1::text[])", names)
    await conn.executemany(
        f"""
        INSERT INTO {schema}.link_types (name, link_type, input_type, output_type, data)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (name) DO UPDATE SET data = EXCLUDED.data
        """,
        [
            (lt["name"], lt["link_type"], lt["input_type"], lt["output_type"], lt["data"])
            for lt in link_types
        ],
    )


async def _link_types_differ(
    conn: asyncpg.Connection, schema: str, link_types: list[dict[str, Any]]
) -> bool:
    rows = await conn.fetch(
        f"SELECT name, link_type, input_type, output_type, data FROM {schema}.link_types"
    )
    current = sorted((dict(row) for row in rows), key=lambda lt: lt["name"])
    return current != sorted(link_types, key=lambda lt: lt["name"])


def merge(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Top-level keys of `patch` replace those of `current`; a None value removes the key."""
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


async def update_project(
    events: EventStream, db: Postgres, name: str, patch: ProjectPatchModel, actor: Actor
) -> None:
    validate_project_name(name)
    given = {key for key in patch.model_fields_set if getattr(patch, key) is not None}
    async with write_transaction(db) as conn:
        row = await conn.fetchrow(
            # NO KEY UPDATE: entity writes (FOR KEY SHARE) go on while a project changes.
            f"SELECT {_COLUMNS} FROM public.projects WHERE {_BY_NAME} FOR NO KEY UPDATE",
            name,
        )
        if row is None:
            raise project_not_found(name)
        name = row["name"]
        values: dict[str, Any] = {}
        for key in ("code", "label", "library", "active"):
            if key in given:
                values[key] = getattr(patch, key)
        for key in _LIST_FIELDS:
            if key in given:
                values[key] = [item.model_dump() for item in getattr(patch, key)]
        for key in _MERGED_FIELDS:
            if key in given:
                values[key] = merge(row[key], getattr(patch, key))
        changed = sorted(key for key, value in values.items() if row[key] != value)
        if changed:
            assignments = ", ".join(f"{key} = ${i}" for i, key in enumerate(changed, start=2))
            try:
                await conn.execute(
                    f"UPDATE public.projects SET {assignments}, updated_at = now() WHERE name = $1",
                    name,
                    *(values[key] for key in changed),
                )
            except asyncpg.UniqueViolationError:
                raise ConflictException(f"Project code {patch.code} is already used") from None
        if patch.link_types is not None:
            schema = quoted_schema(name)
            link_types = [lt.model_dump() for lt in patch.link_types]
            if await _link_types_differ(conn, schema, link_types):
                await _replace_link_types(conn, schema, link_types)
                changed.append("link_types")
        if not changed:
            return
        event = await record_event(
            events,
            conn,
            actor,
            "entity.project.changed",
            project=name,
            description=f"Updated project {name}",
            summary={"entityId": name, "projectName": name},
            payload={"changes": changed},
        )
    await publish_events(events, [event])


async def delete_project(events: EventStream, db: Postgres, name: str, actor: Actor) -> None:
    """Delete the project row and drop its schema with everything in it."""
    validate_project_name(name)
    async with db.transaction() as conn:
        stored_name = await conn.fetchval(
            f"DELETE FROM public.projects WHERE {_BY_NAME} RETURNING name", name
        )
        if stored_name is None:
            raise project_not_found(name)
        await conn.fetchval("SELECT public.drop_project_schema($1)", stored_name)
        event = await record_event(
            events,
            conn,
            actor,
            "entity.project.deleted",
            project=stored_name,
            description=f"Deleted project {stored_name}",
            summary={"entityId": stored_name, "projectName": stored_name},
        )
    await publish_events(events, [event])
