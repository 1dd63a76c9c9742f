"""collect_metrics: a daily snapshot of counts and sizes in public.metrics, optionally pushed.

One row per UTC day (a second collection that day replaces it), kept `metricsRetentionDays`.
The snapshot counts users, active sessions (Redis SCAN, never KEYS), projects (0 while
public.projects does not exist), events, logs and sites, and measures the database, its tables
(every public one, the largest project ones; row counts there are the planner's estimates) and
the bytes under AYON_STORAGE_DIR.

When `metricsPushUrl` is set the stored snapshot is POSTed there as JSON. The push is a courtesy
to an external dashboard: when it fails the result says why (`pushed: false`, `pushError`) and
the task still finishes, since the snapshot itself is safe in the database.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from ayon_server.auth.sessions import SESSION_PREFIX
from ayon_server.version import __version__
from maintenance.batching import rows_affected, run_in_batches
from maintenance.tasks.base import MaintenanceTask, TaskContext

log = logging.getLogger(__name__)

# Short: a slow dashboard must not hold the maintenance run (and its lock) for long.
PUSH_TIMEOUT = 5.0
LARGEST_PROJECT_TABLES = 20

_COUNTS = """
    SELECT
        (SELECT count(*) FROM public.users) AS users,
        (SELECT count(*) FROM public.users WHERE active) AS active_users,
        (SELECT count(*) FROM public.events) AS events,
        (SELECT count(*) FROM public.logs) AS logs,
        (SELECT count(*) FROM public.sites) AS sites,
        pg_database_size(current_database()) AS database_bytes
"""

# Every table of the public schema (a fixed, small set operators follow over time) and the
# largest tables of the project schemas (one set per project, so not all of them); a partitioned
# table sums its partitions.
_TABLE_SIZES = """
    WITH tables AS (
        SELECT n.nspname || '.' || c.relname AS name, n.nspname = 'public' AS core,
            (SELECT sum(pg_total_relation_size(t.relid)) FROM pg_partition_tree(c.oid) t)::bigint
                AS bytes,
            (SELECT sum(GREATEST(p.reltuples, 0)) FROM pg_partition_tree(c.oid) t
                JOIN pg_class p ON p.oid = t.relid WHERE t.isleaf)::bigint AS rows
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
          AND (n.nspname = 'public' OR starts_with(n.nspname, 'project_'))
    )
    SELECT name, bytes, rows FROM (
        SELECT *, row_number() OVER (PARTITION BY core ORDER BY bytes DESC, name) AS rank
        FROM tables
    ) ranked
    WHERE core OR rank <= $1
"""


class CollectMetrics(MaintenanceTask):
    name = "collect_metrics"

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        day = ctx.now.astimezone(UTC).date()
        cutoff = day - timedelta(days=ctx.config.metrics_retention_days)
        snapshot = await collect_snapshot(ctx)
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
            error = await push_snapshot(ctx.config.metrics_push_url, day, snapshot)
            result["pushed"] = error is None
            if error is not None:
                result["pushError"] = error
        return result

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


async def collect_snapshot(ctx: TaskContext) -> dict[str, Any]:
    db = ctx.runtime.db
    counts = await db.fetchrow(_COUNTS)
    tables = {
        row["name"]: {"bytes": row["bytes"], "estimatedRows": row["rows"]}
        for row in await db.fetch(_TABLE_SIZES, LARGEST_PROJECT_TABLES)
    }
    return {
        "serverVersion": __version__,
        "users": counts["users"],
        "activeUsers": counts["active_users"],
        "activeSessions": await count_sessions(ctx),
        "projects": await count_projects(ctx),
        "events": counts["events"],
        "logs": counts["logs"],
        "sites": counts["sites"],
        "databaseBytes": counts["database_bytes"],
        "tables": tables,
        "storageBytes": await asyncio.to_thread(
            storage_bytes, Path(ctx.runtime.settings.storage_dir)
        ),
    }


async def count_sessions(ctx: TaskContext) -> int:
    """Session keys in Redis. Keys expire with their session, so this is the active ones (plus any
    stray key without an expiry that clean_sessions, later in the run, removes)."""
    count = 0
    async for _ in ctx.runtime.redis.scan(SESSION_PREFIX + "*", count=ctx.config.batch_size):
        count += 1
    return count


async def count_projects(ctx: TaskContext) -> int:
    """0 while no release has created public.projects yet, which is the truth, not a guess."""
    db = ctx.runtime.db
    if await db.fetchval("SELECT to_regclass('public.projects')") is None:
        return 0
    return await db.fetchval("SELECT count(*) FROM public.projects")


def storage_bytes(root: Path) -> int:
    """Bytes of the regular files under `root`, symlinks not followed; 0 when it is missing.

    Runs in a thread: walking a large tree must not stall the event loop of a server process.
    """
    total = 0
    pending = [root]
    while pending:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            pending.append(Path(entry.path))
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
                    except FileNotFoundError:
                        continue  # removed while we walked past it
        except FileNotFoundError:
            continue  # the root is missing, or a directory went away meanwhile
    return total


async def push_snapshot(url: str, day: date, snapshot: dict[str, Any]) -> str | None:
    """POST the snapshot to `url`; None on success, else why it failed."""
    try:
        async with httpx.AsyncClient(timeout=PUSH_TIMEOUT) as client:
            response = await client.post(url, json={"date": day.isoformat(), "metrics": snapshot})
            response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        error = f"POST {url} answered {exc.response.status_code} {exc.response.reason_phrase}"
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        error = f"POST {url} failed: {exc.__class__.__name__}: {exc}"
    else:
        return None
    log.warning("metrics snapshot stored, but pushing it failed: %s", error)
    return error
