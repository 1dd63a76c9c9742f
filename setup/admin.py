"""Create the first admin user from AYON_ADMIN_USER / AYON_ADMIN_PASSWORD."""

from __future__ import annotations

import logging

import asyncpg

from ayon_server.auth.passwords import hash_password
from ayon_server.auth.users import USER_NAME_RE
from setup.database import SetupError

log = logging.getLogger("setup")


async def bootstrap_admin(conn: asyncpg.Connection, name: str, password: str) -> bool:
    """Create the admin unless a user of that name exists; True when created."""
    if not USER_NAME_RE.match(name):
        raise SetupError(f"AYON_ADMIN_USER {name!r} is not a valid user name")
    if not password:
        raise SetupError("AYON_ADMIN_PASSWORD is empty")
    status = await conn.execute(
        """
        INSERT INTO public.users (name, active, attrib, data, password_hash)
        VALUES ($1, TRUE, $2, $3, $4)
        ON CONFLICT (name) DO NOTHING
        """,
        name,
        {"fullName": name},
        {"isAdmin": True},
        hash_password(password),
    )
    created = status.endswith(" 1")
    if created:
        log.info("created admin user %s", name)
    return created
