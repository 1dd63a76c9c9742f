"""GraphQL (`POST /graphql`) in AYON's schema shape: project -> folders/tasks connections.

Each connection is one SQL query; a nested connection (folder.tasks) is batched by a
DataLoader keyed by parent id, so a nested query runs one statement per level, not per row.
Pagination is keyset on the entity id (cursor = the last id seen).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON

from ayon_server.exceptions import BadRequestException
from ayon_server.lib.postgres import Postgres, SqlBuilder
from ayon_server.projects.store import ProjectRef, load_project_ref

MAX_PAGE = 2000


@dataclass
class Context:
    db: Postgres
    user_name: str
    loaders: dict[str, DataLoader] = field(default_factory=dict)


def _ids(values: list[str] | None) -> list[uuid.UUID] | None:
    if values is None:
        return None
    try:
        return [uuid.UUID(hex=v) for v in values]
    except ValueError as exc:
        raise BadRequestException("ids must be 32 hex characters") from exc


def _attrib(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value or {})


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class TaskNode:
    id: str
    name: str
    label: str | None
    task_type: str
    folder_id: str
    assignees: list[str]
    status: str
    tags: list[str]
    active: bool
    attrib: JSON
    all_attrib: str


@strawberry.type
class TaskEdge:
    node: TaskNode
    cursor: str


@strawberry.type
class TasksConnection:
    edges: list[TaskEdge]
    page_info: PageInfo


def _task(row: Any) -> TaskNode:
    attrib = _attrib(row["attrib"])
    return TaskNode(
        id=row["id"].hex,
        name=row["name"],
        label=row["label"],
        task_type=row["task_type"],
        folder_id=row["folder_id"].hex,
        assignees=list(row["assignees"]),
        status=row["status"],
        tags=list(row["tags"]),
        active=row["active"],
        attrib=attrib,
        all_attrib=json.dumps(attrib),
    )


def _page(rows: list[Any], first: int) -> tuple[list[Any], PageInfo]:
    more = len(rows) > first
    rows = rows[:first]
    end = rows[-1]["id"].hex if rows else None
    return rows, PageInfo(has_next_page=more, end_cursor=end)


def _tasks_loader(ctx: Context, project: ProjectRef) -> DataLoader:
    key = f"tasks:{project.name}"
    if key not in ctx.loaders:

        async def load(folder_ids: list[uuid.UUID]) -> list[list[Any]]:
            rows = await ctx.db.fetch(
                f"SELECT * FROM {project.table('tasks')} WHERE folder_id = ANY($1) "
                "ORDER BY folder_id, id",
                list(folder_ids),
            )
            grouped: dict[uuid.UUID, list[Any]] = {fid: [] for fid in folder_ids}
            for row in rows:
                grouped[row["folder_id"]].append(row)
            return [grouped[fid] for fid in folder_ids]

        ctx.loaders[key] = DataLoader(load_fn=load)
    return ctx.loaders[key]


@strawberry.type
class FolderNode:
    id: str
    name: str
    label: str | None
    folder_type: str
    parent_id: str | None
    path: str
    status: str
    tags: list[str]
    active: bool
    attrib: JSON
    all_attrib: str
    _project: strawberry.Private[ProjectRef]

    @strawberry.field
    async def tasks(self, info: strawberry.Info) -> TasksConnection:
        rows = await _tasks_loader(info.context, self._project).load(uuid.UUID(hex=self.id))
        return TasksConnection(
            edges=[TaskEdge(node=_task(r), cursor=r["id"].hex) for r in rows],
            page_info=PageInfo(has_next_page=False, end_cursor=None),
        )


@strawberry.type
class FolderEdge:
    node: FolderNode
    cursor: str


@strawberry.type
class FoldersConnection:
    edges: list[FolderEdge]
    page_info: PageInfo


def _folder(row: Any, project: ProjectRef) -> FolderNode:
    attrib = _attrib(row["attrib"])
    return FolderNode(
        id=row["id"].hex,
        name=row["name"],
        label=row["label"],
        folder_type=row["folder_type"],
        parent_id=row["parent_id"].hex if row["parent_id"] else None,
        path="/" + row["path"],
        status=row["status"],
        tags=list(row["tags"]),
        active=row["active"],
        attrib=attrib,
        all_attrib=json.dumps(attrib),
        _project=project,
    )


def _first(first: int | None) -> int:
    if first is None:
        return MAX_PAGE
    if first < 0:
        raise BadRequestException("first must not be negative")
    return min(first, MAX_PAGE)


async def _keyset_page(
    info: strawberry.Info,
    table: str,
    filters: dict[str, list[Any] | None],
    first: int | None,
    after: str | None,
) -> tuple[list[Any], PageInfo]:
    """One page of `table` in id order: each given filter is `column = ANY(values)`."""
    limit = _first(first)
    sql = SqlBuilder()
    for column, values in filters.items():
        if values is not None:
            sql.where(f"{column} = ANY({sql.param(values)})")
    if after:
        sql.where(f"id > {sql.param(_ids([after])[0])}")  # type: ignore[index]
    rows = await info.context.db.fetch(
        f"SELECT * FROM {table} {sql.where_clause} ORDER BY id LIMIT {sql.param(limit + 1)}",
        *sql.args,
    )
    return _page(list(rows), limit)


@strawberry.type
class ProjectNode:
    name: str
    _ref: strawberry.Private[ProjectRef]

    @strawberry.field
    async def folders(
        self,
        info: strawberry.Info,
        ids: list[str] | None = None,
        parent_ids: list[str] | None = None,
        names: list[str] | None = None,
        paths: list[str] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> FoldersConnection:
        rows, page = await _keyset_page(
            info,
            self._ref.table("folders"),
            {
                "id": _ids(ids),
                "parent_id": _ids(parent_ids),
                "name": names,
                "path": [p.strip("/") for p in paths] if paths is not None else None,
            },
            first,
            after,
        )
        return FoldersConnection(
            edges=[FolderEdge(node=_folder(r, self._ref), cursor=r["id"].hex) for r in rows],
            page_info=page,
        )

    @strawberry.field
    async def tasks(
        self,
        info: strawberry.Info,
        ids: list[str] | None = None,
        folder_ids: list[str] | None = None,
        names: list[str] | None = None,
        task_types: list[str] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> TasksConnection:
        rows, page = await _keyset_page(
            info,
            self._ref.table("tasks"),
            {
                "id": _ids(ids),
                "folder_id": _ids(folder_ids),
                "name": names,
                "task_type": task_types,
            },
            first,
            after,
        )
        return TasksConnection(
            edges=[TaskEdge(node=_task(r), cursor=r["id"].hex) for r in rows], page_info=page
        )


@strawberry.type
class Query:
    @strawberry.field
    async def project(self, info: strawberry.Info, name: str) -> ProjectNode:
        ref = await load_project_ref(info.context.db, name)
        return ProjectNode(name=ref.name, _ref=ref)


schema = strawberry.Schema(query=Query)
