"""Web actions: list, execute, and the launcher's take and abort.

No addons are installed in this server, so `list` is always empty and `execute` treats every
action as a launcher action (ayon_server.actions.launcher). `take` and `abort` are called by the
AYON launcher without logging in: the 64-hex token is the credential.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Body, Header, Path, Query, Request
from pydantic import BaseModel, Field

from ayon_server.actions.context import ActionContext
from ayon_server.actions.launcher import (
    DEFAULT_ABORT_MESSAGE,
    LauncherAction,
    abort_launcher_action,
    dispatch_launcher_action,
    launcher_uri,
    take_launcher_action,
)
from ayon_server.api.auth import CurrentUser, require_not_guest
from ayon_server.api.dependencies import RuntimeDep
from ayon_server.api.models.actions import ActionListResponse, ExecuteResponse, TakeResponse
from ayon_server.api.openapi import error_responses
from ayon_server.events.naming import NAME_MAX_LENGTH, NAME_PATTERN
from ayon_server.exceptions import ForbiddenException

router = APIRouter(prefix="/api/actions", tags=["Actions"])

SEMVER_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
TOKEN_PATTERN = r"^[a-f0-9]{64}$"

Token = Annotated[str, Path(pattern=TOKEN_PATTERN, description="The 64-hex action token")]
Variant = Annotated[str, Query(min_length=1, max_length=128)]
# Unlike most routes, execute refuses bad sender headers (400) instead of ignoring them.
Sender = Annotated[str | None, Header(pattern=NAME_PATTERN, max_length=NAME_MAX_LENGTH)]
SenderType = Annotated[str, Header(pattern=NAME_PATTERN, max_length=NAME_MAX_LENGTH)]


class AbortRequest(BaseModel):
    message: str = Field(default=DEFAULT_ABORT_MESSAGE, max_length=4096)


def server_url(request: Request) -> str:
    """The URL the launcher calls back: the origin of the referer (the web UI page or the
    client's base URL, as AYON uses it), else the URL this request came in on."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.scheme in ("http", "https") and referer.netloc:
        return f"{referer.scheme}://{referer.netloc}"
    return str(request.base_url).rstrip("/")


@router.post("/list", response_model=ActionListResponse)
async def list_actions(
    caller: CurrentUser,
    context: Annotated[ActionContext | None, Body()] = None,
    variant: Annotated[str | None, Query(max_length=128)] = None,
    mode: Literal["simple", "dynamic", "all"] = "simple",
) -> dict[str, list[dict[str, Any]]]:
    """Actions available in a context: none, as no addon defines any (guests get none in AYON
    too). Answering keeps clients that ask before they trigger working."""
    return {"actions": []}


@router.post("/execute", response_model=ExecuteResponse, response_model_exclude_none=True)
async def execute_action(
    request: Request,
    caller: CurrentUser,
    runtime: RuntimeDep,
    addon_name: Annotated[str, Query(alias="addonName", pattern=NAME_PATTERN, max_length=64)],
    addon_version: Annotated[
        str, Query(alias="addonVersion", pattern=SEMVER_PATTERN, max_length=64)
    ],
    identifier: Annotated[str, Query(min_length=1, max_length=256)],
    context: Annotated[ActionContext | None, Body()] = None,
    variant: Variant = "production",
    x_sender: Sender = None,
    x_sender_type: SenderType = "api",
) -> ExecuteResponse:
    """Start an action: a launcher action, as there are no addons to define other kinds."""
    # As AYON: the launcher flow is for sessions of people, who send an Authorization header
    # (AYON passes its token on to addon code). An X-Api-Key alone is refused.
    _scheme, _, credential = request.headers.get("authorization", "").strip().partition(" ")
    if not credential.strip():
        raise ForbiddenException(
            "Running an action needs an Authorization header (Bearer <token>); "
            "an X-Api-Key header alone is not accepted here"
        )
    require_not_guest(caller, "Guests cannot run actions")
    action = LauncherAction(
        addon_name=addon_name,
        addon_version=addon_version,
        identifier=identifier,
        variant=variant,
        context=context or ActionContext(),
        user_name=caller.name,
        sender=x_sender,
        sender_type=x_sender_type,
    )
    token = await dispatch_launcher_action(runtime, action)
    return ExecuteResponse(
        type="launcher",
        success=True,
        message=f"Starting {identifier} in the AYON launcher",
        payload={"uri": launcher_uri(server_url(request), token)},
    )


@router.get("/take/{token}", response_model=TakeResponse, responses=error_responses(404, 409))
async def take_action(token: Token, runtime: RuntimeDep) -> TakeResponse:
    """The launcher claims a pending action: once per token, within the action timeout."""
    taken = await take_launcher_action(runtime, token, runtime.settings.action_timeout)
    return TakeResponse(**vars(taken))


@router.post(
    "/abort/{token}",
    responses={
        200: {"content": {"application/json": {"schema": {"type": "null"}}}},
        **error_responses(404, 409),
    },
)
async def abort_action(
    token: Token, runtime: RuntimeDep, body: Annotated[AbortRequest | None, Body()] = None
) -> None:
    """The launcher gives up on a pending or running action (e.g. the user skipped login)."""
    await abort_launcher_action(runtime, token, (body or AbortRequest()).message)
