"""public.logs SQL: write batches of entries with one COPY, read them back page by page.

The writer keeps a connection of its own: a busy request pool never delays log writes and a log
flood never takes connections from requests. It also needs its own codecs, because COPY is binary
and the pool encodes JSONB as text.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args

import asyncpg

from ayon_server.config import LogLevel
from ayon_server.lib.keyset import decode_cursor, encode_cursor
from ayon_server.lib.postgres import CONNECTION_ERRORS, Postgres, SqlBuilder
from ayon_server.logs.queue_handler import LOG_COLUMNS, LogEntry

LEVELS: tuple[LogLevel, ...] = get_args(LogLevel)
CONNECT_TIMEOUT = 5.0
# How the writer's connection shows in pg_stat_activity.
APPLICATION_NAME = "ayon-log-collector"
WRITE_TIMEOUT = 30.0
# What PostgreSQL (or asyncpg, while encoding) says about a row that will never be accepted:
# retrying the same batch would only stall the collector.
REJECTED_ROW_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    UnicodeEncodeError,
)


def _encode_jsonb(value: Any) -> bytes:
    # JSONB's binary format is a version byte (1) followed by the JSON text.
    return b"\x01" + json.dumps(value).encode("utf-8")


def _decode_jsonb(data: bytes) -> Any:
    return json.loads(data[1:])


class LogWriter:
    """COPYs batches of LogEntry rows into public.logs over one dedicated connection."""

    def __init__(self, url: str, *, timeout: float = WRITE_TIMEOUT) -> None:
        self.url = url
        self.timeout = timeout
        self._conn: asyncpg.Connection | None = None

    async def _connection(self) -> asyncpg.Connection:
        # A connection the server closed while idle (restart, terminated backend) shows as
        # closed here and is replaced before the next batch, without a failed attempt.
        if self._conn is None or self._conn.is_closed():
            conn = await asyncpg.connect(
                self.url,
                timeout=CONNECT_TIMEOUT,
                server_settings={"application_name": APPLICATION_NAME},
            )
            await conn.set_type_codec(
                "jsonb",
                schema="pg_catalog",
                encoder=_encode_jsonb,
                decoder=_decode_jsonb,
                format="binary",
            )
            self._conn = conn
        return self._conn

    async def write(self, entries: Sequence[LogEntry]) -> int:
        """Write the entries; return how many the database refused as malformed.

        One COPY per batch. If the database refuses the batch because of a row's content, the
        rows are written one by one and only the refused ones are left out. Any other error
        (connection lost, timeout) raises, and nothing of the batch counts as written.
        """
        try:
            await self._copy(entries)
            return 0
        except REJECTED_ROW_ERRORS:
            if len(entries) == 1:
                return 1
        rejected = 0
        for entry in entries:
            try:
                await self._copy([entry])
            except REJECTED_ROW_ERRORS:
                rejected += 1
        return rejected

    async def _copy(self, entries: Sequence[LogEntry]) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                conn = await self._connection()
                await conn.copy_records_to_table(
                    "logs", schema_name="public", columns=LOG_COLUMNS, records=entries
                )
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError):
            raise  # the rows were refused; the connection is fine
        except BaseException:
            # Lost, timed out or cancelled half-way: never reuse it.
            self._discard()
            raise

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await conn.close(timeout=CONNECT_TIMEOUT)
        except (TimeoutError, *CONNECTION_ERRORS):
            conn.terminate()


@dataclass(frozen=True)
class LogFilter:
    """What GET /api/logs asks for; every value ends up a bind parameter."""

    min_level: LogLevel | None = None
    search: str | None = None
    module: str | None = None
    user: str | None = None
    project: str | None = None
    after: datetime | None = None
    before: datetime | None = None


@dataclass(frozen=True)
class LogPage:
    logs: list[asyncpg.Record]
    next_cursor: str | None


def escape_like(text: str) -> str:
    """`text` matched literally by LIKE/ILIKE ... ESCAPE '\\'."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def decode_log_cursor(cursor: str) -> tuple[datetime, int]:
    """(created_at, id) of the last record of the previous page; ValueError if it is not ours."""
    created_at, log_id = decode_cursor(cursor)
    if not isinstance(log_id, int):
        raise ValueError("invalid cursor")
    return created_at, log_id


async def list_logs(
    db: Postgres, query: LogFilter, *, limit: int, cursor: tuple[datetime, int] | None = None
) -> LogPage:
    """Newest first, keyset-paged on (created_at, id): `cursor` is the previous page's last key."""
    sql = SqlBuilder()

    if query.min_level is not None:
        levels = list(LEVELS[LEVELS.index(query.min_level) :])
        sql.where(f"level = ANY({sql.param(levels)}::text[])")
    if query.search:
        sql.where(f"message ILIKE {sql.param('%' + escape_like(query.search) + '%')} ESCAPE '\\'")
    if query.module:
        # A module matches itself and the loggers below it, like logging's hierarchy.
        sql.where(
            f"(module = {sql.param(query.module)} "
            f"OR module LIKE {sql.param(escape_like(query.module) + '.%')} ESCAPE '\\')"
        )
    if query.user:
        sql.where(f"user_name = {sql.param(query.user)}")
    if query.project:
        sql.where(f"project_name = {sql.param(query.project)}")
    if query.after:
        sql.where(f"created_at >= {sql.param(query.after)}")
    if query.before:
        sql.where(f"created_at < {sql.param(query.before)}")
    if cursor is not None:
        created_at, log_id = cursor
        # Spelled out rather than as a row comparison so the created_at index bounds the scan.
        at, below = sql.param(created_at), sql.param(log_id)
        sql.where(f"created_at <= {at} AND (created_at < {at} OR id < {below})")

    rows = await db.fetch(
        f"""
        SELECT id, created_at, level, message, module, user_name, project_name, context
        FROM public.logs {sql.where_clause}
        ORDER BY created_at DESC, id DESC
        LIMIT {sql.param(limit + 1)}
        """,
        *sql.args,
    )
    if len(rows) <= limit:
        return LogPage(logs=list(rows), next_cursor=None)
    last = rows[limit - 1]
    return LogPage(
        logs=list(rows[:limit]), next_cursor=encode_cursor(last["created_at"], last["id"])
    )
