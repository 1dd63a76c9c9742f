"""Users with the role flags a test needs, and a session for one of them."""

from __future__ import annotations

import secrets

import httpx

from ayon_server.auth.users import create_user
from ayon_server.runtime import Runtime


async def make_user(
    runtime: Runtime,
    name: str | None = None,
    *,
    password: str = "correct horse battery",
    api_key: str | None = None,
    **flags: bool,
) -> str:
    """A user with a unique name and the given role flags (isAdmin=True, isService=True...)."""
    name = name or f"user_{secrets.token_hex(4)}"
    await create_user(
        runtime.db, name, password=password, api_key=api_key, data=dict(flags) or None
    )
    return name


async def login(
    client: httpx.AsyncClient, name: str, password: str = "correct horse battery"
) -> dict[str, str]:
    """Authorization headers of a fresh session for that user."""
    response = await client.post("/api/auth/login", json={"name": name, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}
