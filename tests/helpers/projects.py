"""Projects and their entities, built through the public API: a project with its manager, one
entity of each type, and dropping the projects a test created."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from ayon_server.projects.names import quoted_schema
from ayon_server.runtime import Runtime
from tests.helpers.users import login, make_user


@dataclass
class Project:
    name: str
    headers: dict[str, str]  # a manager's
    user: str  # that manager's name


def unique_name(prefix: str = "prj") -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


async def create_project(
    client: httpx.AsyncClient, headers: dict[str, str], name: str | None = None, **body: Any
) -> str:
    """A new project (built-in anatomy unless the body says otherwise); its name."""
    name = name or unique_name()
    body = {"name": name, "code": name[:10] + secrets.token_hex(2), **body}
    response = await client.post("/api/projects", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return name


async def new_project(client: httpx.AsyncClient, runtime: Runtime) -> Project:
    """A fresh project and a manager who works in it."""
    user = await make_user(runtime, isManager=True)
    headers = await login(client, user)
    return Project(await create_project(client, headers), headers, user)


@asynccontextmanager
async def dropping_new_projects(runtime: Runtime) -> AsyncIterator[None]:
    """Drop the projects created inside, so later tests see a database without them."""
    before = {row["name"] for row in await runtime.db.fetch("SELECT name FROM public.projects")}
    try:
        yield
    finally:
        for row in await runtime.db.fetch("SELECT name FROM public.projects"):
            if row["name"] not in before:
                async with runtime.db.transaction() as conn:
                    await conn.execute("DELETE FROM public.projects WHERE name = $1", row["name"])
                    await conn.fetchval("SELECT public.drop_project_schema($1)", row["name"])


async def create(client: httpx.AsyncClient, project: Project, entity_type: str, **body: Any) -> str:
    """A new entity of that type through the REST API; its id."""
    response = await client.post(
        f"/api/projects/{project.name}/{entity_type}s", json=body, headers=project.headers
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def hierarchy(client: httpx.AsyncClient, project: Project) -> dict[str, str]:
    """One entity of each type, each under the previous: their ids by type."""
    ids: dict[str, str] = {}
    ids["folder"] = await create(client, project, "folder", name="assets", folderType="Asset")
    ids["task"] = await create(
        client, project, "task", name="modeling", taskType="Modeling", folderId=ids["folder"]
    )
    ids["product"] = await create(
        client, project, "product", name="modelMain", productType="model", folderId=ids["folder"]
    )
    ids["version"] = await create(
        client, project, "version", version=1, productId=ids["product"], taskId=ids["task"]
    )
    ids["representation"] = await create(
        client, project, "representation", name="abc", versionId=ids["version"]
    )
    ids["workfile"] = await create(
        client, project, "workfile", path="/work/assets/modeling_v001.ma", taskId=ids["task"]
    )
    return ids


async def count(runtime: Runtime, project: Project, table: str) -> int:
    """Rows in one of the project's tables."""
    return await runtime.db.fetchval(f"SELECT count(*) FROM {quoted_schema(project.name)}.{table}")
