"""clean_events: delete events past their retention without ever breaking a depends_on chain.

Two retentions apply: `eventRetentionDays` (null keeps events forever) for every topic except
MAINTENANCE_TOPIC, whose run history follows `maintenanceHistoryDays`. An event goes only when
it is expired, not pending or in progress, not this run's own event, and no event depends on it.
Deleting the leaves of a chain makes their parents deletable, so passes repeat until one deletes
nothing; a chain whose newest dependent must stay keeps all its ancestors.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg

from ayon_server.events.stream import parse_event_id
from ayon_server.maintenance.runs import MAINTENANCE_TOPIC
from maintenance.batching import run_in_batches
from maintenance.tasks.base import MaintenanceTask, TaskContext

# Parameters shared by every query: $1 maintenance topic, $2 cutoff for other topics (NULL keeps
# them forever), $3 cutoff for maintenance history, $4 this run's event id (or NULL).
_EXPIRED = """
    ((e.topic <> $1 AND e.created_at < $2) OR (e.topic = $1 AND e.created_at < $3))
    AND e.status NOT IN ('pending', 'in_progress')
    AND e.id IS DISTINCT FROM $4
"""

_DELETE_BATCH = f"""
    WITH deleted AS (
        DELETE FROM public.events
        WHERE id = ANY(ARRAY(
            SELECT e.id FROM public.events e
            WHERE {_EXPIRED}
              AND NOT EXISTS (SELECT 1 FROM public.events d WHERE d.depends_on = e.id)
            LIMIT $5
        ))
        -- Re-checked on the current row version should the status change meanwhile.
        AND status NOT IN ('pending', 'in_progress')
        RETURNING topic
    )
    SELECT count(*) AS total, count(*) FILTER (WHERE topic = $1) AS history FROM deleted
"""

# What the passes would delete: every expired event none of whose descendants has to stay.
_COUNT_DELETABLE = f"""
    WITH RECURSIVE kept_ancestors(id) AS (
        SELECT e.depends_on FROM public.events e
        WHERE e.depends_on IS NOT NULL AND NOT COALESCE({_EXPIRED}, false)
        UNION
        SELECT p.depends_on FROM public.events p JOIN kept_ancestors k ON p.id = k.id
        WHERE p.depends_on IS NOT NULL
    )
    SELECT count(*) AS total, count(*) FILTER (WHERE e.topic = $1) AS history
    FROM public.events e
    WHERE {_EXPIRED} AND NOT EXISTS (SELECT 1 FROM kept_ancestors k WHERE k.id = e.id)
"""


class CleanEvents(MaintenanceTask):
    name = "clean_events"
    counts = ("deleted", "maintenanceHistoryDeleted")

    async def run(self, ctx: TaskContext) -> None:
        retention = ctx.config.event_retention_days
        cutoff: datetime | None = ctx.now - timedelta(days=retention) if retention else None
        history_cutoff = ctx.now - timedelta(days=ctx.config.maintenance_history_days)
        own_event = parse_event_id(ctx.run_event_id) if ctx.run_event_id else None
        params = (MAINTENANCE_TOPIC, cutoff, history_cutoff, own_event)

        if retention is None:
            ctx.report.set("eventRetention", "off")
        if ctx.dry_run:
            row = await ctx.runtime.db.fetchrow(_COUNT_DELETABLE, *params)
            ctx.report.add("deleted", row["total"] - row["history"])
            ctx.report.add("maintenanceHistoryDeleted", row["history"])
        else:
            await self._delete(ctx, params)

    async def _delete(self, ctx: TaskContext, params: tuple[Any, ...]) -> None:
        async def batch(conn: asyncpg.Connection, limit: int) -> int:
            row = await conn.fetchrow(_DELETE_BATCH, *params, limit)
            ctx.report.add("deleted", row["total"] - row["history"])
            ctx.report.add("maintenanceHistoryDeleted", row["history"])
            return row["total"]

        while True:
            # A concurrent insert of a dependent makes the whole batch fail on the foreign key;
            # the batch is rolled back and selected again without that event.
            deleted = await run_in_batches(
                ctx, batch, count=None, retry_on=(asyncpg.ForeignKeyViolationError,)
            )
            if deleted == 0:
                return
