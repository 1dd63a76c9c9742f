"""The deployment-wide maintenance lock: a session-level PostgreSQL advisory lock.

It is held on a dedicated connection for the whole run, so it is released when the run ends and
also when the process dies (PostgreSQL drops the session), whichever replica ran it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from ayon_server.lib.postgres import CONNECTION_ERRORS, Postgres, connect_once

# pg_advisory_lock(int4, int4) key: "AYON" and 1 for maintenance. The two-key form shows up in
# pg_locks as (classid, objid, objsubid = 2), which is how is_running() sees it without taking it.
LOCK_KEY: tuple[int, int] = (0x41594F4E, 1)
CONNECT_TIMEOUT = 5.0


class MaintenanceLocked(Exception):
    """Another maintenance run holds the lock; nothing was done."""


@asynccontextmanager
async def hold_maintenance_lock(url: str) -> AsyncIterator[asyncpg.Connection]:
    """Hold the lock for the duration of the block or raise MaintenanceLocked at once."""
    conn = await connect_once(url, timeout=CONNECT_TIMEOUT)
    try:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", *LOCK_KEY):
            raise MaintenanceLocked("another maintenance run is in progress")
        yield conn
    finally:
        # Closing the session releases the lock; no separate unlock round trip is needed.
        await _close(conn)


async def _close(conn: asyncpg.Connection) -> None:
    try:
        await conn.close(timeout=CONNECT_TIMEOUT)
    except (TimeoutError, *CONNECTION_ERRORS):
        conn.terminate()  # the server releases the lock when the socket goes away
    except asyncio.CancelledError:
        conn.terminate()
        raise


async def is_running(db: Postgres) -> bool:
    """True while some process, on any replica, holds the maintenance lock in this database."""
    return await db.fetchval(
        """
        SELECT EXISTS (
            SELECT 1 FROM pg_locks
            WHERE locktype = 'advisory' AND granted AND objsubid = 2
              AND classid = $1 AND objid = $2
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
        )
        """,
        *LOCK_KEY,
    )
