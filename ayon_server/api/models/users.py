"""Users, login and sessions: AYON's UserModel and session listings."""

from __future__ import annotations

from typing import Any

from ayon_server.api.models.common import JsonObject, OpenWireModel, WireModel


class UserResponse(OpenWireModel):
    """AYON's UserModel; someone else's user, to a non-admin, is only `name` and `attrib`."""

    name: str
    attrib: dict[str, Any]
    active: bool | None = None
    own_attrib: list[str] | None = None
    data: JsonObject | None = None
    has_password: bool | None = None
    created_at: str | None = None
    updated_at: str | None = None


class UserListResponse(WireModel):
    users: list[UserResponse]


class LoginResponse(WireModel):
    detail: str
    token: str
    user: UserResponse


class SessionResponse(OpenWireModel):
    token: str  # the first characters only
    user_name: str
    created: float
    last_used: float
    client: JsonObject
    is_current: bool


class SessionListResponse(WireModel):
    sessions: list[SessionResponse]
