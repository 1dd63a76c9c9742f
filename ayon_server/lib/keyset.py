"""Opaque keyset-pagination cursors: the (created_at, id) of the last row of a page.

Lists that page newest first on (created_at, id) — events, logs — hand this out as
`nextCursor`, so deep pages cost the same as the first and rows sharing a timestamp are neither
skipped nor repeated. `encode_key`/`decode_key` are the opaque text itself, which the GraphQL
connections use for their own sort keys too.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any


def encode_key(values: list[Any]) -> str:
    """The opaque text of a sort key: unpadded URL-safe base64 of its JSON list."""
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_key(cursor: str) -> list[Any]:
    """The JSON list a cursor of `encode_key` holds; ValueError for anything else."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, UnicodeDecodeError, TypeError, ValueError) as exc:
        raise ValueError("invalid cursor") from exc
    if not isinstance(values, list):
        raise ValueError("invalid cursor")
    return values


def encode_cursor(created_at: datetime, row_id: str | int) -> str:
    return encode_key([created_at.isoformat(), row_id])


def decode_cursor(cursor: str) -> tuple[datetime, str | int]:
    """(created_at, id) from a cursor we issued; ValueError for anything else."""
    try:
        moment, row_id = decode_key(cursor)
        created_at = datetime.fromisoformat(moment)
    except (TypeError, ValueError) as exc:
        raise ValueError("invalid cursor") from exc
    if created_at.tzinfo is None or isinstance(row_id, bool):
        raise ValueError("invalid cursor")
    if not isinstance(row_id, str | int):
        raise ValueError("invalid cursor")
    return created_at, row_id
