"""`GET /api/info`: version and uptime for anyone; user, attributes and sites for a caller.

The ayon-python-api client calls it on connect and parses `version` as strict semver. An
authenticated call carrying all four x-ayon-* site headers also upserts that client's site
record: there is no other registration endpoint.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from ayon_server.api.auth import Caller, authenticate, is_guest
from ayon_server.api.dependencies import RuntimeDep, ServerStateDep
from ayon_server.api.models.info import InfoResponse
from ayon_server.api.models.users import UserResponse
from ayon_server.api.openapi import error_responses
from ayon_server.attributes import list_attributes
from ayon_server.exceptions import UnauthorizedException
from ayon_server.runtime import Runtime
from ayon_server.sites.headers import InvalidSiteHeaders, site_from_headers
from ayon_server.sites.store import SiteInfo, list_sites, upsert_site
from ayon_server.version import __version__

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["System"])


async def info_caller(request: Request, runtime: RuntimeDep) -> Caller | None:
    """The caller, or None for anonymous and for a stale or invalid credential.

    As AYON's optional user: clients read the version here whatever state their token is in,
    and treat an error from /api/info as "server unreachable" rather than "log in again".
    """
    try:
        return await authenticate(request, runtime)
    except UnauthorizedException:
        return None


InfoCaller = Annotated[Caller | None, Depends(info_caller)]


@router.get(
    "/info",
    response_model=InfoResponse,
    response_model_exclude_none=True,
    responses=error_responses(403),
)
async def get_info(
    request: Request,
    state: ServerStateDep,
    runtime: RuntimeDep,
    caller: InfoCaller,
    full: bool = False,
) -> InfoResponse:
    info = InfoResponse(version=__version__, uptime=round(state.uptime(), 3))
    if full:
        # No SSO providers and no password recovery mail in this server.
        info.password_recovery_available = False
        info.hide_password_auth = False
        info.sso_options = []
    if caller is not None:
        info.user = UserResponse.of(caller.user).model_dump(by_alias=True)
        info.attributes = list_attributes()
        info.sites = await _caller_sites(request, runtime, caller)
    return info


async def _caller_sites(request: Request, runtime: Runtime, caller: Caller) -> list[SiteInfo]:
    """The caller's sites: the one this request comes from (registered now) first."""
    current = await _register_site(request, runtime, caller)
    others = await list_sites(runtime.db, user_name=caller.name)
    if current is None:
        return others
    return [current, *(site for site in others if site.id != current.id)]


async def _register_site(request: Request, runtime: Runtime, caller: Caller) -> SiteInfo | None:
    if is_guest(caller):
        return None
    try:
        site = site_from_headers(request.headers)
    except InvalidSiteHeaders as exc:
        # /api/info must still answer 200: the client treats any error here as "cannot connect".
        log.warning("site of user %s not registered: %s", caller.name, exc)
        return None
    if site is None:
        return None
    return await upsert_site(runtime.db, site, caller.name)
