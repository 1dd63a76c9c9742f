"""Opaque keyset-pagination cursors: the (created_at, id) of the last row of a page.

Lists that page newest first on (created_at, id) — events, logs — hand this out as
`nextCursor`, so deep pages cost the same as the first and rows sharing a timestamp are neither
skipped nor repeated.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime


def encode_cursor(created_at: datetime, row_id: str | int) -> str:
    raw = json.dumps([created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str | int]:
    """(created_at, id) from a cursor we issued; ValueError for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        moment, row_id = json.loads(raw)
        created_at = datetime.fromisoformat(moment)
    except (binascii.Error, UnicodeDecodeError, TypeError, ValueError) as exc:
        raise ValueError("invalid cursor") from exc
    if created_at.tzinfo is None or isinstance(row_id, bool):
        raise ValueError("invalid cursor")
    if not isinstance(row_id, str | int):
        raise ValueError("invalid cursor")
    return created_at, row_id
