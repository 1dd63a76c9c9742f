"""collect_metrics: a daily snapshot of counts and sizes in public.metrics, optionally pushed.

One row per UTC day (a second collection that day replaces it), kept `metricsRetentionDays`.
What a snapshot holds and how it is stored is ayon_server.snapshots'; this step collects,
stores, prunes in batches and pushes.

When `metricsPushUrl` is set the stored snapshot is POSTed there as JSON. The push is a courtesy
to an external dashboard: when it fails the result says why (`pushed: false`, `pushError`) and
the task still finishes, since the snapshot itself is safe in the database.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, timedelta
from typing import Any

import asyncpg
import httpx

from ayon_server.snapshots.contents import collect_snapshot
from ayon_server.snapshots.store import (
    count_snapshots_before,
    delete_snapshots_before,
    save_snapshot,
)
from maintenance.batching import run_in_batches
from maintenance.tasks.base import MaintenanceTask, TaskContext

log = logging.getLogger(__name__)

# Short: a slow dashboard must not hold the maintenance run (and its lock) for long.
PUSH_TIMEOUT = 5.0


class CollectMetrics(MaintenanceTask):
    name = "collect_metrics"

    async def run(self, ctx: TaskContext) -> None:
        db = ctx.runtime.db
        day = ctx.now.astimezone(UTC).date()
        cutoff = day - timedelta(days=ctx.config.metrics_retention_days)
        snapshot = await collect_snapshot(ctx.runtime, scan_count=ctx.config.batch_size)
        ctx.report.set("date", day.isoformat())
        ctx.report.set("tables", len(snapshot["tables"]))
        expired = await count_snapshots_before(db, cutoff)
        if ctx.dry_run:
            ctx.report.set("deleted", expired)
            return

        await save_snapshot(db, day, snapshot)
        ctx.report.set("deleted", 0)
        ctx.report.expect(expired)

        async def batch(conn: asyncpg.Connection, limit: int) -> int:
            return await delete_snapshots_before(conn, cutoff, limit)

        await run_in_batches(ctx, batch, advance=True)
        if ctx.config.metrics_push_url:
            error = await push_snapshot(ctx.config.metrics_push_url, day, snapshot)
            ctx.report.set("pushed", error is None)
            if error is not None:
                ctx.report.set("pushError", error)


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
