"""clean_logs: drop day partitions of public.logs past the retention, trim the boundary ones.

Partitions entirely older than the cutoff are dropped whole (cheap, no dead tuples), up to
DROPS_PER_TRANSACTION in one statement, so a month of expired days costs one or two short locks
of public.logs rather than one per day. The partition holding the cutoff and the DEFAULT
partition (clock skew, imported records) lose their expired rows in batches. Every expired row
goes, however old; no row inside the retention does.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import asyncpg

from ayon_server.lib.postgres import quote_ident
from ayon_server.logs.partitions import (
    LogPartition,
    drop_partitions,
    ensure_partitions,
    list_partitions,
)
from maintenance.batching import rows_affected, run_in_batches
from maintenance.tasks.base import MaintenanceTask, TaskContext

_PARTITION_NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,63}$")
# How long dropping a partition may wait for readers before the task gives up (next run retries).
DROP_LOCK_TIMEOUT = "10s"
# Partitions dropped by one statement (one transaction, one lock of public.logs).
DROPS_PER_TRANSACTION = 64


def _table(partition: LogPartition) -> str:
    if not _PARTITION_NAME_RE.match(partition.name):
        raise ValueError(f"log partition {partition.name!r} does not have a plain name")
    return f"public.{quote_ident(partition.name)}"


class CleanLogs(MaintenanceTask):
    name = "clean_logs"
    counts = ("partitionsDropped", "deleted", "partitionsCreated")

    async def run(self, ctx: TaskContext) -> None:
        cutoff = ctx.now - timedelta(days=ctx.config.log_retention_days)
        ctx.report.set("cutoff", cutoff.isoformat())
        async with ctx.runtime.db.acquire() as conn:
            if not ctx.dry_run:
                # The maintenance role may run without a server: keep the days ahead ready.
                created = await ensure_partitions(conn, ctx.runtime.settings.log_partitions_ahead)
                ctx.report.add("partitionsCreated", len(created))
            partitions = await list_partitions(conn)

        expired = [p for p in partitions if p.upper is not None and p.upper <= cutoff]
        ctx.report.expect(len(partitions))
        for start in range(0, len(expired), DROPS_PER_TRANSACTION):
            ctx.check_stop()
            group = expired[start : start + DROPS_PER_TRANSACTION]
            rows = await ctx.runtime.db.fetchval(
                "SELECT " + " + ".join(f"(SELECT count(*) FROM {_table(p)})" for p in group)
            )
            if not ctx.dry_run:
                await self._drop(ctx, group)
            ctx.report.add("deleted", rows)
            ctx.report.add("partitionsDropped", len(group))
            ctx.report.advance(len(group))
        for partition in partitions:
            if partition in expired:
                continue
            ctx.check_stop()
            if partition.lower is None or partition.lower < cutoff:
                await self._delete_expired(ctx, _table(partition), cutoff)
            ctx.report.advance()

    async def _drop(self, ctx: TaskContext, group: list[LogPartition]) -> None:
        async with ctx.runtime.db.transaction() as conn:
            # Dropping locks public.logs; never queue writers behind a long reader for long.
            await conn.execute("SELECT set_config('lock_timeout', $1, true)", DROP_LOCK_TIMEOUT)
            try:
                await drop_partitions(conn, [p.name for p in group])
            except asyncpg.LockNotAvailableError:
                raise RuntimeError(
                    f"could not drop log partitions {group[0].name} to {group[-1].name}: "
                    f"public.logs stayed locked for {DROP_LOCK_TIMEOUT}; the next run tries again"
                ) from None

    async def _delete_expired(self, ctx: TaskContext, table: str, cutoff: datetime) -> None:
        if ctx.dry_run:
            ctx.report.add(
                "deleted",
                await ctx.runtime.db.fetchval(
                    f"SELECT count(*) FROM {table} WHERE created_at < $1", cutoff
                ),
            )
            return

        async def batch(conn: asyncpg.Connection, limit: int) -> int:
            status = await conn.execute(
                f"""
                DELETE FROM {table} WHERE ctid = ANY(ARRAY(
                    SELECT ctid FROM {table} WHERE created_at < $1 LIMIT $2
                ))
                """,
                cutoff,
                limit,
            )
            return rows_affected(status)

        await run_in_batches(ctx, batch)
