"""`users`: AYON's user nodes. Anyone logged in lists users (names, flags, attributes, as
AYON shows colleagues); a user's `data` and API key preview are for managers and the user."""

from __future__ import annotations

import json
from typing import Any

import strawberry

from ayon_server.auth.users import User
from ayon_server.graphql.attrib import ATTRIB_TYPES, all_attrib_json, attrib_object, effective
from ayon_server.graphql.context import Context
from ayon_server.graphql.paging import PageInfo, decode_cursor, encode_cursor, page_size
from ayon_server.lib.postgres import SqlBuilder
from ayon_server.lib.timestamps import isoformat_or_none

UserAttribType = ATTRIB_TYPES["user"]
_COLUMNS = "name, active, attrib, data, password_hash, api_key_preview, created_at, updated_at"


@strawberry.type
class UserNode:
    name: str
    active: bool
    is_admin: bool
    is_manager: bool
    is_service: bool
    is_guest: bool
    is_developer: bool
    has_password: bool
    created_at: str | None
    updated_at: str | None
    default_access_groups: list[str]
    _user: strawberry.Private[User]
    _visible: strawberry.Private[bool]

    @strawberry.field
    def attrib(self) -> UserAttribType:  # type: ignore[valid-type]
        return attrib_object("user", effective("user", self._user.attrib))

    @strawberry.field
    def all_attrib(self) -> str:
        return all_attrib_json(effective("user", self._user.attrib))

    @strawberry.field
    def own_attrib(self) -> list[str]:
        return sorted(self._user.attrib)

    @strawberry.field
    def access_groups(self) -> str:
        return json.dumps({})

    @strawberry.field
    def api_key_preview(self) -> str | None:
        return self._user.api_key_preview if self._visible else None

    @strawberry.field
    def data(self) -> str | None:
        return json.dumps(self._user.visible_data()) if self._visible else None


def user_node(user: User, viewer: User) -> UserNode:
    payload = user.visible_data()
    return UserNode(
        name=user.name,
        active=user.active,
        is_admin=payload["isAdmin"],
        is_manager=payload["isManager"],
        is_service=payload["isService"],
        is_guest=payload["isGuest"],
        is_developer=payload["isDeveloper"],
        has_password=user.password_hash is not None,
        created_at=isoformat_or_none(user.created_at),
        updated_at=isoformat_or_none(user.updated_at),
        default_access_groups=[],
        _user=user,
        _visible=viewer.is_manager or viewer.name == user.name,
    )


async def load_user_node(ctx: Context, name: str) -> UserNode | None:
    async def load(names: list[str]) -> list[UserNode | None]:
        rows = await ctx.fetch(
            f"SELECT {_COLUMNS} FROM public.users WHERE name = ANY($1::text[])", names
        )
        found = {row["name"]: user_node(User.from_row(row), ctx.user) for row in rows}
        return [found.get(n) for n in names]

    return await ctx.loader("users-by-name", load).load(name)


@strawberry.type
class UserEdge:
    node: UserNode
    cursor: str | None


@strawberry.type
class UsersConnection:
    edges: list[UserEdge]
    page_info: PageInfo


async def resolve_users(
    ctx: Context,
    names: list[str] | None,
    emails: list[str] | None,
    project_name: str | None,
    first: int | None,
    after: str | None,
) -> UsersConnection:
    """Users in name order. `projectName` narrows nothing: this server has no per-project
    access groups, so every user may work on every project (the project must exist)."""
    limit = page_size(first)
    if project_name is not None:
        await ctx.project(project_name)
    sql = SqlBuilder()
    if names is not None:
        sql.where(f"name = ANY({sql.param(list(names))}::text[])")
    if emails is not None:
        sql.where(f"attrib->>'email' = ANY({sql.param(list(emails))}::text[])")
    if after:
        sql.where(f'name COLLATE "C" > {sql.param(decode_cursor(after, (str,))[0])}')
    rows: list[Any] = await ctx.fetch(
        f"SELECT {_COLUMNS} FROM public.users {sql.where_clause} "
        f'ORDER BY name COLLATE "C" LIMIT {sql.param(limit + 1)}',
        *sql.args,
    )
    more = len(rows) > limit
    edges = [
        UserEdge(node=user_node(User.from_row(row), ctx.user), cursor=encode_cursor(row["name"]))
        for row in rows[:limit]
    ]
    return UsersConnection(
        edges=edges,
        page_info=PageInfo(has_next_page=more, end_cursor=edges[-1].cursor if edges else None),
    )
