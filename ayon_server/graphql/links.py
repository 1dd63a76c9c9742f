"""Entity links (`folder { links(direction, linkTypes) { edges { ... } } }`), as in AYON: the
link's fields sit on the edge itself, seen from the entity the connection hangs on (`in` links
point at it, `out` links leave it; `entityId`/`entityType` name the other end).

All the link connections of one nesting level are one statement: a DataLoader collects the
entity ids and a window numbers each entity's links, so each gets its own bounded page.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import strawberry

from ayon_server.exceptions import BadRequestException
from ayon_server.graphql.context import Context
from ayon_server.graphql.paging import PageInfo, decode_cursor, encode_cursor, page_size
from ayon_server.lib.postgres import SqlBuilder
from ayon_server.projects.store import ProjectRef


@strawberry.type
class LinkEdge:
    id: str
    link_type: str
    name: str | None
    project_name: str
    entity_type: str
    entity_id: str
    direction: str
    description: str
    author: str | None
    data: str | None
    cursor: str | None


@strawberry.type
class LinksConnection:
    edges: list[LinkEdge]
    page_info: PageInfo


def _edge(row: dict[str, Any], entity_id: uuid.UUID, project: ProjectRef) -> LinkEdge:
    link_type, input_type, output_type = [*row["link_type"].split("|"), "", ""][:3]
    outgoing = row["input_id"] == entity_id
    return LinkEdge(
        id=row["id"].hex,
        link_type=link_type,
        name=row["name"],
        project_name=project.name,
        entity_type=output_type if outgoing else input_type,
        entity_id=(row["output_id"] if outgoing else row["input_id"]).hex,
        direction="out" if outgoing else "in",
        description=f"{link_type} link with input {input_type} and output {output_type}",
        author=row["author"],
        data=json.dumps(row["data"] or {}),
        cursor=encode_cursor(row["created_at"], row["id"]),
    )


async def resolve_links(
    ctx: Context,
    project: ProjectRef,
    entity_id: str,
    direction: str | None,
    link_types: list[str] | None,
    names: list[str] | None,
    name_ex: str | None,
    first: int | None,
    after: str | None,
) -> LinksConnection:
    if direction not in (None, "in", "out"):
        raise BadRequestException("direction must be 'in' or 'out'")
    limit = page_size(first)
    position = decode_cursor(after, (datetime, uuid.UUID)) if after else None
    key = (
        "links",
        project.name,
        direction,
        tuple(link_types) if link_types is not None else None,
        tuple(names) if names is not None else None,
        name_ex,
        limit,
        tuple(position) if position else None,
    )

    async def load(entity_ids: list[uuid.UUID]) -> list[list[dict[str, Any]]]:
        sql = SqlBuilder()
        ids = sql.param(entity_ids)
        join = {
            "in": "l.output_id = x.entity_id",
            "out": "l.input_id = x.entity_id",
            None: "(l.output_id = x.entity_id OR l.input_id = x.entity_id)",
        }[direction]
        if link_types is not None:
            sql.where(
                f"split_part(l.link_type, '|', 1) = ANY({sql.param(list(link_types))}::text[])"
            )
        if names is not None:
            sql.where(f"l.name = ANY({sql.param(list(names))}::text[])")
        if name_ex is not None:
            sql.where(f"l.name ~ {sql.param(name_ex)}")
        if position is not None:
            sql.where(
                f"(l.created_at, l.id) > ({sql.param(position[0])}, {sql.param(position[1])})"
            )
        rows = await ctx.fetch(
            "SELECT * FROM (SELECT l.*, x.entity_id AS _entity, row_number() OVER "
            "(PARTITION BY x.entity_id ORDER BY l.created_at, l.id) AS _rank "
            f"FROM unnest({ids}::uuid[]) AS x(entity_id) JOIN {project.table('links')} l ON {join} "
            f"{sql.where_clause}) ranked WHERE _rank <= {sql.param(limit + 1)} "
            "ORDER BY _entity, created_at, id",
            *sql.args,
        )
        grouped: dict[uuid.UUID, list[dict[str, Any]]] = {i: [] for i in entity_ids}
        for row in rows:
            grouped[row["_entity"]].append(dict(row))
        return [grouped[i] for i in entity_ids]

    own_id = uuid.UUID(hex=entity_id)
    rows = await ctx.loader(key, load).load(own_id)
    more = len(rows) > limit
    edges = [_edge(row, own_id, project) for row in rows[:limit]]
    return LinksConnection(
        edges=edges,
        page_info=PageInfo(has_next_page=more, end_cursor=edges[-1].cursor if edges else None),
    )
