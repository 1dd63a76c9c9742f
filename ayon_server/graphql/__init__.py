"""GraphQL (`POST /graphql`): the read-only subset of AYON's schema that ayon-python-api sends.

`project`/`projects`, the six entity types with their filters and parent references, entity
`links`, `activities`, `users`, `events` and `productTypes`, in AYON's Relay shapes (`edges {
node }`, `pageInfo { hasNextPage endCursor }`, `first`/`after`). Each connection at each level
of nesting is one SQL statement (see entities.py); pages are bounded (paging.MAX_PAGE).
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.extensions import QueryDepthLimiter

from ayon_server.graphql.context import Context
from ayon_server.graphql.events import EventsConnection, resolve_events
from ayon_server.graphql.projects import (
    ProductType,
    ProjectNode,
    ProjectsConnection,
    all_product_types,
    resolve_project,
    resolve_projects,
)
from ayon_server.graphql.users import UserNode, UsersConnection, load_user_node, resolve_users

__all__ = ["Context", "schema"]


@strawberry.type
class Query:
    @strawberry.field
    async def project(self, info: strawberry.Info, name: str) -> ProjectNode:
        return await resolve_project(info.context, name)

    @strawberry.field
    async def projects(
        self,
        info: strawberry.Info,
        name: str | None = None,
        names: list[str] | None = None,
        code: str | None = None,
        active: bool | None = None,
        library: bool | None = None,
        include_skeleton: bool | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> ProjectsConnection:
        return await resolve_projects(
            info.context, name, names, code, active, library, first, after
        )

    @strawberry.field
    async def users(
        self,
        info: strawberry.Info,
        names: list[str] | None = None,
        emails: list[str] | None = None,
        project_name: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> UsersConnection:
        return await resolve_users(info.context, names, emails, project_name, first, after)

    @strawberry.field
    async def user(self, info: strawberry.Info, name: str) -> UserNode | None:
        return await load_user_node(info.context, name)

    @strawberry.field
    async def me(self, info: strawberry.Info) -> UserNode | None:
        return await load_user_node(info.context, info.context.user.name)

    @strawberry.field
    async def events(
        self,
        info: strawberry.Info,
        ids: list[str] | None = None,
        topics: list[str] | None = None,
        projects: list[str] | None = None,
        users: list[str] | None = None,
        states: list[str] | None = None,
        statuses: list[str] | None = None,
        has_children: bool | None = None,
        include_logs: bool = False,
        newer_than: str | None = None,
        older_than: str | None = None,
        filter: str | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> EventsConnection:
        return await resolve_events(
            info.context,
            ids=ids,
            topics=topics,
            projects=projects,
            users=users,
            states=states if states is not None else statuses,
            has_children=has_children,
            include_logs=include_logs,
            newer_than=newer_than,
            older_than=older_than,
            filter=filter,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    @strawberry.field
    async def product_types(self, info: strawberry.Info) -> list[ProductType]:
        return await all_product_types(info.context)


class _Schema(strawberry.Schema):
    def process_errors(self, errors: list, execution_context: Any = None) -> None:
        """Not logged here: a client's malformed query is no server error, and the route
        logs the failures that are (see api.routes.graphql)."""


# The client's deepest query (representation -> version -> product -> folder -> field inside
# edges/node) is 9 levels; a cap keeps a hostile query from multiplying nested pages.
MAX_DEPTH = 16

schema = _Schema(query=Query, extensions=[lambda: QueryDepthLimiter(max_depth=MAX_DEPTH)])
