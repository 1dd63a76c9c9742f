"""GET /api/info: the version, and for a logged-in caller their user, attributes and sites."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from ayon_server.sites.store import SiteInfo


class InfoResponse(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    version: str
    uptime: float
    # Login-page fields, only with ?full=true (AYON's login page reads them).
    password_recovery_available: bool | None = None
    hide_password_auth: bool | None = None
    sso_options: list[dict[str, str]] | None = None
    # Only for a logged-in caller.
    user: dict[str, Any] | None = None
    attributes: list[dict[str, Any]] | None = None
    sites: list[SiteInfo] | None = None
