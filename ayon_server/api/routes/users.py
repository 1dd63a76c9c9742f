"""Users: read yourself and others; admins create, change and delete users."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from ayon_server.api.auth import AdminUser, CurrentUser, require_self_or_admin, session_store
from ayon_server.api.dependencies import RuntimeDep
from ayon_server.api.models.users import (
    SessionListResponse,
    SessionResponse,
    UserListResponse,
    UserResponse,
)
from ayon_server.api.openapi import error_responses
from ayon_server.auth import users
from ayon_server.auth.throttle import LoginThrottle
from ayon_server.exceptions import BadRequestException

router = APIRouter(prefix="/api/users", tags=["Users"])


class UserData(BaseModel):
    """The role flags an admin may set; other keys in `data` are kept as given."""

    model_config = ConfigDict(extra="allow")

    is_admin: bool | None = Field(default=None, alias="isAdmin")
    is_manager: bool | None = Field(default=None, alias="isManager")
    is_service: bool | None = Field(default=None, alias="isService")

    def as_dict(self) -> dict[str, Any]:
        data = self.model_dump(by_alias=True, exclude_unset=True)
        data.pop("password", None)  # never stored in data: passwords have their own column
        return data


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    active: bool = True
    attrib: dict[str, Any] = {}
    data: UserData = UserData()
    password: str | None = Field(default=None, min_length=1, max_length=1024)
    api_key: str | None = Field(default=None, alias="apiKey", min_length=32, max_length=256)


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    active: bool | None = None
    attrib: dict[str, Any] | None = None
    data: UserData | None = None


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(default=None, min_length=1, max_length=1024)
    api_key: str | None = Field(default=None, alias="apiKey", min_length=32, max_length=256)


@router.get("", response_model=UserListResponse)
async def list_users(_admin: AdminUser, runtime: RuntimeDep) -> UserListResponse:
    """Every user, for the admin UI (AYON's clients list users over GraphQL)."""
    return UserListResponse(users=[UserResponse.of(u) for u in await users.list_users(runtime.db)])


@router.get("/me", response_model=UserResponse)
async def get_me(caller: CurrentUser) -> UserResponse:
    return UserResponse.of(caller.user)


@router.get(
    "/{user_name}",
    response_model=UserResponse,
    response_model_exclude_unset=True,
    responses=error_responses(404),
)
async def get_user(user_name: str, caller: CurrentUser, runtime: RuntimeDep) -> UserResponse:
    if user_name == caller.name:
        return UserResponse.of(caller.user)
    user = await users.load_user(runtime.db, user_name)
    if caller.user.is_manager:
        return UserResponse.of(user)
    return UserResponse.public_view(user)


@router.put(
    "/{user_name}", status_code=201, response_class=Response, responses=error_responses(409)
)
async def create_user(
    user_name: str, body: NewUser, _admin: AdminUser, runtime: RuntimeDep
) -> Response:
    data = body.data.as_dict()
    if body.api_key and not data.get("isService"):
        raise BadRequestException("Only service users (data.isService) get an API key here")
    await users.create_user(
        runtime.db,
        users.validate_user_name(user_name),
        active=body.active,
        attrib=body.attrib,
        data=data,
        password=body.password,
        api_key=body.api_key,
    )
    return Response(status_code=201)


@router.patch(
    "/{user_name}", status_code=204, response_class=Response, responses=error_responses(404, 409)
)
async def patch_user(
    user_name: str, body: UserPatch, admin: AdminUser, runtime: RuntimeDep
) -> Response:
    data = body.data.as_dict() if body.data else None
    if user_name == admin.name and (body.active is False or (data or {}).get("isAdmin") is False):
        raise BadRequestException("You cannot deactivate or demote yourself")
    user = await users.update_user(
        runtime.db, user_name, active=body.active, attrib=body.attrib, data=data
    )
    if not user.active:
        await session_store(runtime).delete_for_user(user_name)
    return Response(status_code=204)


@router.patch(
    "/{user_name}/password",
    status_code=204,
    response_class=Response,
    responses=error_responses(404, 409),
)
async def change_password(
    user_name: str, body: PasswordChange, caller: CurrentUser, runtime: RuntimeDep
) -> Response:
    require_self_or_admin(
        caller, user_name, "Only administrators can change another user's password"
    )
    if body.password is None and body.api_key is None:
        raise BadRequestException("Give a new password or apiKey")
    target = await users.load_user(runtime.db, user_name)
    if body.api_key is not None:
        if not target.is_service:
            raise BadRequestException("Only service users can have an API key set this way")
        await users.set_api_key(runtime.db, user_name, body.api_key)
    if body.password is not None:
        await users.set_password(runtime.db, user_name, body.password)
        await LoginThrottle(runtime.redis).forget_user(user_name)
        # A new password ends the other sessions of that user.
        keep = caller.session.token if caller.session and user_name == caller.name else None
        for session in await session_store(runtime).list_for_user(user_name):
            if session.token != keep:
                await session_store(runtime).delete(session.token)
    return Response(status_code=204)


@router.delete(
    "/{user_name}", status_code=204, response_class=Response, responses=error_responses(404)
)
async def delete_user(user_name: str, admin: AdminUser, runtime: RuntimeDep) -> Response:
    if user_name == admin.name:
        raise BadRequestException("You cannot delete yourself")
    await users.delete_user(runtime.db, user_name)
    await session_store(runtime).delete_for_user(user_name)
    return Response(status_code=204)


@router.get("/{user_name}/sessions", response_model=SessionListResponse)
async def list_sessions(
    user_name: str, caller: CurrentUser, runtime: RuntimeDep
) -> SessionListResponse:
    require_self_or_admin(caller, user_name, "Only administrators can see another user's sessions")
    sessions = await session_store(runtime).list_for_user(user_name)
    current = caller.session.token if caller.session else None
    return SessionListResponse(
        sessions=[SessionResponse.of(s, current=s.token == current) for s in sessions]
    )


@router.delete("/{user_name}/sessions", status_code=204, response_class=Response)
async def logout_everywhere(user_name: str, caller: CurrentUser, runtime: RuntimeDep) -> Response:
    require_self_or_admin(caller, user_name, "Only administrators can end another user's sessions")
    await session_store(runtime).delete_for_user(user_name)
    return Response(status_code=204)
