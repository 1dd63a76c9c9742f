"""GET /api/logs: a page of the server log, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ayon_server.config import LogLevel


class LogRecordModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: int
    created_at: datetime = Field(alias="createdAt")
    level: LogLevel
    message: str
    module: str | None
    user: str | None
    project: str | None
    context: dict[str, Any]


class LogsResponse(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    logs: list[LogRecordModel]
    next_cursor: str | None = Field(
        alias="nextCursor",
        description="Pass as `cursor` for the next (older) page; null at the end",
    )
