"""Users, login and sessions: AYON's UserModel and session listings."""

from __future__ import annotations

from typing import Any

from ayon_server.api.models.common import JsonObject, WireModel
from ayon_server.auth.sessions import Session
from ayon_server.auth.users import User
from ayon_server.lib.timestamps import isoformat_or_none


class UserResponse(WireModel):
    """AYON's UserModel (no secrets); someone else's user, to a non-manager, is only `name`
    and `attrib.fullName` (routes send it with `response_model_exclude_unset`)."""

    name: str
    active: bool | None = None
    attrib: dict[str, Any]
    own_attrib: list[str] | None = None
    data: JsonObject | None = None
    has_password: bool | None = None
    created_at: str | None = None
    updated_at: str | None = None

    @classmethod
    def of(cls, user: User) -> UserResponse:
        return cls(
            name=user.name,
            active=user.active,
            attrib={"fullName": None, "email": None, "avatarUrl": None, **user.attrib},
            own_attrib=sorted(user.attrib),
            data=user.visible_data(),
            has_password=user.password_hash is not None,
            created_at=isoformat_or_none(user.created_at),
            updated_at=isoformat_or_none(user.updated_at),
        )

    @classmethod
    def public_view(cls, user: User) -> UserResponse:
        return cls(name=user.name, attrib={"fullName": user.attrib.get("fullName")})


class UserListResponse(WireModel):
    users: list[UserResponse]


class LoginResponse(WireModel):
    detail: str
    token: str
    user: UserResponse


class SessionResponse(WireModel):
    token: str  # the first characters only: listings never show a whole token
    user_name: str
    created: float
    last_used: float
    client: JsonObject
    is_current: bool

    @classmethod
    def of(cls, session: Session, *, current: bool) -> SessionResponse:
        return cls(
            token=f"{session.token[:6]}…",
            user_name=session.user_name,
            created=session.created,
            last_used=session.last_used,
            client=session.client,
            is_current=current,
        )


class SessionListResponse(WireModel):
    sessions: list[SessionResponse]
