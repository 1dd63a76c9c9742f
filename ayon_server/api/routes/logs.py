"""Stored log records: administrators search public.logs, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from ayon_server.api.auth import AdminUser
from ayon_server.api.dependencies import RuntimeDep
from ayon_server.api.models.logs import LogRecordModel, LogsResponse
from ayon_server.config import LogLevel
from ayon_server.exceptions import BadRequestException
from ayon_server.lib.timestamps import assume_utc
from ayon_server.logs.store import LogFilter, decode_log_cursor, list_logs

router = APIRouter(prefix="/api/logs", tags=["Logs"])

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@router.get("", response_model=LogsResponse, response_model_by_alias=True)
async def get_logs(
    _admin: AdminUser,
    runtime: RuntimeDep,
    level: Annotated[
        LogLevel | None, Query(description="Minimum level: warning returns warning and above")
    ] = None,
    search: Annotated[
        str | None,
        Query(min_length=1, max_length=1000, description="Case-insensitive text in the message"),
    ] = None,
    module: Annotated[
        str | None,
        Query(min_length=1, max_length=1000, description="Logger name; includes its children"),
    ] = None,
    user: Annotated[str | None, Query(min_length=1, max_length=1000)] = None,
    project: Annotated[str | None, Query(min_length=1, max_length=1000)] = None,
    after: Annotated[datetime | None, Query(description="Records at or after (ISO 8601)")] = None,
    before: Annotated[datetime | None, Query(description="Records before (ISO 8601)")] = None,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> LogsResponse:
    """Newest first. `nextCursor` pages on to older records; being a (time, id) key, not an
    offset, it neither skips nor repeats records while new ones arrive."""
    after, before = assume_utc(after), assume_utc(before)
    if after is not None and before is not None and after >= before:
        raise BadRequestException("`after` must be earlier than `before`")
    query = LogFilter(
        min_level=level,
        search=search,
        module=module,
        user=user,
        project=project,
        after=after,
        before=before,
    )
    try:
        key = decode_log_cursor(cursor) if cursor is not None else None
    except ValueError:
        raise BadRequestException("Invalid cursor: pass a nextCursor of this endpoint") from None
    page = await list_logs(runtime.db, query, limit=limit, cursor=key)
    return LogsResponse(
        logs=[
            LogRecordModel(
                id=row["id"],
                created_at=row["created_at"],
                level=row["level"],
                message=row["message"],
                module=row["module"],
                user=row["user_name"],
                project=row["project_name"],
                context=row["context"],
            )
            for row in page.logs
        ],
        next_cursor=page.next_cursor,
    )
