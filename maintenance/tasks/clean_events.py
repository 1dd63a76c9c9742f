"""clean_events: delete events past their retention without ever breaking a depends_on chain.

Two retentions apply: `eventRetentionDays` (null keeps events forever) for every topic except
MAINTENANCE_TOPIC, whose run history follows `maintenanceHistoryDays`. An event goes only when
it is expired, not pending or in progress, not this run's own event, and every event depending
on it (transitively) goes too; a chain whose newest dependent must stay keeps all its ancestors.

Each retention is one forward walk in (created_at, id) order, resumed from the last event of
the previous batch (the index events_created_at_id_idx), so no batch reads again what an earlier
one passed: the cost follows the expired events, and a chain is handled where the walk meets it.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
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


def _walk_batch(maintenance: bool) -> str:
    """One batch of a walk: look at the next $8 events after position ($5, $6) in (created_at, id)
    order and delete those that may go and that nothing depends on, in one statement.

    `maintenance` walks the run history (topic $1, up to its cutoff $7); otherwise the walk
    reads events_created_at_id_idx in order and stops at the first event not before the cutoff
    $7 (`ended`), passing over the run history on its way: a shape whose plan stays good when
    PostgreSQL caches a generic one.
    Rows are deleted by the ctid this statement read them at (one snapshot: it is the same row
    version). Returned: how many were looked at, the new position, the counts, and `parents`,
    the events that may go but have dependents (handled with their descendants).
    """
    if maintenance:
        rows = """
            SELECT ctid, id, created_at, topic, status FROM public.events
            WHERE topic = $1 AND (created_at, id) > ($5, $6) AND created_at < $7
            ORDER BY created_at, id LIMIT $8
        """
        in_walk = "true"
    else:
        rows = """
            SELECT ctid, id, created_at, topic, status FROM public.events
            WHERE (created_at, id) > ($5, $6)
            ORDER BY created_at, id LIMIT $8
        """
        in_walk = "e.created_at < $7 AND e.topic <> $1"
    return f"""
        -- `d.depends_on IS NOT NULL` changes no answer: it lets the planner hash the dependents
        -- once per batch (the partial index, a small set) instead of probing once per row.
        WITH looked_at AS (
            SELECT e.ctid, e.id, e.created_at, {in_walk} AS in_walk,
                   COALESCE({_EXPIRED}, false) AS expired,
                   EXISTS (
                       SELECT 1 FROM public.events d
                       WHERE d.depends_on = e.id AND d.depends_on IS NOT NULL
                   ) AS has_dependents
            FROM ({rows}) e
        ), deleted AS (
            DELETE FROM public.events WHERE ctid = ANY(ARRAY(
                SELECT ctid FROM looked_at WHERE in_walk AND expired AND NOT has_dependents
            ))
            -- Re-checked on the current row version should the status change meanwhile.
            AND status NOT IN ('pending', 'in_progress')
            RETURNING topic
        ), last AS (
            SELECT created_at, id FROM looked_at ORDER BY created_at DESC, id DESC LIMIT 1
        ), seen AS (
            SELECT count(*) AS looked_at, bool_or(created_at >= $7) AS ended,
                   array_agg(id) FILTER (WHERE in_walk AND expired AND has_dependents) AS parents
            FROM looked_at
        ), counts AS (
            SELECT count(*) AS total, count(*) FILTER (WHERE topic = $1) AS history FROM deleted
        )
        SELECT s.looked_at, s.ended, l.created_at AS last_created_at, l.id AS last_id, s.parents,
               c.total, c.history
        FROM seen s CROSS JOIN counts c LEFT JOIN last l ON true
    """


# $5 events that others depend on: for each, its descendants (through the depends_on index) and
# whether any of them must stay. A chain is handled where the walk meets its oldest member.
_DESCENDANTS = f"""
    WITH RECURSIVE tree(root, id, keep) AS (
        SELECT id, id, false FROM unnest($5::uuid[]) AS id
        UNION
        SELECT t.root, e.id, NOT COALESCE({_EXPIRED}, false)
        FROM tree t JOIN public.events e ON e.depends_on = t.id
    )
    SELECT root, array_agg(id) AS ids, bool_or(keep) AS kept FROM tree GROUP BY root
"""

# $1 maintenance topic, $2 the events to delete.
_DELETE = """
    WITH deleted AS (
        DELETE FROM public.events WHERE id = ANY($2::uuid[])
        -- Re-checked on the current row version should the status change meanwhile.
        AND status NOT IN ('pending', 'in_progress')
        RETURNING topic
    )
    SELECT count(*) AS total, count(*) FILTER (WHERE topic = $1) AS history FROM deleted
"""

# Batches of the walk are sized by time: they grow (up to MAX_BATCH_FACTOR times batchSize)
# while one takes less than half of BATCH_SECONDS and shrink back when one takes more than twice
# it, so each commit amortizes its fixed costs and still holds its locks for a short while.
# (Batches of about a second measured 2-8% faster overall but raised the p99 of concurrent
# inserts by ~40%: a quarter of a second is kept.)
BATCH_SECONDS = 0.25
MAX_BATCH_FACTOR = 8


def _next_size(size: int, seconds: float, batch_size: int) -> int:
    if seconds < BATCH_SECONDS / 2:
        return min(size * 2, batch_size * MAX_BATCH_FACTOR)
    if seconds > BATCH_SECONDS * 2:
        return max(size // 2, batch_size)
    return size


_WALK_START = (datetime.min.replace(tzinfo=UTC), uuid.UUID(int=0))

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
        _, cutoff, history_cutoff, _ = params
        await self._walk(ctx, params, history_cutoff, maintenance=True)
        if cutoff is not None:
            await self._walk(ctx, params, cutoff, maintenance=False)

    async def _walk(
        self, ctx: TaskContext, params: tuple[Any, ...], end: datetime, *, maintenance: bool
    ) -> None:
        """One forward pass over the events of one retention, oldest first."""
        position = _WALK_START
        walk_batch = _walk_batch(maintenance)
        size = ctx.config.batch_size

        async def batch(conn: asyncpg.Connection, limit: int) -> int:
            nonlocal position, size
            started = time.monotonic()
            # No JIT: compiling these statements would cost more than running them.
            await conn.execute("SET LOCAL jit = off")
            if maintenance:
                # Planned for the run-history topic, which is rare (its index, not a walk of
                # every event); the few deletes it makes do not mind their checks being planned
                # each time too.
                await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            row = await conn.fetchrow(walk_batch, *params, *position, end, size)
            total, history = row["total"], row["history"]
            if row["parents"]:
                doomed = [
                    event_id
                    for tree in await conn.fetch(_DESCENDANTS, *params, row["parents"])
                    if not tree["kept"]
                    for event_id in tree["ids"]
                ]
                deleted = await conn.fetchrow(_DELETE, params[0], doomed)
                total, history = total + deleted["total"], history + deleted["history"]
            ctx.report.add("deleted", total - history)
            ctx.report.add("maintenanceHistoryDeleted", history)
            if row["last_id"] is not None:
                position = (row["last_created_at"], row["last_id"])
            if row["ended"] or row["looked_at"] < size:
                return 0  # past the cutoff, or the end of the index: the walk is done
            size = _next_size(size, time.monotonic() - started, limit)
            return limit

        # A concurrent insert of a dependent makes the batch fail on the foreign key; it is rolled
        # back and run again from the same position, and then keeps that event.
        await run_in_batches(ctx, batch, count=None, retry_on=(asyncpg.ForeignKeyViolationError,))
