"""clean_logs: drop day partitions of public.logs past the retention, trim the boundary ones.

A partition entirely older than the cutoff is dropped whole (cheap, no dead tuples). The partition
holding the cutoff and the DEFAULT partition (clock skew, imported records) lose their expired
rows in batches. Every expired row goes, however old; no row inside the retention does.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import asyncpg

from ayon_server.lib.postgres import quote_ident
from ayon_server.logs.partitions import (
    LogPartition,
    drop_partition,
    ensure_partitions,
    list_partitions,
)
from maintenance.batching import rows_affected, run_in_batches
from maintenance.tasks.base import MaintenanceTask, TaskContext

_PARTITION_NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,63}$")
# How long dropping a partition may wait for readers before the task gives up (next run retries).
DROP_LOCK_TIMEOUT = "10s"


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

        ctx.report.expect(len(partitions))
        for partition in partitions:
            ctx.check_stop()
            table = _table(partition)
            if partition.upper is not None and partition.upper <= cutoff:
                rows = await ctx.runtime.db.fetchval(f"SELECT count(*) FROM {table}")
                if not ctx.dry_run:
                    await self._drop(ctx, partition)
                ctx.report.add("deleted", rows)
                ctx.report.add("partitionsDropped")
            elif partition.lower is None or partition.lower < cutoff:
                await self._delete_expired(ctx, table, cutoff)
            ctx.report.advance()

    async def _drop(self, ctx: TaskContext, partition: LogPartition) -> None:
        async with ctx.runtime.db.transaction() as conn:
            # Dropping locks public.logs; never queue writers behind a long reader for long.
            await conn.execute("SELECT set_config('lock_timeout', $1, true)", DROP_LOCK_TIMEOUT)
            try:
                await drop_partition(conn, partition.name)
            except asyncpg.LockNotAvailableError:
                raise RuntimeError(
                    f"could not drop log partition {partition.name}: it stayed locked for "
                    f"{DROP_LOCK_TIMEOUT}; the next run tries again"
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
