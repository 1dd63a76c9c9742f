"""Who is calling: FastAPI dependencies for the current user and role checks.

Accepted credentials: `Authorization: Bearer <64-hex session token>`,
`Authorization: ApiKey <key>`, `X-Api-Key: <key>`, an `accessToken` cookie and a `?token=` query
parameter (session tokens). `X-as-user` lets a service user act as another user.
A missing or invalid credential is 401; a valid one lacking rights is 403 (the AYON client drops
its token on any 401). `resolve_credential` is the one place these rules live: HTTP requests and
the websocket's auth message both go through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from ayon_server.api.dependencies import RuntimeDep
from ayon_server.auth.sessions import Session, SessionStore
from ayon_server.auth.users import User, get_user, get_user_by_api_key
from ayon_server.events.naming import is_name
from ayon_server.exceptions import ForbiddenException, UnauthorizedException
from ayon_server.lib.postgres import Postgres
from ayon_server.projects.changes import Actor
from ayon_server.runtime import Runtime


@dataclass
class Caller:
    """The authenticated user of a request and how they proved it."""

    user: User
    session: Session | None = None  # None when authenticated with an API key
    impersonated_by: str | None = None

    @property
    def name(self) -> str:
        return self.user.name


def session_store(runtime: Runtime) -> SessionStore:
    return SessionStore(runtime.redis, runtime.settings.session_ttl)


@dataclass(frozen=True)
class Credential:
    """What a client presented to prove who it is, before it is checked.

    `token` is a session token, `api_key` an API key. The websocket's auth message carries one
    string that may be either: it sets both, and a session with that token wins over a key.
    """

    token: str | None = None
    api_key: str | None = None
    as_user: str | None = None  # X-as-user: a service user acting as another user


def request_credential(request: Request) -> Credential | None:
    """The credential an HTTP request presents; None when it sends none."""
    as_user = request.headers.get("x-as-user") or None
    authorization = request.headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return Credential(token=value, as_user=as_user)
    if scheme.lower() == "apikey" and value:
        return Credential(api_key=value, as_user=as_user)
    if api_key := request.headers.get("x-api-key"):
        return Credential(api_key=api_key.strip(), as_user=as_user)
    if token := request.cookies.get("accessToken") or request.query_params.get("token"):
        return Credential(token=token, as_user=as_user)
    return None


async def resolve_credential(runtime: Runtime, credential: Credential) -> Caller:
    """The caller a credential proves, for HTTP requests and websockets alike.

    401 for an unknown or expired session token, an unknown API key, or a user who no longer
    exists or is inactive (their session is then dropped); 403 for an `as_user` the rule of
    `act_as` refuses.
    """
    sessions = session_store(runtime)
    session = await sessions.get(credential.token) if credential.token else None
    if session is not None:
        user = await get_user(runtime.db, session.user_name)
        if user is None or not user.active:
            await sessions.delete(session.token)
            raise UnauthorizedException("The user of this session no longer exists or is inactive")
        return Caller(user=user, session=session)
    if credential.api_key is None:
        raise UnauthorizedException("Invalid or expired session token")

    user = await get_user_by_api_key(runtime.db, credential.api_key)
    if user is None or not user.active:
        raise UnauthorizedException("Invalid API key")
    if credential.as_user is None:
        return Caller(user=user)
    target = await act_as(
        runtime.db,
        credential.as_user,
        by_service=user.is_service,
        doing="act as another user (X-as-user)",
    )
    if target is None:
        raise ForbiddenException(f"Cannot act as {credential.as_user!r}: no such active user")
    return Caller(user=target, impersonated_by=user.name)


async def authenticate(request: Request, runtime: Runtime) -> Caller | None:
    """The caller, None when no credential was sent; 401 when one was sent but is invalid."""
    credential = request_credential(request)
    return None if credential is None else await resolve_credential(runtime, credential)


async def act_as(db: Postgres, name: str, *, by_service: bool, doing: str) -> User | None:
    """The impersonation rule of `X-as-user` and operations' `asUser`: only a service user may
    act as another user, and only as an active one. None when `name` is no active user."""
    if not by_service:
        raise ForbiddenException(f"Only service users can {doing}")
    target = await get_user(db, name)
    return target if target is not None and target.active else None


async def optional_caller(request: Request, runtime: RuntimeDep) -> Caller | None:
    caller = await authenticate(request, runtime)
    request.state.caller = caller
    return caller


async def current_caller(request: Request, runtime: RuntimeDep) -> Caller:
    caller = await optional_caller(request, runtime)
    if caller is None:
        raise UnauthorizedException("Not logged in")
    return caller


async def manager_caller(caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
    if not caller.user.is_manager:
        raise ForbiddenException("Managers only")
    return caller


async def admin_caller(caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
    if not caller.user.is_admin:
        raise ForbiddenException("Administrators only")
    return caller


CurrentUser = Annotated[Caller, Depends(current_caller)]
ManagerUser = Annotated[Caller, Depends(manager_caller)]
AdminUser = Annotated[Caller, Depends(admin_caller)]


def is_guest(caller: Caller) -> bool:
    return bool(caller.user.data.get("isGuest"))


def require_not_guest(caller: Caller, message: str) -> None:
    """403 with `message` when the caller is a guest."""
    if is_guest(caller):
        raise ForbiddenException(message)


def require_self_or_admin(caller: Caller, user_name: str, message: str) -> None:
    """403 with `message` unless the caller is `user_name` or an administrator."""
    if user_name != caller.name and not caller.user.is_admin:
        raise ForbiddenException(message)


def sender_header(request: Request, header: str) -> str | None:
    """An x-sender / x-sender-type value, None when absent or not a valid NAME (ignored)."""
    value = request.headers.get(header)
    return value if value is not None and is_name(value) else None


def actor_of(caller: Caller, request: Request) -> Actor:
    """The caller as the author of a change, with the x-sender headers of the request."""
    return Actor(
        user=caller.name,
        is_manager=caller.user.is_manager,
        is_admin=caller.user.is_admin,
        is_service=caller.user.is_service,
        sender=sender_header(request, "x-sender"),
        sender_type=sender_header(request, "x-sender-type"),
    )


async def writer_actor(caller: CurrentUser, request: Request) -> Actor:
    """A logged-in user who may change project data (everyone but guests)."""
    require_not_guest(caller, "Guests cannot change project data")
    return actor_of(caller, request)


async def manager_actor(caller: ManagerUser, request: Request) -> Actor:
    return actor_of(caller, request)


WriterActor = Annotated[Actor, Depends(writer_actor)]
ManagerActor = Annotated[Actor, Depends(manager_actor)]
