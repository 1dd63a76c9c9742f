"""public.metrics SQL: one snapshot per UTC day, replaced when collected again that day."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from ayon_server.lib.postgres import Postgres, rows_affected


async def save_snapshot(db: Postgres, day: date, snapshot: dict[str, Any]) -> None:
    """Store the day's snapshot; a second one that day replaces the first."""
    await db.execute(
        """
        INSERT INTO public.metrics (date, data) VALUES ($1, $2)
        ON CONFLICT (date) DO UPDATE SET data = EXCLUDED.data, updated_at = now()
        """,
        day,
        snapshot,
    )


async def count_snapshots_before(db: Postgres, cutoff: date) -> int:
    return await db.fetchval("SELECT count(*) FROM public.metrics WHERE date < $1", cutoff)


async def delete_snapshots_before(conn: asyncpg.Connection, cutoff: date, limit: int) -> int:
    """Delete at most `limit` snapshots of days before `cutoff`; return how many went."""
    status = await conn.execute(
        "DELETE FROM public.metrics WHERE id = ANY(ARRAY("
        "SELECT id FROM public.metrics WHERE date < $1 LIMIT $2))",
        cutoff,
        limit,
    )
    return rows_affected(status)


async def recent_snapshots(db: Postgres, days: int) -> list[tuple[date, dict[str, Any]]]:
    """The newest `days` snapshots, oldest first (for charts over time)."""
    rows = await db.fetch(
        "SELECT date, data FROM (SELECT date, data FROM public.metrics ORDER BY date DESC LIMIT $1)"
        " newest ORDER BY date",
        days,
    )
    return [(row["date"], row["data"] if isinstance(row["data"], dict) else {}) for row in rows]
