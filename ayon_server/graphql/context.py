"""What every resolver of one GraphQL request shares: the database, the caller, the loaders.

Statements go through `Context.fetch`, which counts them (the response tells the count in
`extensions.sqlStatements`, so tests and benchmarks can see that a nested query costs one
statement per level) and turns a value PostgreSQL refuses (an invalid regular expression in
`pathEx`, say) into a GraphQL error instead of an internal one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from strawberry.dataloader import DataLoader

from ayon_server.auth.users import User
from ayon_server.exceptions import BadRequestException
from ayon_server.lib.postgres import Postgres
from ayon_server.projects.names import validate_project_name
from ayon_server.projects.store import ProjectRef, project_not_found


@dataclass
class Context:
    db: Postgres
    user: User
    statements: int = 0
    loaders: dict[Hashable, DataLoader] = field(default_factory=dict)
    projects: dict[str, tuple[ProjectRef, dict[str, Any]]] = field(default_factory=dict)

    @property
    def user_name(self) -> str:
        return self.user.name

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        self.statements += 1
        try:
            return await self.db.fetch(query, *args)
        except asyncpg.DataError as exc:
            raise BadRequestException(f"Invalid filter value: {exc}") from None

    def loader(
        self, key: Hashable, load: Callable[[list[Any]], Awaitable[list[Any]]]
    ) -> DataLoader:
        """The request's DataLoader for `key`: every `.load()` of one resolution level is
        batched into one call of `load`, so a level costs one SQL statement, not one per row."""
        if key not in self.loaders:
            self.loaders[key] = DataLoader(load_fn=load)
        return self.loaders[key]

    async def project(self, name: str) -> tuple[ProjectRef, dict[str, Any]]:
        """The project and its public.projects row, read once per request (a missing project
        is a GraphQL error); names match as the REST API matches them."""
        if name not in self.projects:
            validate_project_name(name)
            rows = await self.fetch(
                "SELECT * FROM public.projects "
                "WHERE public.project_schema_name(name) = public.project_schema_name($1)",
                name,
            )
            if not rows:
                raise project_not_found(name)
            self.projects[name] = (ProjectRef.from_row(rows[0]), dict(rows[0]))
        return self.projects[name]
