"""`project.activities`: one edge per (activity, reference), as in AYON, so a comment shows up
on every entity it is attached to or mentions; `referenceTypes` defaults to the client's
`origin`. Newest first with `last`/`before`, oldest first with `first`/`after`."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import strawberry

from ayon_server.graphql.context import Context
from ayon_server.graphql.ids import parse_ids
from ayon_server.graphql.paging import PageInfo, decode_cursor, encode_cursor, page_size
from ayon_server.graphql.timefilters import parse_time
from ayon_server.graphql.users import UserNode, load_user_node
from ayon_server.lib.postgres import SqlBuilder
from ayon_server.projects.store import ProjectRef


@strawberry.type
class ActivityNode:
    project_name: str
    reference_id: str
    activity_id: str
    activity_type: str
    reference_type: str
    entity_type: str
    entity_id: str | None
    entity_name: str | None
    body: str
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    _data: strawberry.Private[dict[str, Any]]
    _author: strawberry.Private[str | None]

    @strawberry.field
    def activity_data(self) -> str:
        return json.dumps(self._data or {})

    @strawberry.field
    async def author(self, info: strawberry.Info) -> UserNode | None:
        if self._author is None:
            return None
        return await load_user_node(info.context, self._author)


@strawberry.type
class ActivityEdge:
    node: ActivityNode
    cursor: str | None


@strawberry.type
class ActivitiesConnection:
    edges: list[ActivityEdge]
    page_info: PageInfo


async def resolve_activities(
    ctx: Context,
    project: ProjectRef,
    *,
    activity_ids: list[str] | None,
    activity_types: list[str] | None,
    entity_ids: list[str] | None,
    entity_names: list[str] | None,
    entity_type: str | None,
    changed_after: str | None,
    changed_before: str | None,
    reference_types: list[str] | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> ActivitiesConnection:
    newest_first = last is not None or before is not None
    limit = page_size(first, last)
    sql = SqlBuilder()
    if activity_ids is not None:
        sql.where(f"a.id = ANY({sql.param(parse_ids(activity_ids, 'activityIds'))}::uuid[])")
    if activity_types is not None:
        sql.where(f"a.activity_type = ANY({sql.param(list(activity_types))}::text[])")
    if entity_ids is not None:
        sql.where(f"r.entity_id = ANY({sql.param(parse_ids(entity_ids, 'entityIds'))}::uuid[])")
    if entity_names is not None:
        sql.where(f"r.entity_name = ANY({sql.param(list(entity_names))}::text[])")
    if entity_type is not None:
        sql.where(f"r.entity_type = {sql.param(entity_type)}")
    if reference_types is not None:
        sql.where(f"r.reference_type = ANY({sql.param(list(reference_types))}::text[])")
    if (moment := parse_time(changed_after, "changedAfter")) is not None:
        sql.where(f"a.updated_at > {sql.param(moment)}")
    if (moment := parse_time(changed_before, "changedBefore")) is not None:
        sql.where(f"a.updated_at < {sql.param(moment)}")
    cursor = before if newest_first else after
    if cursor:
        at, ref_id = decode_cursor(cursor, (datetime, uuid.UUID))
        op = "<" if newest_first else ">"
        sql.where(f"(a.created_at, r.id) {op} ({sql.param(at)}, {sql.param(ref_id)})")
    order = "DESC" if newest_first else "ASC"
    refs = project.table("activity_references")
    rows = await ctx.fetch(
        "SELECT a.id AS activity_id, a.activity_type, a.body, a.tags, a.data, a.created_at, "
        "a.updated_at, r.id AS reference_id, r.reference_type, r.entity_type, r.entity_id, "
        "r.entity_name, "
        f"(SELECT w.entity_name FROM {refs} w WHERE w.activity_id = a.id "
        "AND w.reference_type = 'author' LIMIT 1) AS author "
        f"FROM {project.table('activities')} a JOIN {refs} r ON r.activity_id = a.id "
        f"{sql.where_clause} ORDER BY a.created_at {order}, r.id {order} "
        f"LIMIT {sql.param(limit + 1)}",
        *sql.args,
    )
    more = len(rows) > limit
    edges = [
        ActivityEdge(
            node=ActivityNode(
                project_name=project.name,
                reference_id=row["reference_id"].hex,
                activity_id=row["activity_id"].hex,
                activity_type=row["activity_type"],
                reference_type=row["reference_type"],
                entity_type=row["entity_type"],
                entity_id=row["entity_id"].hex if row["entity_id"] else None,
                entity_name=row["entity_name"],
                body=row["body"],
                tags=list(row["tags"]),
                created_at=row["created_at"],
                updated_at=row["updated_at"],
                _data=row["data"],
                _author=row["author"],
            ),
            cursor=encode_cursor(row["created_at"], row["reference_id"]),
        )
        for row in rows[:limit]
    ]
    end = edges[-1].cursor if edges else None
    page = (
        PageInfo(has_previous_page=more, end_cursor=end)
        if newest_first
        else PageInfo(has_next_page=more, end_cursor=end)
    )
    return ActivitiesConnection(edges=edges, page_info=page)
