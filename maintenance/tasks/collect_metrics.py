"""collect_metrics: a daily snapshot of counts and sizes in public.metrics, optionally pushed.

One row per UTC day (a second collection that day replaces it), kept `metricsRetentionDays`.
Row counts of big tables are the planner's estimates, so the snapshot never scans them. When
`metricsPushUrl` is set the snapshot is POSTed there as JSON; a failed push fails the task (the
snapshot is stored all the same).
"""

from __future__ import annotations

from datetime import UTC, date, timedelta
from typing import Any

import asyncpg
import httpx

from ayon_server.version import __version__
from maintenance.batching import rows_affected, run_in_batches
from maintenance.tasks.base import MaintenanceTask, TaskContext

PUSH_TIMEOUT = 10.0

# Every table of the public and project schemas; a partitioned table sums its partitions.
_TABLE_SIZES = """
    SELECT n.nspname || '.' || c.relname AS name,
        (SELECT sum(pg_total_relation_size(t.relid)) FROM pg_partition_tree(c.oid) t)::bigint
            AS bytes,
        (SELECT sum(GREATEST(p.reltuples, 0)) FROM pg_partition_tree(c.oid) t
            JOIN pg_class p ON p.oid = t.relid WHERE t.isleaf)::bigint AS rows
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
      AND (n.nspname = 'public' OR starts_with(n.nspname, 'project_'))
    ORDER BY 1
"""


class CollectMetrics(MaintenanceTask):
    name = "collect_metrics"
    title = "MetricsCollector"

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        day = ctx.now.astimezone(UTC).date()
        cutoff = day - timedelta(days=ctx.config.metrics_retention_days)
        snapshot = await self._snapshot(ctx)
        result: dict[str, Any] = {"date": day.isoformat(), "tables": len(snapshot["tables"])}
        if ctx.dry_run:
            result["deleted"] = await ctx.runtime.db.fetchval(
                "SELECT count(*) FROM public.metrics WHERE date < $1", cutoff
            )
            return result

        await ctx.runtime.db.execute(
            """
            INSERT INTO public.metrics (date, data) VALUES ($1, $2)
            ON CONFLICT (date) DO UPDATE SET data = EXCLUDED.data, updated_at = now()
            """,
            day,
            snapshot,
        )
        result["deleted"] = await self._delete_expired(ctx, cutoff)
        if ctx.config.metrics_push_url:
            await self._push(ctx.config.metrics_push_url, day, snapshot)
            result["pushed"] = True
        return result

    async def _snapshot(self, ctx: TaskContext) -> dict[str, Any]:
        db = ctx.runtime.db
        counts = await db.fetchrow(
            """
            SELECT
                (SELECT count(*) FROM public.users) AS users,
                (SELECT count(*) FROM public.users WHERE active) AS active_users,
                (SELECT count(*) FROM public.sites) AS sites,
                pg_database_size(current_database()) AS database_bytes
            """
        )
        tables = {
            row["name"]: {"bytes": row["bytes"], "estimatedRows": row["rows"]}
            for row in await db.fetch(_TABLE_SIZES)
        }
        return {
            "serverVersion": __version__,
            "users": counts["users"],
            "activeUsers": counts["active_users"],
            "sites": counts["sites"],
            "databaseBytes": counts["database_bytes"],
            "tables": tables,
        }

    async def _delete_expired(self, ctx: TaskContext, cutoff: date) -> int:
        async def batch(conn: asyncpg.Connection, limit: int) -> int:
            status = await conn.execute(
                "DELETE FROM public.metrics WHERE id = ANY(ARRAY("
                "SELECT id FROM public.metrics WHERE date < $1 LIMIT $2))",
                cutoff,
                limit,
            )
            return rows_affected(status)

        return await run_in_batches(ctx, batch)

    async def _push(self, url: str, day: date, snapshot: dict[str, Any]) -> None:
        try:
            async with httpx.AsyncClient(timeout=PUSH_TIMEOUT) as client:
                response = await client.post(
                    url, json={"date": day.isoformat(), "metrics": snapshot}
                )
                response.raise_for_status()
        except httpx.HTTPError as exc:
            raise RuntimeError(f"snapshot stored, but pushing it to {url} failed: {exc}") from None
