"""Wait for PostgreSQL with backoff and create the target database if it is missing."""

from __future__ import annotations

import asyncio
import logging
import re
import time

import asyncpg

from ayon_server.lib.postgres import (
    CONNECTION_ERRORS,
    connect_once,
    database_name,
    quote_ident,
    redact,
    with_database,
)

log = logging.getLogger("setup")
_DB_NAME_RE = re.compile(r"^[A-Za-z0-9_\-]{1,63}$")


class SetupError(Exception):
    """Setup cannot continue; the message says why and what to do."""


async def wait_for_postgres(url: str, timeout: float) -> None:
    """Return once the server accepts connections (to any database); raise after timeout."""
    deadline = time.monotonic() + timeout
    delay, attempt = 0.5, 0
    while True:
        attempt += 1
        try:
            conn = await connect_once(url, timeout=min(5.0, max(timeout, 0.5)))
        except asyncpg.InvalidCatalogNameError:
            return  # the server answers; the database is created next
        except (*CONNECTION_ERRORS, asyncpg.PostgresError, TimeoutError) as exc:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SetupError(
                    f"PostgreSQL at {redact(url)} did not answer within {timeout:.0f}s "
                    f"({exc.__class__.__name__}: {exc}); check AYON_POSTGRES_URL"
                ) from None
            wait = min(delay, remaining)
            log.warning(
                "waiting for PostgreSQL at %s (attempt %d, %s), retrying in %.1fs",
                redact(url),
                attempt,
                exc.__class__.__name__,
                wait,
            )
            await asyncio.sleep(wait)
            delay = min(delay * 2, 5.0)
        else:
            await conn.close()
            return


async def create_database(url: str) -> bool:
    """Create the database named in url if it does not exist; True when we created it."""
    name = database_name(url)
    if not _DB_NAME_RE.match(name):
        raise SetupError(f"database name {name!r} in AYON_POSTGRES_URL is not a plain identifier")
    try:
        conn = await connect_once(url)
    except asyncpg.InvalidCatalogNameError:
        pass
    else:
        await conn.close()
        return False
    admin = await connect_once(with_database(url, "postgres"))
    try:
        await admin.execute(f"CREATE DATABASE {quote_ident(name)}")
    except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
        return False  # another setup created it at the same moment
    finally:
        await admin.close()
    log.info("created database %s", name)
    return True
