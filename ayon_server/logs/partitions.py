"""Daily partitions of public.logs: create ahead, list with their bounds, drop.

Partitions cover whole UTC days and are named logs_YYYYMMDD. Bounds are read from the catalog
(not parsed from names), so a hand-made partition is handled correctly too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import asyncpg

from ayon_server.lib.postgres import quote_ident

DEFAULT_PARTITION = "logs_default"
_BOUND_RE = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True)
class LogPartition:
    name: str
    lower: datetime | None  # None for the DEFAULT partition
    upper: datetime | None


def partition_name(day: date) -> str:
    return f"logs_{day:%Y%m%d}"


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


async def list_partitions(conn: asyncpg.Connection) -> list[LogPartition]:
    # Bounds print in the session time zone; PostgreSQL parses them back, in the same query.
    rows = await conn.fetch(
        """
        SELECT c.relname AS name, b.m[1]::timestamptz AS lower, b.m[2]::timestamptz AS upper
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
        JOIN pg_namespace n ON n.oid = p.relnamespace
        CROSS JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid), $1) AS b(m)
        WHERE n.nspname = 'public' AND p.relname = 'logs'
        """,
        _BOUND_RE.pattern,
    )
    partitions = [LogPartition(row["name"], row["lower"], row["upper"]) for row in rows]
    return sorted(partitions, key=lambda p: (p.lower is None, p.lower or datetime.min))


async def ensure_partitions(
    conn: asyncpg.Connection, days_ahead: int = 3, today: date | None = None
) -> list[str]:
    """Create the partitions for today and the next `days_ahead` days; return those created.

    Rows that already landed in the DEFAULT partition for such a day are moved into the new
    partition in the same transaction (attaching would otherwise fail).
    """
    today = today or datetime.now(UTC).date()
    created = []
    async with conn.transaction():
        # Serialize with other replicas doing the same thing.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('ayon.logs.partitions'))")
        existing = await list_partitions(conn)
        for offset in range(days_ahead + 1):
            day = today + timedelta(days=offset)
            lower, upper = day_bounds(day)
            if any(p.lower is not None and p.lower < upper and lower < p.upper for p in existing):
                continue
            name = partition_name(day)
            table = f"public.{quote_ident(name)}"
            await conn.execute(
                f"CREATE TABLE {table} (LIKE public.logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
            )
            await conn.execute(
                f"""
                WITH moved AS (
                    DELETE FROM public.{DEFAULT_PARTITION}
                    WHERE created_at >= $1 AND created_at < $2
                    RETURNING *
                )
                INSERT INTO {table} SELECT * FROM moved
                """,
                lower,
                upper,
            )
            await conn.execute(
                f"ALTER TABLE public.logs ATTACH PARTITION {table} "
                f"FOR VALUES FROM ({_literal(lower)}) TO ({_literal(upper)})"
            )
            created.append(name)
    return created


def _literal(moment: datetime) -> str:
    # Partition bounds cannot be bind parameters; this is our own datetime, never user input.
    return f"'{moment.astimezone(UTC).isoformat()}'"


async def drop_partition(conn: asyncpg.Connection, name: str) -> None:
    await drop_partitions(conn, [name])


async def drop_partitions(conn: asyncpg.Connection, names: list[str]) -> None:
    """Drop these partitions in one statement: public.logs is locked once for all of them."""
    if names:
        tables = ", ".join(f"public.{quote_ident(name)}" for name in names)
        await conn.execute(f"DROP TABLE IF EXISTS {tables}")
