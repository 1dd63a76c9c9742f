"""Client site records: list them, and let admins delete one.

Sites are registered by GET /api/info, never here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from ayon_server.api.auth import AdminUser, CurrentUser
from ayon_server.api.dependencies import RuntimeDep
from ayon_server.api.openapi import error_responses
from ayon_server.exceptions import NotFoundException
from ayon_server.sites.headers import MAX_HOSTNAME_LENGTH, Platform
from ayon_server.sites.store import SiteInfo, delete_site, list_sites

router = APIRouter(prefix="/api/system", tags=["System"])


@router.get("/sites")
async def get_sites(
    caller: CurrentUser,
    runtime: RuntimeDep,
    platform: Platform | None = None,
    hostname: Annotated[str | None, Query(max_length=MAX_HOSTNAME_LENGTH)] = None,
) -> list[SiteInfo]:
    """Sites filtered by platform and hostname; a non-manager sees only the sites they used."""
    return await list_sites(
        runtime.db,
        platform=platform,
        hostname=hostname,
        user_name=None if caller.user.is_manager else caller.name,
    )


@router.delete(
    "/sites/{site_id}", status_code=204, response_class=Response, responses=error_responses(404)
)
async def remove_site(site_id: str, _admin: AdminUser, runtime: RuntimeDep) -> Response:
    if not await delete_site(runtime.db, site_id):
        raise NotFoundException(f"Site {site_id} not found")
    return Response(status_code=204)
