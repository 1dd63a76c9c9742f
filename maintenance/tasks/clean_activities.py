"""clean_activities: delete activities whose origin entity is gone, after the grace period.

When an entity went away is known from its `entity.<type>.deleted` event (summary.entityId).
Entities removed by a cascade (the tasks of a deleted folder) or whose event clean_events
already removed have no such event: the first run that finds their origin missing stamps
`originGoneAt` into the origin reference's data, and the grace period counts from that stamp.
So an activity is never deleted sooner than `activityGraceDays` after its origin was known to
be gone. Files of deleted activities become attached to nothing; clean_files removes them later.
A dry run counts and stamps nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from ayon_server.entities.registry import ENTITY_TYPES, EntityType
from ayon_server.projects.store import ProjectRef
from maintenance.batching import rows_affected, run_in_batches
from maintenance.tasks.base import ProjectTask, TaskContext


def _gone_origins(project: ProjectRef, entity_type: EntityType) -> str:
    """Origin references ($1 = entity type) whose entity no longer exists, as alias `r`,
    with `gone_at`: the time of the entity's deleted event ($2 topic, $3 project) or stamp."""
    return f"""
        SELECT r.id, r.activity_id, coalesce(
            (SELECT max(ev.created_at) FROM public.events ev
             WHERE ev.topic = $2 AND ev.project_name = $3
               AND ev.summary->>'entityId' = replace(r.entity_id::text, '-', '')),
            (r.data->>'originGoneAt')::timestamptz
        ) AS gone_at
        FROM {project.table("activity_references")} r
        WHERE r.reference_type = 'origin' AND r.entity_type = $1
          AND NOT EXISTS (
              SELECT 1 FROM {project.table(entity_type.table)} e WHERE e.id = r.entity_id
          )
    """


async def _count(ctx: TaskContext, project: ProjectRef, cutoff: datetime) -> int:
    total = 0
    for entity_type in ENTITY_TYPES.values():
        total += await ctx.runtime.db.fetchval(
            f"SELECT count(DISTINCT activity_id) FROM ({_gone_origins(project, entity_type)}) g "
            "WHERE gone_at < $4",
            entity_type.name,
            f"entity.{entity_type.name}.deleted",
            project.name,
            cutoff,
        )
    return total


async def _stamp(ctx: TaskContext, project: ProjectRef, entity_type: EntityType) -> None:
    """Record when an origin without a deleted event was first seen gone."""

    async def batch(conn: asyncpg.Connection, limit: int) -> int:
        status = await conn.execute(
            f"""
            UPDATE {project.table("activity_references")} r
            SET data = r.data || jsonb_build_object('originGoneAt', $4::timestamptz)
            WHERE r.id IN (
                SELECT id FROM ({_gone_origins(project, entity_type)}) g
                WHERE gone_at IS NULL LIMIT $5
            )
            """,
            entity_type.name,
            f"entity.{entity_type.name}.deleted",
            project.name,
            ctx.now,
            limit,
        )
        return rows_affected(status)

    await run_in_batches(ctx, batch, count="originsMarkedGone")


async def _delete(
    ctx: TaskContext, project: ProjectRef, entity_type: EntityType, cutoff: datetime
) -> None:
    """Delete the activities whose origin of this type went before cutoff; unattach their files."""

    async def batch(conn: asyncpg.Connection, limit: int) -> int:
        doomed = [
            row["activity_id"]
            for row in await conn.fetch(
                f"SELECT DISTINCT activity_id FROM ({_gone_origins(project, entity_type)}) g "
                "WHERE gone_at < $4 LIMIT $5",
                entity_type.name,
                f"entity.{entity_type.name}.deleted",
                project.name,
                cutoff,
                limit,
            )
        ]
        unattached = rows_affected(
            await conn.execute(
                f"UPDATE {project.table('files')} SET activity_id = NULL, updated_at = now() "
                "WHERE activity_id = ANY($1::uuid[])",
                doomed,
            )
        )
        ctx.report.add("filesUnattached", unattached)
        await conn.execute(
            f"DELETE FROM {project.table('activities')} WHERE id = ANY($1::uuid[])", doomed
        )
        return len(doomed)

    await run_in_batches(ctx, batch)


class CleanActivities(ProjectTask):
    name = "clean_activities"
    counts = ("deleted", "filesUnattached", "originsMarkedGone")

    async def clean_project(self, ctx: TaskContext, project: ProjectRef) -> None:
        cutoff = ctx.now - timedelta(days=ctx.config.activity_grace_days)
        if ctx.dry_run:
            ctx.report.add("deleted", await _count(ctx, project, cutoff))
            return
        for entity_type in ENTITY_TYPES.values():
            await _stamp(ctx, project, entity_type)
            await _delete(ctx, project, entity_type, cutoff)
