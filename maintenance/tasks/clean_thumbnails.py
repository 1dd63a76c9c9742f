"""clean_thumbnails: delete thumbnails no entity references, older than the grace period.

A thumbnail is referenced by the `thumbnail_id` of a folder, task, version or workfile
(projects carry no thumbnail of their own here). Each batch is one short transaction that
walks the thumbnails table by id from where the previous batch stopped, so a survivor (recent,
or still referenced) is looked at once per run, not once per batch; the reference checks are
index lookups (`<table>_thumbnail_id_idx`). A batch first locks its candidates, then deletes
them with the checks repeated in the DELETE, on a fresh snapshot: a thumbnail assigned after
it was picked is kept. The grace period keeps fresh uploads out of reach altogether.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from ayon_server.entities.registry import ENTITY_TYPES
from ayon_server.exceptions import NotFoundException
from ayon_server.projects.store import ProjectRef, load_project_ref, project_names
from maintenance.batching import run_in_batches
from maintenance.tasks.base import MaintenanceTask, TaskContext, require_projects

REFERRING_TABLES = tuple(t.table for t in ENTITY_TYPES.values() if t.has_thumbnail)


def _garbage(project: ProjectRef) -> str:
    """Condition on alias `t`: older than $1 and referenced by no entity."""
    unreferenced = "".join(
        f"\n AND NOT EXISTS (SELECT 1 FROM {project.table(table)} e WHERE e.thumbnail_id = t.id)"
        for table in REFERRING_TABLES
    )
    return f"t.created_at < $1{unreferenced}"


def _candidates_sql(project: ProjectRef) -> str:
    """$1 cutoff, $2 id to continue after, $3 batch size: the next garbage, locked."""
    return f"""
        SELECT t.id FROM {project.table("thumbnails")} t
        WHERE t.id > $2 AND {_garbage(project)}
        ORDER BY t.id
        LIMIT $3
        FOR UPDATE SKIP LOCKED
    """


def _delete_sql(project: ProjectRef) -> str:
    """$1 cutoff, $2 candidate ids: checked again on a fresh snapshot as they are deleted."""
    return f"""
        DELETE FROM {project.table("thumbnails")} t
        WHERE t.id = ANY($2::uuid[]) AND {_garbage(project)}
        RETURNING t.size
    """


async def _count(ctx: TaskContext, name: str, cutoff: datetime) -> tuple[int, int]:
    """(thumbnails, bytes) a run would delete in the project."""
    async with ctx.runtime.db.transaction() as conn:
        project = await load_project_ref(conn, name, lock=True)
        row = await conn.fetchrow(
            f"SELECT count(*) AS n, coalesce(sum(t.size), 0)::bigint AS bytes "
            f"FROM {project.table('thumbnails')} t WHERE {_garbage(project)}",
            cutoff,
        )
    return row["n"], row["bytes"]


async def _delete(ctx: TaskContext, name: str, cutoff: datetime) -> tuple[int, int]:
    """(thumbnails, bytes) deleted in the project; NotFoundException if it is dropped meanwhile."""
    after = uuid.UUID(int=0)
    deleted = deleted_bytes = 0

    async def batch(conn: asyncpg.Connection, limit: int) -> int:
        nonlocal after, deleted, deleted_bytes
        # The project lock keeps the schema from being dropped under the batch.
        project = await load_project_ref(conn, name, lock=True)
        candidates = [
            row["id"] for row in await conn.fetch(_candidates_sql(project), cutoff, after, limit)
        ]
        if not candidates:
            return 0
        after = candidates[-1]
        rows = await conn.fetch(_delete_sql(project), cutoff, candidates)
        deleted += len(rows)
        deleted_bytes += sum(row["size"] for row in rows)
        return len(candidates)

    await run_in_batches(ctx, batch)
    return deleted, deleted_bytes


class CleanThumbnails(MaintenanceTask):
    name = "clean_thumbnails"
    title = "Clean-up thumbnails"

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        db = ctx.runtime.db
        await require_projects(ctx)
        cutoff = ctx.now - timedelta(hours=ctx.config.thumbnail_grace_hours)
        result = {"deleted": 0, "bytes": 0, "projects": 0}
        for name in await project_names(db):
            try:
                visit = _count if ctx.dry_run else _delete
                deleted, size = await visit(ctx, name, cutoff)
            except NotFoundException:
                continue  # deleted while we were visiting the others
            result["projects"] += 1
            result["deleted"] += deleted
            result["bytes"] += size
        return result
