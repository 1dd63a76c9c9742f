"""`project(name)` and `projects`, and the entity connections that hang on a project."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import strawberry

from ayon_server.entities.registry import ENTITY_TYPES
from ayon_server.graphql.activities import ActivitiesConnection, resolve_activities
from ayon_server.graphql.attrib import ATTRIB_TYPES, all_attrib_json, attrib_object, effective
from ayon_server.graphql.context import Context
from ayon_server.graphql.entities import (
    Filters,
    FolderNode,
    FoldersConnection,
    HasLinksFilter,
    ProductNode,
    ProductsConnection,
    RepresentationNode,
    RepresentationsConnection,
    TaskNode,
    TasksConnection,
    VersionNode,
    VersionsConnection,
    WorkfileNode,
    WorkfilesConnection,
    _reject_advanced_filter,
    entity_page,
    folder_filters,
    single,
    version_filters,
)
from ayon_server.graphql.paging import PageInfo, decode_cursor, encode_cursor, page_size
from ayon_server.lib.postgres import SqlBuilder
from ayon_server.projects.names import quoted_schema
from ayon_server.projects.store import ProjectRef

ProjectAttribType = ATTRIB_TYPES["project"]


@strawberry.type
class FolderType:
    name: str
    short_name: str | None
    icon: str | None
    color: str | None


@strawberry.type
class TaskType:
    name: str
    short_name: str | None
    icon: str | None
    color: str | None


_TypeT = TypeVar("_TypeT", FolderType, TaskType)


@strawberry.type
class Status:
    name: str
    short_name: str | None
    state: str | None
    icon: str | None
    color: str | None
    scope: list[str] | None


@strawberry.type
class Tag:
    name: str
    color: str | None


@strawberry.type
class LinkType:
    name: str
    link_type: str
    input_type: str
    output_type: str
    color: str | None
    style: str | None


@strawberry.type
class ProductType:
    name: str
    icon: str | None
    color: str | None


@strawberry.type
class ProductBaseType:
    name: str


def _get(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, dict) else None


def _text(item: Any, key: str) -> str | None:
    value = _get(item, key)
    return None if value is None else str(value)


def _entity_types(kind: type[_TypeT], items: list[Any]) -> list[_TypeT]:
    """Folder or task types of the anatomy, as the client reads them."""
    return [
        kind(
            name=str(_get(t, "name")),
            short_name=_text(t, "shortName"),
            icon=_text(t, "icon"),
            color=_text(t, "color"),
        )
        for t in items
    ]


async def _product_type_names(ctx: Context, project: ProjectRef, column: str) -> list[str]:
    async def load(names: list[str]) -> list[list[str]]:
        rows = await ctx.fetch(
            f"SELECT DISTINCT {column} AS name FROM {project.table('products')} "
            f"WHERE {column} IS NOT NULL ORDER BY 1"
        )
        return [[row["name"] for row in rows] for _ in names]

    return await ctx.loader(("product-types", project.name, column), load).load(project.name)


@strawberry.type
class ProjectNode:
    name: str
    code: str
    label: str | None
    active: bool
    library: bool
    project_name: str
    _row: strawberry.Private[dict[str, Any]]
    _ref: strawberry.Private[ProjectRef]

    @strawberry.field
    def created_at(self) -> str:
        return self._row["created_at"].isoformat()

    @strawberry.field
    def updated_at(self) -> str:
        return self._row["updated_at"].isoformat()

    @strawberry.field
    def data(self) -> str | None:
        return json.dumps(self._row["data"] or {})

    @strawberry.field
    def config(self) -> str | None:
        return json.dumps(self._row["config"] or {})

    @strawberry.field
    def attrib(self) -> ProjectAttribType:  # type: ignore[valid-type]
        return attrib_object("project", effective("project", self._row["attrib"]))

    @strawberry.field
    def all_attrib(self) -> str:
        return all_attrib_json(effective("project", self._row["attrib"]))

    @strawberry.field
    def own_attrib(self) -> list[str]:
        return sorted(self._row["attrib"] or {})

    @strawberry.field
    def folder_types(self) -> list[FolderType]:
        return _entity_types(FolderType, self._row["folder_types"])

    @strawberry.field
    def task_types(self) -> list[TaskType]:
        return _entity_types(TaskType, self._row["task_types"])

    @strawberry.field
    def statuses(self) -> list[Status]:
        return [
            Status(
                name=str(_get(s, "name")),
                short_name=_text(s, "shortName"),
                state=_text(s, "state"),
                icon=_text(s, "icon"),
                color=_text(s, "color"),
                scope=_get(s, "scope"),
            )
            for s in self._row["statuses"]
        ]

    @strawberry.field
    def tags(self) -> list[Tag]:
        return [Tag(name=str(_get(t, "name")), color=_text(t, "color")) for t in self._row["tags"]]

    @strawberry.field
    async def used_tags(self, info: strawberry.Info) -> list[str]:
        ctx: Context = info.context
        parts = [
            f"SELECT unnest(tags) AS tag FROM {self._ref.table(entity_type.table)}"
            for entity_type in ENTITY_TYPES.values()
        ]
        rows = await ctx.fetch(
            f"SELECT DISTINCT tag FROM ({' UNION ALL '.join(parts)}) t ORDER BY tag"
        )
        return [row["tag"] for row in rows]

    @strawberry.field
    async def link_types(self, info: strawberry.Info) -> list[LinkType]:
        ctx: Context = info.context
        rows = await ctx.fetch(
            "SELECT name, link_type, input_type, output_type, data "
            f"FROM {self._ref.table('link_types')} ORDER BY name"
        )
        return [
            LinkType(
                name=row["name"],
                link_type=row["link_type"],
                input_type=row["input_type"],
                output_type=row["output_type"],
                color=_text(row["data"], "color"),
                style=_text(row["data"], "style"),
            )
            for row in rows
        ]

    @strawberry.field
    async def product_types(self, info: strawberry.Info) -> list[ProductType]:
        names = await _product_type_names(info.context, self._ref, "product_type")
        return [ProductType(name=n, icon=None, color=None) for n in names]

    @strawberry.field
    async def product_base_types(self, info: strawberry.Info) -> list[ProductBaseType]:
        names = await _product_type_names(info.context, self._ref, "product_base_type")
        return [ProductBaseType(name=n) for n in names]

    # --- single entities -----------------------------------------------------------------

    @strawberry.field
    async def folder(self, info: strawberry.Info, id: str) -> FolderNode | None:
        return await single(info.context, self._ref, "folder", id)

    @strawberry.field
    async def task(self, info: strawberry.Info, id: str) -> TaskNode | None:
        return await single(info.context, self._ref, "task", id)

    @strawberry.field
    async def product(self, info: strawberry.Info, id: str) -> ProductNode | None:
        return await single(info.context, self._ref, "product", id)

    @strawberry.field
    async def version(self, info: strawberry.Info, id: str) -> VersionNode | None:
        return await single(info.context, self._ref, "version", id)

    @strawberry.field
    async def representation(self, info: strawberry.Info, id: str) -> RepresentationNode | None:
        return await single(info.context, self._ref, "representation", id)

    @strawberry.field
    async def workfile(self, info: strawberry.Info, id: str) -> WorkfileNode | None:
        return await single(info.context, self._ref, "workfile", id)

    # --- connections ---------------------------------------------------------------------

    @strawberry.field
    async def folders(
        self,
        info: strawberry.Info,
        ids: list[str] | None = None,
        parent_ids: list[str] | None = None,
        names: list[str] | None = None,
        paths: list[str] | None = None,
        path_ex: str | None = None,
        folder_types: list[str] | None = None,
        statuses: list[str] | None = None,
        assignees: list[str] | None = None,
        tags: list[str] | None = None,
        has_products: bool | None = None,
        has_tasks: bool | None = None,
        has_children: bool | None = None,
        has_links: HasLinksFilter | None = None,
        filter: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> FoldersConnection:  # type: ignore[valid-type]
        f = folder_filters(
            self._ref,
            ids=ids,
            parent_ids=parent_ids,
            names=names,
            paths=paths,
            path_ex=path_ex,
            folder_types=folder_types,
            statuses=statuses,
            assignees=assignees,
            tags=tags,
            has_products=has_products,
            has_tasks=has_tasks,
            has_children=has_children,
            has_links=has_links,
            filter=filter,
        )
        return await entity_page(info.context, self._ref, "folder", f.sql, first, after)

    @strawberry.field
    async def tasks(
        self,
        info: strawberry.Info,
        ids: list[str] | None = None,
        names: list[str] | None = None,
        task_types: list[str] | None = None,
        folder_ids: list[str] | None = None,
        assignees_any: list[str] | None = None,
        assignees: list[str] | None = None,
        statuses: list[str] | None = None,
        tags: list[str] | None = None,
        has_links: HasLinksFilter | None = None,
        filter: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> TasksConnection:  # type: ignore[valid-type]
        _reject_advanced_filter(filter)
        f = Filters(self._ref).ids("id", ids).ids("folder_id", folder_ids).any_of("name", names)
        f.any_of("task_type", task_types).any_of("status", statuses).tags(tags)
        if assignees_any is not None:
            f.where(f"e.assignees && {f.sql.param(list(assignees_any))}::text[]")
        if assignees is not None:
            f.where(f"e.assignees @> {f.sql.param(list(assignees))}::text[]")
        f.has_links(has_links)
        return await entity_page(info.context, self._ref, "task", f.sql, first, after)

    @strawberry.field
    async def products(
        self,
        info: strawberry.Info,
        ids: list[str] | None = None,
        names: list[str] | None = None,
        folder_ids: list[str] | None = None,
        product_types: list[str] | None = None,
        product_base_types: list[str] | None = None,
        statuses: list[str] | None = None,
        tags: list[str] | None = None,
        name_ex: str | None = None,
        path_ex: str | None = None,
        has_links: HasLinksFilter | None = None,
        filter: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> ProductsConnection:  # type: ignore[valid-type]
        _reject_advanced_filter(filter)
        f = Filters(self._ref).ids("id", ids).ids("folder_id", folder_ids).any_of("name", names)
        f.any_of("product_type", product_types).any_of("product_base_type", product_base_types)
        f.any_of("status", statuses).tags(tags).regex("e.name", name_ex)
        if path_ex is not None:
            f.where(
                f"EXISTS (SELECT 1 FROM {self._ref.table('folders')} pf WHERE pf.id = e.folder_id "
                f"AND ('/' || pf.path || '/' || e.name) ~ {f.sql.param(path_ex)})"
            )
        f.has_links(has_links)
        return await entity_page(info.context, self._ref, "product", f.sql, first, after)

    @strawberry.field
    async def versions(
        self,
        info: strawberry.Info,
        ids: list[str] | None = None,
        product_ids: list[str] | None = None,
        task_ids: list[str] | None = None,
        versions: list[int] | None = None,
        hero_only: bool | None = None,
        latest_only: bool | None = None,
        hero_or_latest_only: bool | None = None,
        statuses: list[str] | None = None,
        tags: list[str] | None = None,
        has_links: HasLinksFilter | None = None,
        filter: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> VersionsConnection:  # type: ignore[valid-type]
        f = version_filters(
            self._ref,
            ids=ids,
            product_ids=product_ids,
            task_ids=task_ids,
            versions=versions,
            hero_only=hero_only,
            latest_only=latest_only,
            hero_or_latest_only=hero_or_latest_only,
            statuses=statuses,
            tags=tags,
            filter=filter,
        )
        f.has_links(has_links)
        return await entity_page(info.context, self._ref, "version", f.sql, first, after)

    @strawberry.field
    async def representations(
        self,
        info: strawberry.Info,
        ids: list[str] | None = None,
        version_ids: list[str] | None = None,
        names: list[str] | None = None,
        statuses: list[str] | None = None,
        tags: list[str] | None = None,
        has_links: HasLinksFilter | None = None,
        filter: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> RepresentationsConnection:  # type: ignore[valid-type]
        _reject_advanced_filter(filter)
        f = Filters(self._ref).ids("id", ids).ids("version_id", version_ids).any_of("name", names)
        f.any_of("status", statuses).tags(tags).has_links(has_links)
        return await entity_page(info.context, self._ref, "representation", f.sql, first, after)

    @strawberry.field
    async def workfiles(
        self,
        info: strawberry.Info,
        ids: list[str] | None = None,
        task_ids: list[str] | None = None,
        paths: list[str] | None = None,
        path_ex: str | None = None,
        statuses: list[str] | None = None,
        tags: list[str] | None = None,
        has_links: HasLinksFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> WorkfilesConnection:  # type: ignore[valid-type]
        f = Filters(self._ref).ids("id", ids).ids("task_id", task_ids).any_of("path", paths)
        f.regex("e.path", path_ex).any_of("status", statuses).tags(tags).has_links(has_links)
        return await entity_page(info.context, self._ref, "workfile", f.sql, first, after)

    @strawberry.field
    async def activities(
        self,
        info: strawberry.Info,
        activity_ids: list[str] | None = None,
        activity_types: list[str] | None = None,
        entity_ids: list[str] | None = None,
        entity_names: list[str] | None = None,
        entity_type: str | None = None,
        changed_after: str | None = None,
        changed_before: str | None = None,
        reference_types: list[str] | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> ActivitiesConnection:
        return await resolve_activities(
            info.context,
            self._ref,
            activity_ids=activity_ids,
            activity_types=activity_types,
            entity_ids=entity_ids,
            entity_names=entity_names,
            entity_type=entity_type,
            changed_after=changed_after,
            changed_before=changed_before,
            reference_types=reference_types,
            first=first,
            after=after,
            last=last,
            before=before,
        )


def project_node(row: dict[str, Any], ref: ProjectRef) -> ProjectNode:
    return ProjectNode(
        name=row["name"],
        code=row["code"],
        label=row["label"],
        active=row["active"],
        library=row["library"],
        project_name=row["name"],
        _row=row,
        _ref=ref,
    )


async def resolve_project(ctx: Context, name: str) -> ProjectNode:
    ref, row = await ctx.project(name)
    return project_node(row, ref)


@strawberry.type
class ProjectEdge:
    node: ProjectNode
    cursor: str | None


@strawberry.type
class ProjectsConnection:
    edges: list[ProjectEdge]
    page_info: PageInfo


async def resolve_projects(
    ctx: Context,
    name: str | None,
    names: list[str] | None,
    code: str | None,
    active: bool | None,
    library: bool | None,
    first: int | None,
    after: str | None,
) -> ProjectsConnection:
    """Projects in name order; any logged-in user sees every project (no access groups)."""
    limit = page_size(first)
    sql = SqlBuilder()
    if name is not None:
        sql.where(
            f"public.project_schema_name(name) = public.project_schema_name({sql.param(name)})"
        )
    if names is not None:
        sql.where(f"name = ANY({sql.param(list(names))}::text[])")
    if code is not None:
        sql.where(f"code = {sql.param(code)}")
    if active is not None:
        sql.where(f"active = {sql.param(active)}")
    if library is not None:
        sql.where(f"library = {sql.param(library)}")
    if after:
        sql.where(f'name COLLATE "C" > {sql.param(decode_cursor(after, (str,))[0])}')
    rows = [
        dict(row)
        for row in await ctx.fetch(
            f'SELECT * FROM public.projects {sql.where_clause} ORDER BY name COLLATE "C" '
            f"LIMIT {sql.param(limit + 1)}",
            *sql.args,
        )
    ]
    more = len(rows) > limit
    rows = rows[:limit]
    edges = [
        ProjectEdge(node=project_node(r, ProjectRef.from_row(r)), cursor=encode_cursor(r["name"]))
        for r in rows
    ]
    return ProjectsConnection(
        edges=edges,
        page_info=PageInfo(has_next_page=more, end_cursor=edges[-1].cursor if edges else None),
    )


async def all_product_types(ctx: Context) -> list[ProductType]:
    """Every product type used in any project: one statement over every project schema."""
    rows = await ctx.fetch("SELECT name FROM public.projects ORDER BY name")
    if not rows:
        return []
    parts = [f"SELECT product_type FROM {quoted_schema(row['name'])}.products" for row in rows]
    found = await ctx.fetch(
        f"SELECT DISTINCT product_type FROM ({' UNION '.join(parts)}) t ORDER BY 1"
    )
    return [ProductType(name=row["product_type"], icon=None, color=None) for row in found]
