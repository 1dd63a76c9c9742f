"""asyncpg pool with JSONB codecs, transaction helpers and reconnect-on-restart.

The pool is created lazily (min_size=0), so a process starts even while PostgreSQL is down and
readiness reports the reason. A query outside a transaction that hits a connection killed by a
PostgreSQL restart is retried once on a fresh connection; inside a transaction the error surfaces,
because replaying half a transaction is the caller's decision.

With a `command_timeout`, connecting, waiting for a pooled connection and every statement are
bounded by it: a stalled server raises TimeoutError instead of hanging the caller. A connection
that failed at the connection level (broken, timed out, or left mid-operation by asyncpg) is
terminated before it goes back, so the pool never hands it out again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

# Errors that mean "this connection is gone", not "this query is wrong".
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    ConnectionError,
    OSError,
)
# Also connection-level: after one of these the connection's state is unknown.
BROKEN_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (*CONNECTION_ERRORS, TimeoutError)
# A connection that saw one of these is terminated, never put back in the pool.
_TERMINATE_ON = (*BROKEN_CONNECTION_ERRORS, asyncio.CancelledError)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(
            typename, schema="pg_catalog", encoder=json.dumps, decoder=json.loads
        )


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def redact(url: str) -> str:
    """URL without the password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _server_settings(application_name: str | None) -> dict[str, str] | None:
    return {"application_name": application_name} if application_name else None


async def connect_once(
    url: str, timeout: float = 5.0, *, application_name: str | None = None
) -> asyncpg.Connection:
    """A single connection with our codecs (setup, maintenance VACUUM, advisory locks).

    `application_name` is what pg_stat_activity shows for it.
    """
    conn = await asyncpg.connect(
        url, timeout=timeout, server_settings=_server_settings(application_name)
    )
    await _init_connection(conn)
    return conn


class Postgres:
    def __init__(
        self,
        url: str,
        *,
        max_size: int = 20,
        command_timeout: float | None = None,
        application_name: str | None = None,
    ):
        self.url = url
        self.max_size = max_size
        self.command_timeout = command_timeout
        # What pg_stat_activity shows for the pool's connections, so they can be told apart.
        self.application_name = application_name
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self.url,
                        min_size=0,
                        max_size=self.max_size,
                        init=_init_connection,
                        command_timeout=self.command_timeout,
                        timeout=self.command_timeout or 60.0,
                        max_inactive_connection_lifetime=300,
                        server_settings=_server_settings(self.application_name),
                    )
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), timeout=10)
            except (TimeoutError, *CONNECTION_ERRORS):
                pool.terminate()

    def pool_usage(self) -> tuple[int, int]:
        """(connections in use, pool size) for metrics; (0, 0) before first use."""
        if self._pool is None:
            return 0, 0
        size = self._pool.get_size()
        return size - self._pool.get_idle_size(), size

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        pool = await self.pool()
        async with pool.acquire(timeout=self.command_timeout) as conn:
            try:
                yield conn
            except BaseException as exc:
                if isinstance(exc, _TERMINATE_ON):
                    # Released, it would be reset on a socket in an unknown state (or hang
                    # there); a fresh connection replaces it. One that closed itself is
                    # already back in the pool (InterfaceError), and replaced.
                    with contextlib.suppress(asyncpg.InterfaceError):
                        conn.terminate()
                raise

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection inside one transaction: commit on success, roll back on error.

        After a connection-level error there is no rollback to wait for: the connection is
        terminated and PostgreSQL rolls back what it had.
        """
        async with self.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            try:
                yield conn
            except BaseException as exc:
                if not isinstance(exc, _TERMINATE_ON):
                    await transaction.rollback()
                raise
            await transaction.commit()

    async def _retrying(self, method: str, query: str, *args: Any) -> Any:
        for attempt in (1, 2):
            try:
                async with self.acquire() as conn:
                    return await getattr(conn, method)(query, *args)
            except CONNECTION_ERRORS as exc:
                # A stall is not retried (TimeoutError is an OSError): the caller has waited
                # the whole timeout already.
                if attempt == 2 or isinstance(exc, TimeoutError):
                    raise
                # The pool hands out a fresh connection once the dead one is released.
                await asyncio.sleep(0.1)
        raise AssertionError("unreachable")

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        return await self._retrying("fetch", query, *args)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        return await self._retrying("fetchrow", query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        return await self._retrying("fetchval", query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        return await self._retrying("execute", query, *args)


def quote_ident(name: str) -> str:
    """Quote an SQL identifier we built ourselves; callers validate names before this."""
    if not name or "\x00" in name:
        raise ValueError("empty or invalid identifier")
    return '"' + name.replace('"', '""') + '"'


def rows_affected(status: str) -> int:
    """Row count of a command status such as "DELETE 12"."""
    return int(status.rsplit(" ", 1)[-1])


class SqlBuilder:
    """Collects the bind values and conditions of a statement being built.

    `param(value)` appends the value and returns its `$n` placeholder, so a value never becomes
    SQL text; `where(condition)` ANDs a condition into `where_clause`.
    """

    def __init__(self, args: list[Any] | None = None) -> None:
        self.args = [] if args is None else args
        self.conditions: list[str] = []

    def param(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def where(self, condition: str) -> None:
        self.conditions.append(condition)

    @property
    def where_clause(self) -> str:
        """`WHERE a AND b ...`, or nothing when no condition was added."""
        return f"WHERE {' AND '.join(self.conditions)}" if self.conditions else ""
