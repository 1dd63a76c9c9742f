"""clean_activities: delete activities whose origin entity is gone, after the grace period.

When an origin went is recorded by triggers in the project's `gone_origins` (the entity's
deletion, cascades included, or the write of an origin naming no existing entity; see the
project schema template), so a run reads only the origins past the grace period, through the
index on `gone_at`: its cost follows the garbage, and a run with nothing due reads a few index
pages per project whatever the size of the events or the references. An origin whose entity
exists again (re-created with the same id) is only forgotten, and its activity kept. Files of
deleted activities become attached to nothing; clean_files removes them later.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from ayon_server.entities.registry import ENTITY_TYPES
from ayon_server.projects.store import ProjectRef, load_project_ref
from maintenance.batching import rows_affected, run_in_batches
from maintenance.tasks.base import ProjectTask, TaskContext


def _still_gone(project: ProjectRef) -> str:
    """Condition on reference `r`: its entity does not exist (one primary-key probe)."""
    cases = " ".join(
        f"WHEN '{t.name}' THEN NOT EXISTS "
        f"(SELECT 1 FROM {project.table(t.table)} e WHERE e.id = r.entity_id)"
        for t in ENTITY_TYPES.values()
    )
    return f"CASE r.entity_type {cases} ELSE FALSE END"


def _due_sql(project: ProjectRef) -> str:
    """$1 cutoff, $2 limit: origins gone before the cutoff, oldest first, with whether their
    entity is still gone."""
    return f"""
        SELECT g.reference_id, r.activity_id, {_still_gone(project)} AS gone
        FROM {project.table("gone_origins")} g
        JOIN {project.table("activity_references")} r ON r.id = g.reference_id
        WHERE g.gone_at < $1
        ORDER BY g.gone_at
        LIMIT $2
    """


async def _count(ctx: TaskContext, project: ProjectRef, cutoff: datetime) -> int:
    return await ctx.runtime.db.fetchval(
        f"""
        SELECT count(DISTINCT r.activity_id)
        FROM {project.table("gone_origins")} g
        JOIN {project.table("activity_references")} r ON r.id = g.reference_id
        WHERE g.gone_at < $1 AND {_still_gone(project)}
        """,
        cutoff,
    )


async def _delete(ctx: TaskContext, project_name: str, cutoff: datetime) -> None:
    async def batch(conn: asyncpg.Connection, limit: int) -> int:
        # The project lock keeps the schema from being dropped under the batch.
        project = await load_project_ref(conn, project_name, lock=True)
        due = await conn.fetch(_due_sql(project), cutoff, limit)
        doomed = list({row["activity_id"] for row in due if row["gone"]})
        back = [row["reference_id"] for row in due if not row["gone"]]
        if back:
            await conn.execute(
                f"DELETE FROM {project.table('gone_origins')} WHERE reference_id = ANY($1::uuid[])",
                back,
            )
        if doomed:
            unattached = rows_affected(
                await conn.execute(
                    f"UPDATE {project.table('files')} SET activity_id = NULL, updated_at = now() "
                    "WHERE activity_id = ANY($1::uuid[])",
                    doomed,
                )
            )
            ctx.report.add("filesUnattached", unattached)
            # Their references, and so their gone_origins rows, go with them.
            await conn.execute(
                f"DELETE FROM {project.table('activities')} WHERE id = ANY($1::uuid[])", doomed
            )
        ctx.report.add("deleted", len(doomed))
        return len(due)

    await run_in_batches(ctx, batch, count=None)


class CleanActivities(ProjectTask):
    name = "clean_activities"
    counts = ("deleted", "filesUnattached")

    async def clean_project(self, ctx: TaskContext, project: ProjectRef) -> None:
        cutoff = ctx.now - timedelta(days=ctx.config.activity_grace_days)
        if ctx.dry_run:
            ctx.report.add("deleted", await _count(ctx, project, cutoff))
        else:
            await _delete(ctx, project.name, cutoff)
