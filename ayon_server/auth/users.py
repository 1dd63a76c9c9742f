"""public.users: AYON's user records (name, active, attrib, data) plus password and API key hashes.

Role flags live in `data` as AYON keeps them: isAdmin, isManager, isService.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from ayon_server.auth.passwords import hash_password_async, needs_rehash
from ayon_server.auth.tokens import hash_api_key
from ayon_server.exceptions import BadRequestException, ConflictException, NotFoundException
from ayon_server.lib.postgres import Postgres, rows_affected

USER_NAME_RE = re.compile(r"^[a-zA-Z0-9_]([a-zA-Z0-9_.\-]*[a-zA-Z0-9_])?$")
_COLUMNS = "name, active, attrib, data, password_hash, api_key_preview, created_at, updated_at"


@dataclass
class User:
    name: str
    active: bool = True
    attrib: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    password_hash: str | None = None
    api_key_preview: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> User:
        return cls(**dict(row))

    @property
    def is_admin(self) -> bool:
        return bool(self.data.get("isAdmin"))

    @property
    def is_manager(self) -> bool:
        return self.is_admin or bool(self.data.get("isManager"))

    @property
    def is_service(self) -> bool:
        return bool(self.data.get("isService"))

    def visible_data(self) -> dict[str, Any]:
        """`data` as clients see it (REST and GraphQL): the stored keys but secrets, with the
        role flags spelled out (a manager flag is not shown for an admin)."""
        data = {k: v for k, v in self.data.items() if k not in ("password",)}
        data.update(
            isAdmin=self.is_admin,
            isManager=self.is_manager and not self.is_admin,
            isService=self.is_service,
            isGuest=bool(self.data.get("isGuest")),
            isDeveloper=bool(self.data.get("isDeveloper")),
        )
        if self.api_key_preview:
            data["apiKeyPreview"] = self.api_key_preview
        return data


def validate_user_name(name: str) -> str:
    if not (1 <= len(name) <= 128) or not USER_NAME_RE.match(name):
        raise BadRequestException(f"Invalid user name {name!r}")
    return name


async def get_user(db: Postgres, name: str) -> User | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM public.users WHERE name = $1", name)
    return User.from_row(row) if row else None


async def load_user(db: Postgres, name: str) -> User:
    user = await get_user(db, name)
    if user is None:
        raise NotFoundException(f"User {name} not found")
    return user


async def list_users(db: Postgres) -> list[User]:
    """Every user, by name (a deployment has tens or hundreds, not millions)."""
    rows = await db.fetch(f"SELECT {_COLUMNS} FROM public.users ORDER BY name")
    return [User.from_row(row) for row in rows]


async def get_user_by_api_key(db: Postgres, key: str) -> User | None:
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM public.users WHERE api_key_hash = $1", hash_api_key(key)
    )
    return User.from_row(row) if row else None


def _api_key_values(api_key: str | None) -> tuple[str | None, str | None]:
    if api_key is None:
        return None, None
    if len(api_key) < 32:
        raise BadRequestException("API key must be at least 32 characters long")
    return hash_api_key(api_key), f"{api_key[:4]}***{api_key[-4:]}"


async def create_user(
    db: Postgres,
    name: str,
    *,
    active: bool = True,
    attrib: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    password: str | None = None,
    api_key: str | None = None,
) -> User:
    validate_user_name(name)
    key_hash, key_preview = _api_key_values(api_key)
    password_hash = await hash_password_async(password) if password else None
    try:
        row = await db.fetchrow(
            f"""
            INSERT INTO public.users (name, active, attrib, data, password_hash,
                                      api_key_hash, api_key_preview)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            RETURNING {_COLUMNS}
            """,
            name,
            active,
            attrib or {},
            data or {},
            password_hash,
            key_hash,
            key_preview,
        )
    except asyncpg.UniqueViolationError as exc:
        if "api_key" in (exc.constraint_name or ""):
            raise ConflictException("This API key is already in use") from None
        raise ConflictException(f"User {name} already exists") from None
    return User.from_row(row)


async def update_user(
    db: Postgres,
    name: str,
    *,
    active: bool | None = None,
    attrib: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> User:
    """Merge attrib and data into the stored ones (None values remove a key), set active."""
    async with db.transaction() as conn:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM public.users WHERE name = $1 FOR UPDATE", name
        )
        if row is None:
            raise NotFoundException(f"User {name} not found")
        user = User.from_row(row)
        new_attrib = _merge(user.attrib, attrib)
        new_data = _merge(user.data, data)
        row = await conn.fetchrow(
            f"""
            UPDATE public.users SET active = $2, attrib = $3, data = $4, updated_at = now()
            WHERE name = $1 RETURNING {_COLUMNS}
            """,
            name,
            user.active if active is None else active,
            new_attrib,
            new_data,
        )
    return User.from_row(row)


def _merge(current: dict[str, Any], patch: dict[str, Any] | None) -> dict[str, Any]:
    merged = dict(current)
    for key, value in (patch or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


async def set_password(db: Postgres, name: str, password: str | None) -> None:
    """Set (or with None, remove) the password."""
    password_hash = await hash_password_async(password) if password else None
    status = await db.execute(
        "UPDATE public.users SET password_hash = $2, updated_at = now() WHERE name = $1",
        name,
        password_hash,
    )
    if status.endswith(" 0"):
        raise NotFoundException(f"User {name} not found")


async def upgrade_password_hash(db: Postgres, user: User, password: str) -> bool:
    """Re-hash `password`, just verified against the user's stored hash, if that hash was made
    with older argon2 parameters; True when the new hash was stored.

    A login is the only moment the password is known, so outdated hashes heal as users log in.
    Only the verified hash is replaced: a password changed meanwhile is never overwritten.
    """
    if user.password_hash is None or not needs_rehash(user.password_hash):
        return False
    status = await db.execute(
        "UPDATE public.users SET password_hash = $3 WHERE name = $1 AND password_hash = $2",
        user.name,
        user.password_hash,
        await hash_password_async(password),
    )
    return rows_affected(status) == 1


async def set_api_key(db: Postgres, name: str, api_key: str | None) -> None:
    key_hash, key_preview = _api_key_values(api_key)
    try:
        status = await db.execute(
            """
            UPDATE public.users SET api_key_hash = $2, api_key_preview = $3, updated_at = now()
            WHERE name = $1
            """,
            name,
            key_hash,
            key_preview,
        )
    except asyncpg.UniqueViolationError:
        raise ConflictException("This API key is already in use") from None
    if status.endswith(" 0"):
        raise NotFoundException(f"User {name} not found")


async def delete_user(db: Postgres, name: str) -> None:
    status = await db.execute("DELETE FROM public.users WHERE name = $1", name)
    if status.endswith(" 0"):
        raise NotFoundException(f"User {name} not found")
