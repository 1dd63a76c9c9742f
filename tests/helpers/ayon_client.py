"""The official (synchronous) ayon-python-api client driven from async tests, in threads."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ayon_api.server_api import ServerAPI

from ayon_server.runtime import Runtime
from tests.helpers.users import make_user

PASSWORD = "correct horse battery"


async def in_thread(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(function, *args, **kwargs)


async def logged_in(server_url: str, runtime: Runtime, **flags: bool) -> tuple[ServerAPI, str]:
    """A client logged in as a new user with these role flags; (client, user name)."""
    name = await make_user(runtime, password=PASSWORD, **flags)
    api = ServerAPI(server_url)
    await in_thread(api.login, name, PASSWORD)
    return api, name
