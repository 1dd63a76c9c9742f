"""Relay connections: bounded pages and opaque cursors.

A page holds at most MAX_PAGE items whatever `first`/`last` asks for. A cursor is base64 of the
sort key of the last row a page held (the entity id, or (created_at, id) for the lists sorted by
time); a cursor we did not issue is a GraphQL error, never a SQL error.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import strawberry

from ayon_server.exceptions import BadRequestException
from ayon_server.lib.keyset import decode_key, encode_key

MAX_PAGE = 2000


@strawberry.type
class PageInfo:
    has_next_page: bool = False
    has_previous_page: bool = False
    start_cursor: str | None = None
    end_cursor: str | None = None


def page_size(first: int | None, last: int | None = None) -> int:
    """The page size asked for, capped at MAX_PAGE (a full page when nothing is asked)."""
    asked = first if first is not None else last
    if asked is None:
        return MAX_PAGE
    if asked < 0:
        raise BadRequestException("first and last must not be negative")
    return min(asked, MAX_PAGE)


def encode_cursor(*key: Any) -> str:
    return encode_key(
        [
            v.isoformat() if isinstance(v, datetime) else v.hex if isinstance(v, uuid.UUID) else v
            for v in key
        ]
    )


def _bad_cursor() -> BadRequestException:
    return BadRequestException("Invalid cursor: pass an endCursor this server returned")


def decode_cursor(cursor: str, kinds: Sequence[type]) -> list[Any]:
    """The sort key a cursor holds, each part parsed as `kinds` says (str, uuid.UUID, datetime)."""
    try:
        values = decode_key(cursor)
        if len(values) != len(kinds):
            raise ValueError
        parsed: list[Any] = []
        for kind, value in zip(kinds, values, strict=True):
            if not isinstance(value, str):
                raise ValueError
            if kind is str:
                parsed.append(value)
            elif kind is uuid.UUID:
                parsed.append(uuid.UUID(hex=value))
            elif kind is datetime:
                moment = datetime.fromisoformat(value)
                if moment.tzinfo is None:
                    raise ValueError
                parsed.append(moment)
            else:
                raise ValueError
        return parsed
    except (TypeError, ValueError):
        raise _bad_cursor() from None


def decode_id_cursor(cursor: str) -> uuid.UUID:
    return decode_cursor(cursor, (uuid.UUID,))[0]
