"""`events`: the event log with AYON's filters. Managers and services see every event; other
users see the events they caused (as GET /api/events refuses them the whole log)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import strawberry

from ayon_server.events.naming import topic_like_pattern
from ayon_server.graphql.context import Context
from ayon_server.graphql.ids import parse_ids
from ayon_server.graphql.paging import PageInfo, decode_cursor, encode_cursor, page_size
from ayon_server.graphql.timefilters import parse_time
from ayon_server.lib.postgres import SqlBuilder


@strawberry.type
class EventNode:
    id: str
    hash: str
    topic: str
    sender: str | None
    sender_type: str | None
    project: str | None
    user: str | None
    depends_on: str | None
    status: str
    retries: int
    description: str
    created_at: datetime
    updated_at: datetime
    _summary: strawberry.Private[Any]

    @strawberry.field
    def summary(self) -> str:
        return json.dumps(self._summary or {})


@strawberry.type
class EventEdge:
    node: EventNode
    cursor: str | None


@strawberry.type
class EventsConnection:
    edges: list[EventEdge]
    page_info: PageInfo


def _node(row: Any) -> EventNode:
    return EventNode(
        id=row["id"].hex,
        hash=row["hash"],
        topic=row["topic"],
        sender=row["sender"],
        sender_type=row["sender_type"],
        project=row["project_name"],
        user=row["user_name"],
        depends_on=row["depends_on"].hex if row["depends_on"] else None,
        status=row["status"],
        retries=row["retries"],
        description=row["description"] or "",
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        _summary=row["summary"],
    )


async def resolve_events(
    ctx: Context,
    *,
    ids: list[str] | None,
    topics: list[str] | None,
    projects: list[str] | None,
    users: list[str] | None,
    states: list[str] | None,
    has_children: bool | None,
    include_logs: bool,
    newer_than: str | None,
    older_than: str | None,
    filter: str | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> EventsConnection:
    newest_first = last is not None or before is not None
    limit = page_size(first, last)
    sql = SqlBuilder()
    if ids is not None:
        sql.where(f"e.id = ANY({sql.param(parse_ids(ids, 'ids'))}::uuid[])")
    if topics is not None:
        patterns = [topic_like_pattern(topic) for topic in topics]
        sql.where(f"e.topic LIKE ANY({sql.param(patterns)}::text[])")
    elif not include_logs:
        sql.where("e.topic NOT LIKE 'log.%'")
    for column, values in (("project_name", projects), ("user_name", users), ("status", states)):
        if values is not None:
            sql.where(f"e.{column} = ANY({sql.param(list(values))}::text[])")
    if not (ctx.user.is_manager or ctx.user.is_service):
        sql.where(f"e.user_name = {sql.param(ctx.user.name)}")
    if has_children is not None:
        sub = "EXISTS (SELECT 1 FROM public.events c WHERE c.depends_on = e.id)"
        sql.where(sub if has_children else f"NOT {sub}")
    if (moment := parse_time(newer_than, "newerThan")) is not None:
        sql.where(f"e.created_at > {sql.param(moment)}")
    if (moment := parse_time(older_than, "olderThan")) is not None:
        sql.where(f"e.created_at < {sql.param(moment)}")
    if filter:
        words = [w for w in filter.lower().split() if len(w) >= 3]
        for word in words:
            pattern = sql.param(f"%{word}%")
            sql.where(
                f"(lower(e.topic) LIKE {pattern} OR lower(coalesce(e.project_name, '')) LIKE "
                f"{pattern} OR lower(coalesce(e.user_name, '')) LIKE {pattern} OR "
                f"lower(coalesce(e.description, '')) LIKE {pattern})"
            )
    cursor = before if newest_first else after
    if cursor:
        at, event_id = decode_cursor(cursor, (datetime, uuid.UUID))
        op = "<" if newest_first else ">"
        sql.where(f"(e.created_at, e.id) {op} ({sql.param(at)}, {sql.param(event_id)})")
    order = "DESC" if newest_first else "ASC"
    rows = await ctx.fetch(
        f"SELECT e.* FROM public.events e {sql.where_clause} "
        f"ORDER BY e.created_at {order}, e.id {order} LIMIT {sql.param(limit + 1)}",
        *sql.args,
    )
    more = len(rows) > limit
    edges = [
        EventEdge(node=_node(row), cursor=encode_cursor(row["created_at"], row["id"]))
        for row in rows[:limit]
    ]
    end = edges[-1].cursor if edges else None
    page = (
        PageInfo(has_previous_page=more, end_cursor=end)
        if newest_first
        else PageInfo(has_next_page=more, end_cursor=end)
    )
    return EventsConnection(edges=edges, page_info=page)
