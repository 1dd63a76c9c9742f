"""`GET /api/info`: version and uptime, anonymous (AYON-COMPAT §1).

The ayon-python-api client calls it on connect and parses `version` as strict semver.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from ayon_server.api.dependencies import ServerStateDep
from ayon_server.version import __version__

router = APIRouter(prefix="/api", tags=["System"])


class InfoResponse(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    version: str
    uptime: float
    # Login-page fields, only with ?full=true (AYON's login page reads them).
    password_recovery_available: bool | None = None
    hide_password_auth: bool | None = None
    sso_options: list[dict[str, str]] | None = None


@router.get("/info", response_model=InfoResponse, response_model_exclude_none=True)
async def get_info(state: ServerStateDep, full: bool = False) -> InfoResponse:
    info = InfoResponse(version=__version__, uptime=round(state.uptime(), 3))
    if full:
        # No SSO providers and no password recovery mail in this server.
        info.password_recovery_available = False
        info.hide_password_auth = False
        info.sso_options = []
    # Extension point: a logged-in caller also gets `user`, `attributes`, `sites` and the site
    # registration from the x-ayon-* headers (AYON-COMPAT §1). That arrives with authentication,
    # as an optional current-user dependency of this route; anonymous answers stay as above.
    return info
