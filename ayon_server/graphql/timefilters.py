"""Timestamps given as GraphQL string arguments (newerThan, changedAfter, ...)."""

from __future__ import annotations

from datetime import datetime

from ayon_server.exceptions import BadRequestException
from ayon_server.lib.timestamps import assume_utc


def parse_time(value: str | None, argument: str) -> datetime | None:
    if value is None:
        return None
    try:
        return assume_utc(datetime.fromisoformat(value))
    except ValueError:
        raise BadRequestException(f"{argument} must be an ISO 8601 timestamp") from None
