"""FastAPI dependencies that hand routes what the app built (the runtime, the server state)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from ayon_server.api.state import ServerState
from ayon_server.entities.registry import ENTITY_ID_PATTERN
from ayon_server.exceptions import ServiceUnavailableException
from ayon_server.runtime import Runtime


def get_server_state(request: Request) -> ServerState:
    return request.app.state.server


def get_runtime(request: Request) -> Runtime:
    runtime = get_server_state(request).runtime
    if runtime is None:
        # Only between app creation and the end of the lifespan startup.
        raise ServiceUnavailableException("Server is starting, retry later")
    return runtime


ServerStateDep = Annotated[ServerState, Depends(get_server_state)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
EntityIdPath = Annotated[str, Path(pattern=ENTITY_ID_PATTERN, description="32 hex characters")]
