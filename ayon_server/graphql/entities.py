"""Folders, tasks, products, versions, representations and workfiles as GraphQL nodes.

Every connection is one SQL statement: a top-level one (`project.folders(...)`) pages on the
entity id; a nested one (`folder.tasks`, `product.versions`, `version.representations`) and
every parent reference (`version.product`, `product.folder`, ...) goes through a DataLoader
keyed by parent id, so one level of nesting costs one statement however many rows it holds.
Filter values are bind parameters; column and table names come from this module and the
validated project schema.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry

from ayon_server.entities.registry import ENTITY_TYPES
from ayon_server.exceptions import BadRequestException
from ayon_server.graphql.attrib import ATTRIB_TYPES, all_attrib_json, attrib_object, effective
from ayon_server.graphql.context import Context
from ayon_server.graphql.ids import parse_ids
from ayon_server.graphql.links import LinksConnection, resolve_links
from ayon_server.graphql.paging import PageInfo, decode_id_cursor, encode_cursor, page_size
from ayon_server.lib.postgres import SqlBuilder
from ayon_server.projects.store import ProjectRef

FolderAttribType = ATTRIB_TYPES["folder"]
TaskAttribType = ATTRIB_TYPES["task"]
ProductAttribType = ATTRIB_TYPES["product"]
VersionAttribType = ATTRIB_TYPES["version"]
RepresentationAttribType = ATTRIB_TYPES["representation"]
WorkfileAttribType = ATTRIB_TYPES["workfile"]


@strawberry.enum
class HasLinksFilter(Enum):
    NONE = "none"
    IN = "in"
    OUT = "out"
    ANY = "any"


def _reject_advanced_filter(value: str | None) -> None:
    if value:
        raise BadRequestException("The advanced `filter` argument is not supported by this server")


# ---------------------------------------------------------------------------------------------
# Nodes


@strawberry.type
class BaseNode:
    id: str
    name: str
    label: str | None
    active: bool
    status: str
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    created_by: str | None
    updated_by: str | None
    project_name: str
    _row: strawberry.Private[dict[str, Any]]
    _project: strawberry.Private[ProjectRef]

    @strawberry.field
    def data(self) -> str | None:
        return json.dumps(self._row["data"] or {})

    @strawberry.field
    def own_attrib(self) -> list[str]:
        return sorted(k for k, v in (self._row["attrib"] or {}).items() if v is not None)

    @strawberry.field
    async def links(
        self,
        info: strawberry.Info,
        direction: str | None = None,
        link_types: list[str] | None = None,
        names: list[str] | None = None,
        name_ex: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> LinksConnection:
        return await resolve_links(
            info.context,
            self._project,
            self.id,
            direction,
            link_types,
            names,
            name_ex,
            first,
            after,
        )

    async def _attrib_values(self, info: strawberry.Info) -> dict[str, Any]:
        return effective(self._scope(), self._row["attrib"])

    @classmethod
    def _scope(cls) -> str:
        raise NotImplementedError

    @strawberry.field
    async def all_attrib(self, info: strawberry.Info) -> str:
        return all_attrib_json(await self._attrib_values(info))


def _common(row: dict[str, Any], project: ProjectRef) -> dict[str, Any]:
    return {
        "id": row["id"].hex,
        "name": row["name"],
        "label": row["label"],
        "active": row["active"],
        "status": row["status"],
        "tags": list(row["tags"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "created_by": row["created_by"],
        "updated_by": row["updated_by"],
        "project_name": project.name,
        "_row": row,
        "_project": project,
    }


def _hex(value: uuid.UUID | None) -> str | None:
    return value.hex if value is not None else None


def _project_attrib(ctx: Context, project: ProjectRef) -> Awaitable[dict[str, Any]]:
    async def load(names: list[str]) -> list[dict[str, Any]]:
        rows = await ctx.fetch(
            "SELECT name, attrib FROM public.projects WHERE name = ANY($1::text[])", names
        )
        found = {row["name"]: row["attrib"] for row in rows}
        return [found.get(name) or {} for name in names]

    return ctx.loader("project-attrib", load).load(project.name)


def _folder_attribs_by_path(
    ctx: Context, project: ProjectRef, paths: list[str]
) -> Awaitable[list[dict[str, Any]]]:
    async def load(paths: list[str]) -> list[dict[str, Any]]:
        rows = await ctx.fetch(
            f"SELECT path, attrib FROM {project.table('folders')} WHERE path = ANY($1::text[])",
            paths,
        )
        found = {row["path"]: row["attrib"] for row in rows}
        return [found.get(path) or {} for path in paths]

    return ctx.loader(("folder-attrib", project.name), load).load_many(paths)


async def inherited_folder_layers(
    ctx: Context, project: ProjectRef, path: str
) -> list[dict[str, Any]]:
    """The project's attrib, then every ancestor folder's, nearest last (not the folder's own).
    Both loads start together, so a level costs two statements however deep the tree is."""
    parts = path.split("/")
    ancestors = ["/".join(parts[:i]) for i in range(1, len(parts))]
    # DataLoader.load hands out futures: asking for both before awaiting either puts each
    # into its loader's batch of this level.
    own_project = _project_attrib(ctx, project)
    folders = _folder_attribs_by_path(ctx, project, ancestors)
    return [await own_project, *(await folders)]


@strawberry.type
class FolderNode(BaseNode):
    folder_type: str
    parent_id: str | None
    path: str
    thumbnail_id: str | None
    has_children: bool
    has_tasks: bool
    has_products: bool
    parents: list[str]

    @classmethod
    def _scope(cls) -> str:
        return "folder"

    async def _attrib_values(self, info: strawberry.Info) -> dict[str, Any]:
        layers = await inherited_folder_layers(info.context, self._project, self._row["path"])
        return effective("folder", *layers, self._row["attrib"])

    @strawberry.field
    async def attrib(self, info: strawberry.Info) -> FolderAttribType:  # type: ignore[valid-type]
        return attrib_object("folder", await self._attrib_values(info))

    @strawberry.field
    async def tasks(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> TasksConnection:
        return await _children(
            info.context, self._project, "task", "folder_id", self.id, first, after
        )

    @strawberry.field
    async def products(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> ProductsConnection:
        return await _children(
            info.context,
            self._project,
            "product",
            "folder_id",
            self.id,
            first,
            after,
        )


def _folder(row: dict[str, Any], project: ProjectRef) -> FolderNode:
    parts = row["path"].split("/")
    return FolderNode(
        **_common(row, project),
        folder_type=row["folder_type"],
        parent_id=_hex(row["parent_id"]),
        path="/" + row["path"],
        thumbnail_id=_hex(row["thumbnail_id"]),
        has_children=row["has_children"],
        has_tasks=row["has_tasks"],
        has_products=row["has_products"],
        parents=parts[:-1],
    )


@strawberry.type
class TaskNode(BaseNode):
    task_type: str
    folder_id: str
    assignees: list[str]
    thumbnail_id: str | None

    @classmethod
    def _scope(cls) -> str:
        return "task"

    async def _attrib_values(self, info: strawberry.Info) -> dict[str, Any]:
        folder = await load_entity(info.context, self._project, "folder", self._row["folder_id"])
        layers: list[dict[str, Any]] = []
        if folder is not None:
            layers = await inherited_folder_layers(info.context, self._project, folder["path"])
            layers.append(folder["attrib"])
        return effective("task", *layers, self._row["attrib"])

    @strawberry.field
    async def attrib(self, info: strawberry.Info) -> TaskAttribType:  # type: ignore[valid-type]
        return attrib_object("task", await self._attrib_values(info))

    @strawberry.field
    async def folder(self, info: strawberry.Info) -> FolderNode | None:
        return await _parent(info.context, self._project, "folder", self._row["folder_id"])


def _task(row: dict[str, Any], project: ProjectRef) -> TaskNode:
    return TaskNode(
        **_common(row, project),
        task_type=row["task_type"],
        folder_id=row["folder_id"].hex,
        assignees=list(row["assignees"]),
        thumbnail_id=_hex(row["thumbnail_id"]),
    )


@strawberry.type
class ProductNode(BaseNode):
    folder_id: str
    product_type: str
    product_base_type: str | None

    @classmethod
    def _scope(cls) -> str:
        return "product"

    @strawberry.field
    async def attrib(self, info: strawberry.Info) -> ProductAttribType:  # type: ignore[valid-type]
        return attrib_object("product", await self._attrib_values(info))

    @strawberry.field
    async def folder(self, info: strawberry.Info) -> FolderNode | None:
        return await _parent(info.context, self._project, "folder", self._row["folder_id"])

    @strawberry.field
    async def versions(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> VersionsConnection:
        return await _children(
            info.context,
            self._project,
            "version",
            "product_id",
            self.id,
            first,
            after,
        )

    @strawberry.field
    async def latest_version(self, info: strawberry.Info) -> VersionNode | None:
        ctx: Context = info.context
        project = self._project

        async def load(product_ids: list[uuid.UUID]) -> list[dict[str, Any] | None]:
            rows = await ctx.fetch(
                f"SELECT DISTINCT ON (product_id) * FROM {project.table('versions')} "
                "WHERE product_id = ANY($1::uuid[]) AND version >= 0 "
                "ORDER BY product_id, version DESC",
                product_ids,
            )
            found = {row["product_id"]: dict(row) for row in rows}
            return [found.get(pid) for pid in product_ids]

        row = await ctx.loader(("latest-version", project.name), load).load(self._row["id"])
        return _version(row, project) if row is not None else None


def _product(row: dict[str, Any], project: ProjectRef) -> ProductNode:
    return ProductNode(
        **_common(row, project),
        folder_id=row["folder_id"].hex,
        product_type=row["product_type"],
        product_base_type=row["product_base_type"],
    )


@strawberry.type
class VersionNode(BaseNode):
    version: int
    product_id: str
    task_id: str | None
    author: str | None
    thumbnail_id: str | None

    @classmethod
    def _scope(cls) -> str:
        return "version"

    @strawberry.field
    async def attrib(self, info: strawberry.Info) -> VersionAttribType:  # type: ignore[valid-type]
        return attrib_object("version", await self._attrib_values(info))

    @strawberry.field
    async def product(self, info: strawberry.Info) -> ProductNode | None:
        return await _parent(info.context, self._project, "product", self._row["product_id"])

    @strawberry.field
    async def task(self, info: strawberry.Info) -> TaskNode | None:
        if self._row["task_id"] is None:
            return None
        return await _parent(info.context, self._project, "task", self._row["task_id"])

    @strawberry.field
    async def representations(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> RepresentationsConnection:
        return await _children(
            info.context,
            self._project,
            "representation",
            "version_id",
            self.id,
            first,
            after,
        )


def _version(row: dict[str, Any], project: ProjectRef) -> VersionNode:
    return VersionNode(
        **_common(row, project),
        version=row["version"],
        product_id=row["product_id"].hex,
        task_id=_hex(row["task_id"]),
        author=row["author"],
        thumbnail_id=_hex(row["thumbnail_id"]),
    )


@strawberry.type
class FileNode:
    id: str | None
    name: str | None
    path: str | None
    size: str | None  # as AYON: a GraphQL Int is 32-bit, files are not
    hash: str | None
    hash_type: str | None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _file(item: Any) -> FileNode:
    item = item if isinstance(item, dict) else {}
    return FileNode(
        id=_text(item.get("id")),
        name=_text(item.get("name")),
        path=_text(item.get("path")),
        size=_text(item.get("size")),
        hash=_text(item.get("hash")),
        hash_type=_text(item.get("hashType")),
    )


@strawberry.type
class RepresentationNode(BaseNode):
    version_id: str
    files: list[FileNode]
    traits: str | None
    context: str | None

    @classmethod
    def _scope(cls) -> str:
        return "representation"

    @strawberry.field
    async def attrib(self, info: strawberry.Info) -> RepresentationAttribType:  # type: ignore[valid-type]
        return attrib_object("representation", await self._attrib_values(info))

    @strawberry.field
    async def version(self, info: strawberry.Info) -> VersionNode | None:
        return await _parent(info.context, self._project, "version", self._row["version_id"])


def _representation(row: dict[str, Any], project: ProjectRef) -> RepresentationNode:
    context = (row["data"] or {}).get("context")
    return RepresentationNode(
        **_common(row, project),
        version_id=row["version_id"].hex,
        files=[_file(item) for item in (row["files"] or [])],
        traits=json.dumps(row["traits"]) if row["traits"] is not None else None,
        context=json.dumps(context) if context is not None else None,
    )


@strawberry.type
class WorkfileNode(BaseNode):
    path: str
    task_id: str
    thumbnail_id: str | None

    @classmethod
    def _scope(cls) -> str:
        return "workfile"

    @strawberry.field
    async def attrib(self, info: strawberry.Info) -> WorkfileAttribType:  # type: ignore[valid-type]
        return attrib_object("workfile", await self._attrib_values(info))

    @strawberry.field
    async def task(self, info: strawberry.Info) -> TaskNode | None:
        return await _parent(info.context, self._project, "task", self._row["task_id"])


def _workfile(row: dict[str, Any], project: ProjectRef) -> WorkfileNode:
    return WorkfileNode(
        **_common(row, project),
        path=row["path"],
        task_id=row["task_id"].hex,
        thumbnail_id=_hex(row["thumbnail_id"]),
    )


# ---------------------------------------------------------------------------------------------
# Connections


def _edge_and_connection(name: str, node: type) -> tuple[type, type]:
    edge = strawberry.type(
        type(f"{name}Edge", (), {"__annotations__": {"node": node, "cursor": str | None}}),
        name=f"{name}Edge",
    )
    connection = strawberry.type(
        type(
            f"{name}sConnection",
            (),
            {"__annotations__": {"edges": list[edge], "page_info": PageInfo}},  # type: ignore[valid-type]
        ),
        name=f"{name}sConnection",
    )
    return edge, connection


FolderEdge, FoldersConnection = _edge_and_connection("Folder", FolderNode)
TaskEdge, TasksConnection = _edge_and_connection("Task", TaskNode)
ProductEdge, ProductsConnection = _edge_and_connection("Product", ProductNode)
VersionEdge, VersionsConnection = _edge_and_connection("Version", VersionNode)
RepresentationEdge, RepresentationsConnection = _edge_and_connection(
    "Representation", RepresentationNode
)
WorkfileEdge, WorkfilesConnection = _edge_and_connection("Workfile", WorkfileNode)

_NODES: dict[str, Callable[[dict[str, Any], ProjectRef], Any]] = {
    "folder": _folder,
    "task": _task,
    "product": _product,
    "version": _version,
    "representation": _representation,
    "workfile": _workfile,
}
_CONNECTIONS: dict[str, tuple[type, type]] = {
    "folder": (FolderEdge, FoldersConnection),
    "task": (TaskEdge, TasksConnection),
    "product": (ProductEdge, ProductsConnection),
    "version": (VersionEdge, VersionsConnection),
    "representation": (RepresentationEdge, RepresentationsConnection),
    "workfile": (WorkfileEdge, WorkfilesConnection),
}


def select_from(project: ProjectRef, entity_type: str) -> str:
    """`SELECT ... FROM <table> e`: the entity's columns plus what its node derives."""
    table = project.table(ENTITY_TYPES[entity_type].table)
    if entity_type != "folder":
        return f"SELECT e.* FROM {table} e"
    folders, tasks, products = (project.table(t) for t in ("folders", "tasks", "products"))
    return (
        "SELECT e.*, "
        f"EXISTS (SELECT 1 FROM {folders} c WHERE c.parent_id = e.id) AS has_children, "
        f"EXISTS (SELECT 1 FROM {tasks} t WHERE t.folder_id = e.id) AS has_tasks, "
        f"EXISTS (SELECT 1 FROM {products} p WHERE p.folder_id = e.id) AS has_products "
        f"FROM {table} e"
    )


def connection(
    entity_type: str, rows: list[dict[str, Any]], project: ProjectRef, page: PageInfo
) -> Any:
    edge_type, connection_type = _CONNECTIONS[entity_type]
    make = _NODES[entity_type]
    edges = [edge_type(node=make(row, project), cursor=encode_cursor(row["id"])) for row in rows]
    return connection_type(edges=edges, page_info=page)


async def entity_page(
    ctx: Context,
    project: ProjectRef,
    entity_type: str,
    sql: SqlBuilder,
    first: int | None,
    after: str | None,
) -> Any:
    """One page of a top-level connection, in id order: one statement."""
    limit = page_size(first)
    if after:
        sql.where(f"e.id > {sql.param(decode_id_cursor(after))}")
    rows = [
        dict(row)
        for row in await ctx.fetch(
            f"{select_from(project, entity_type)} {sql.where_clause} "
            f"ORDER BY e.id LIMIT {sql.param(limit + 1)}",
            *sql.args,
        )
    ]
    more = len(rows) > limit
    rows = rows[:limit]
    page = PageInfo(
        has_next_page=more,
        end_cursor=encode_cursor(rows[-1]["id"]) if rows else None,
        start_cursor=encode_cursor(rows[0]["id"]) if rows else None,
    )
    return connection(entity_type, rows, project, page)


async def _children(
    ctx: Context,
    project: ProjectRef,
    entity_type: str,
    parent_column: str,
    parent_id: str,
    first: int | None,
    after: str | None,
) -> Any:
    """A nested connection: the children of every parent of this level in one statement
    (a window numbers each parent's children, so each parent gets its own bounded page)."""
    limit = page_size(first)
    after_id = decode_id_cursor(after) if after else None

    async def load(parent_ids: list[uuid.UUID]) -> list[list[dict[str, Any]]]:
        sql = SqlBuilder()
        sql.where(f"e.{parent_column} = ANY({sql.param(parent_ids)}::uuid[])")
        if after_id is not None:
            sql.where(f"e.id > {sql.param(after_id)}")
        rows = await ctx.fetch(
            f"SELECT * FROM (SELECT s.*, row_number() OVER "
            f"(PARTITION BY s.{parent_column} ORDER BY s.id) AS _rank FROM "
            f"({select_from(project, entity_type)} {sql.where_clause}) s) ranked "
            f"WHERE _rank <= {sql.param(limit + 1)} ORDER BY {parent_column}, id",
            *sql.args,
        )
        grouped: dict[uuid.UUID, list[dict[str, Any]]] = {pid: [] for pid in parent_ids}
        for row in rows:
            grouped[row[parent_column]].append(dict(row))
        return [grouped[pid] for pid in parent_ids]

    key = ("children", project.name, entity_type, parent_column, limit, after_id)
    rows = await ctx.loader(key, load).load(uuid.UUID(hex=parent_id))
    more = len(rows) > limit
    rows = rows[:limit]
    page = PageInfo(has_next_page=more, end_cursor=encode_cursor(rows[-1]["id"]) if rows else None)
    return connection(entity_type, rows, project, page)


async def load_entity(
    ctx: Context, project: ProjectRef, entity_type: str, entity_id: uuid.UUID
) -> dict[str, Any] | None:
    """One entity's row by id, batched with every other lookup of the same level."""

    async def load(ids: list[uuid.UUID]) -> list[dict[str, Any] | None]:
        rows = await ctx.fetch(
            f"{select_from(project, entity_type)} WHERE e.id = ANY($1::uuid[])", ids
        )
        found = {row["id"]: dict(row) for row in rows}
        return [found.get(i) for i in ids]

    return await ctx.loader(("entity", project.name, entity_type), load).load(entity_id)


async def _parent(ctx: Context, project: ProjectRef, entity_type: str, entity_id: uuid.UUID) -> Any:
    row = await load_entity(ctx, project, entity_type, entity_id)
    return _NODES[entity_type](row, project) if row is not None else None


async def single(ctx: Context, project: ProjectRef, entity_type: str, entity_id: str) -> Any:
    ids = parse_ids([entity_id], "id")
    assert ids is not None
    return await _parent(ctx, project, entity_type, ids[0])


# ---------------------------------------------------------------------------------------------
# Filters shared by the top-level connections


class Filters:
    """The WHERE of a top-level connection; each method adds one condition when given."""

    def __init__(self, project: ProjectRef) -> None:
        self.project = project
        self.sql = SqlBuilder()

    def any_of(self, column: str, values: list[Any] | None, cast: str = "text[]") -> Filters:
        if values is not None:
            self.sql.where(f"e.{column} = ANY({self.sql.param(list(values))}::{cast})")
        return self

    def ids(self, column: str, values: list[str] | None) -> Filters:
        return self.any_of(column, parse_ids(values), "uuid[]")

    def tags(self, values: list[str] | None) -> Filters:
        if values is not None:
            self.sql.where(f"e.tags @> {self.sql.param(list(values))}::text[]")
        return self

    def regex(self, expression: str, pattern: str | None) -> Filters:
        if pattern is not None:
            self.sql.where(f"{expression} ~ {self.sql.param(pattern)}")
        return self

    def exists(self, subquery: str, wanted: bool | None) -> Filters:
        if wanted is not None:
            self.sql.where(("" if wanted else "NOT ") + f"EXISTS ({subquery})")
        return self

    def has_links(self, value: HasLinksFilter | None) -> Filters:
        if value is None:
            return self
        links = self.project.table("links")
        into = f"SELECT 1 FROM {links} l WHERE l.output_id = e.id"
        out = f"SELECT 1 FROM {links} l WHERE l.input_id = e.id"
        condition = {
            HasLinksFilter.IN: f"EXISTS ({into})",
            HasLinksFilter.OUT: f"EXISTS ({out})",
            HasLinksFilter.ANY: f"(EXISTS ({into}) OR EXISTS ({out}))",
            HasLinksFilter.NONE: f"NOT EXISTS ({into}) AND NOT EXISTS ({out})",
        }[value]
        self.sql.where(condition)
        return self

    def where(self, condition: str) -> Filters:
        self.sql.where(condition)
        return self


def folder_filters(
    project: ProjectRef,
    *,
    ids: list[str] | None,
    parent_ids: list[str] | None,
    names: list[str] | None,
    paths: list[str] | None,
    path_ex: str | None,
    folder_types: list[str] | None,
    statuses: list[str] | None,
    assignees: list[str] | None,
    tags: list[str] | None,
    has_products: bool | None,
    has_tasks: bool | None,
    has_children: bool | None,
    has_links: HasLinksFilter | None,
    filter: str | None,
) -> Filters:
    _reject_advanced_filter(filter)
    f = Filters(project).ids("id", ids).any_of("name", names).any_of("folder_type", folder_types)
    f.any_of("status", statuses).tags(tags)
    if paths is not None:
        f.any_of("path", [p.strip("/") for p in paths])
    f.regex("('/' || e.path)", path_ex)
    if parent_ids is not None:
        root = "root" in parent_ids
        real = parse_ids([p for p in parent_ids if p != "root"], "parentIds") or []
        condition = f"e.parent_id = ANY({f.sql.param(real)}::uuid[])"
        f.where(f"({condition} OR e.parent_id IS NULL)" if root else condition)
    tasks, products, folders = (project.table(t) for t in ("tasks", "products", "folders"))
    if assignees is not None:
        f.where(
            f"EXISTS (SELECT 1 FROM {tasks} t WHERE t.folder_id = e.id "
            f"AND t.assignees @> {f.sql.param(list(assignees))}::text[])"
        )
    f.exists(f"SELECT 1 FROM {products} p WHERE p.folder_id = e.id", has_products)
    f.exists(f"SELECT 1 FROM {tasks} t WHERE t.folder_id = e.id", has_tasks)
    f.exists(f"SELECT 1 FROM {folders} c WHERE c.parent_id = e.id", has_children)
    return f.has_links(has_links)


def version_filters(
    project: ProjectRef,
    *,
    ids: list[str] | None,
    product_ids: list[str] | None,
    task_ids: list[str] | None,
    versions: list[int] | None,
    hero_only: bool | None,
    latest_only: bool | None,
    hero_or_latest_only: bool | None,
    statuses: list[str] | None,
    tags: list[str] | None,
    filter: str | None,
) -> Filters:
    _reject_advanced_filter(filter)
    f = Filters(project).ids("id", ids).ids("product_id", product_ids).ids("task_id", task_ids)
    f.any_of("version", versions, "integer[]").any_of("status", statuses).tags(tags)
    latest = (
        f"e.version = (SELECT max(v.version) FROM {project.table('versions')} v "
        "WHERE v.product_id = e.product_id AND v.version >= 0)"
    )
    if hero_or_latest_only:
        f.where(f"(e.version < 0 OR {latest})")
    elif hero_only:
        f.where("e.version < 0")
    elif latest_only:
        f.where(latest)
    return f
