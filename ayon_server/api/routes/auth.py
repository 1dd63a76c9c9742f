"""`POST /api/auth/login` and `POST /api/auth/logout` (a fixed contract)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from ayon_server.api.auth import CurrentUser, session_store
from ayon_server.api.dependencies import RuntimeDep
from ayon_server.api.models.common import DetailResponse
from ayon_server.api.models.users import LoginResponse, UserResponse
from ayon_server.api.openapi import error_responses
from ayon_server.auth.passwords import verify_or_waste_time_async
from ayon_server.auth.throttle import LoginThrottle
from ayon_server.auth.users import get_user, upgrade_password_hash
from ayon_server.exceptions import ForbiddenException

router = APIRouter(prefix="/api/auth", tags=["Authentication"])
INVALID_LOGIN = "Invalid login/password combination"


class LoginRequest(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)


def client_info(request: Request) -> dict[str, Any]:
    """What we record about the client of a session (x-ayon-* headers and its address)."""
    headers = request.headers
    return {
        "ip": request.client.host if request.client else None,
        "userAgent": headers.get("user-agent"),
        "siteId": headers.get("x-ayon-site-id"),
        "platform": headers.get("x-ayon-platform"),
        "hostname": headers.get("x-ayon-hostname"),
        "version": headers.get("x-ayon-version"),
    }


@router.post("/login", response_model=LoginResponse, responses=error_responses(429))
async def login(body: LoginRequest, request: Request, runtime: RuntimeDep) -> LoginResponse:
    address = request.client.host if request.client else "unknown"
    throttle = LoginThrottle(runtime.redis)
    await throttle.check(body.name, address)
    user = await get_user(runtime.db, body.name)
    valid = await verify_or_waste_time_async(user.password_hash if user else None, body.password)
    if user is None or not user.active or not valid:
        await throttle.record_failure(body.name, address)
        raise ForbiddenException(INVALID_LOGIN)
    await throttle.reset(body.name, address)
    await upgrade_password_hash(runtime.db, user, body.password)
    session = await session_store(runtime).create(user.name, client_info(request))
    return LoginResponse(
        detail=f"Logged in as {user.name}", token=session.token, user=UserResponse.of(user)
    )


@router.post("/logout", response_model=DetailResponse)
async def logout(caller: CurrentUser, runtime: RuntimeDep) -> dict[str, str]:
    if caller.session is not None:
        await session_store(runtime).delete(caller.session.token)
    return {"detail": "Logged out"}
