"""Listing events for the web UI: filters and keyset pagination, newest first.

Pages are cut on (created_at, id), so a page boundary never skips or repeats an event however
many events share a timestamp, and deep pages cost the same as the first. The cursor is opaque to
clients: base64 of the last event's position.

A page holds at most `limit` events and about MAX_PAGE_BYTES of their stored summaries, payloads
and descriptions (at least one event): a page of large events ends early, with a next cursor,
instead of building a response of gigabytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ayon_server.events.naming import topic_like_pattern
from ayon_server.events.stream import COLUMNS, EventModel
from ayon_server.exceptions import BadRequestException
from ayon_server.lib.keyset import decode_cursor, encode_cursor
from ayon_server.lib.postgres import Postgres, SqlBuilder
from ayon_server.lib.timestamps import assume_utc

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_PAGE_BYTES = 16 * 1024**2


@dataclass
class EventQuery:
    """What to list. Each non-empty sequence matches any of its values; `*` in topics is a
    wildcard. Times are compared with created_at; naive datetimes are taken as UTC."""

    topics: Sequence[str] = ()
    statuses: Sequence[str] = ()
    projects: Sequence[str] = ()
    users: Sequence[str] = ()
    newer_than: datetime | None = None
    older_than: datetime | None = None
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


@dataclass
class EventPage:
    events: list[EventModel] = field(default_factory=list)
    next_cursor: str | None = None


def decode_event_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """(created_at, id) of the event a page ended with; 400 for anything we did not issue."""
    try:
        created_at, event_id = decode_cursor(cursor)
        if not isinstance(event_id, str):
            raise ValueError("invalid cursor")
        return created_at, uuid.UUID(hex=event_id)
    except ValueError:
        raise BadRequestException("Invalid cursor") from None


async def list_events(
    db: Postgres, query: EventQuery, *, page_bytes: int = MAX_PAGE_BYTES
) -> EventPage:
    if not 1 <= query.limit <= MAX_LIMIT:
        raise BadRequestException(f"limit must be between 1 and {MAX_LIMIT}")
    sql = SqlBuilder()

    if query.topics:
        patterns = [topic_like_pattern(topic) for topic in query.topics]
        sql.where(f"topic LIKE ANY({sql.param(patterns)}::text[])")
    for column, values in (
        ("status", query.statuses),
        ("project_name", query.projects),
        ("user_name", query.users),
    ):
        if values:
            sql.where(f"{column} = ANY({sql.param(list(values))}::text[])")
    if query.newer_than is not None:
        sql.where(f"created_at > {sql.param(assume_utc(query.newer_than))}")
    if query.older_than is not None:
        sql.where(f"created_at < {sql.param(assume_utc(query.older_than))}")
    if query.cursor is not None:
        created_at, event_id = decode_event_cursor(query.cursor)
        sql.where(f"(created_at, id) < ({sql.param(created_at)}, {sql.param(event_id)})")

    # One candidate more than asked tells whether there is a next page; the candidates' stored
    # sizes (not their values) decide where the byte budget cuts the page.
    rows = await db.fetch(
        f"""
        WITH candidates AS (
            SELECT id, created_at,
                pg_column_size(payload) + pg_column_size(summary)
                    + octet_length(description) AS bytes
            FROM public.events {sql.where_clause}
            ORDER BY created_at DESC, id DESC LIMIT {sql.param(query.limit + 1)}
        ), sized AS (
            SELECT id, count(*) OVER () AS candidates,
                sum(bytes) OVER (ORDER BY created_at DESC, id DESC) - bytes AS bytes_before
            FROM candidates
        )
        SELECT {COLUMNS}, sized.candidates FROM sized JOIN public.events USING (id)
        WHERE sized.bytes_before < {sql.param(page_bytes)}
        ORDER BY created_at DESC, id DESC
        """,
        *sql.args,
    )
    events = [EventModel.from_row(row) for row in rows[: query.limit]]
    next_cursor = None
    if rows and rows[0]["candidates"] > len(events):
        last = events[-1]
        next_cursor = encode_cursor(last.created_at, last.id)
    return EventPage(events=events, next_cursor=next_cursor)
