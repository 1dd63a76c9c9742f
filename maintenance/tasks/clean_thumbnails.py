"""clean_thumbnails: delete thumbnails no entity references, older than the grace period.

A thumbnail is referenced by the `thumbnail_id` of a folder, task, version or workfile
(projects carry no thumbnail of their own here). Only the project's `thumbnail_candidates` are
looked at: triggers (part of the project schema template: setup/migrations/README.md) record
every new thumbnail and every thumbnail an entity stopped referring to, so a run costs what the
candidates cost, not what all thumbnails cost, and a run without candidates does not read the
thumbnails at all.

Each batch is one short transaction that walks the candidates by id from where the previous
batch stopped. Candidates still within the grace period (thumbnail age) are passed over and
kept for a later run. The others are checked for references (index lookups,
`<table>_thumbnail_id_idx`); the free ones are locked FOR UPDATE SKIP LOCKED (a writer assigning
one holds it FOR KEY SHARE, so it is skipped and stays a candidate) and deleted with the check
repeated on a fresh snapshot. The candidate rows go either way: a referenced thumbnail becomes
a candidate again when its reference goes. A candidate row is dropped only if its `since` is the
one the batch read, so a reference dropped while the batch ran keeps it for the next run.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import asyncpg

from ayon_server.entities.registry import ENTITY_TYPES
from ayon_server.projects.store import ProjectRef, load_project_ref
from maintenance.batching import run_in_batches
from maintenance.tasks.base import ProjectTask, TaskContext

REFERRING_TABLES = tuple(t.table for t in ENTITY_TYPES.values() if t.has_thumbnail)


def _unreferenced(project: ProjectRef) -> str:
    """Condition on alias `t`: referenced by no entity.

    Correlated scalar subqueries, not NOT EXISTS: over a batch of thousands of ids PostgreSQL
    may turn NOT EXISTS into a hashed anti-join that reads a whole entity table per batch;
    these stay `<table>_thumbnail_id_idx` probes.
    """
    return " AND ".join(
        f"(SELECT true FROM {project.table(table)} e WHERE e.thumbnail_id = t.id LIMIT 1) IS NULL"
        for table in REFERRING_TABLES
    )


def _next_candidates_sql(project: ProjectRef) -> str:
    """$1 id to continue after, $2 batch size: the next candidates."""
    return f"""
        SELECT thumbnail_id, since FROM {project.table("thumbnail_candidates")}
        WHERE thumbnail_id > $1
        ORDER BY thumbnail_id
        LIMIT $2
    """


def _check_sql(project: ProjectRef) -> str:
    """$1 ids: those of the thumbnails that still exist, their age and whether they are free."""
    return f"""
        SELECT t.id, t.created_at, {_unreferenced(project)} AS free
        FROM {project.table("thumbnails")} t WHERE t.id = ANY($1::uuid[])
    """


def _lock_sql(project: ProjectRef) -> str:
    """$1 ids: those of the thumbnails no writer holds, locked."""
    return f"""
        SELECT id FROM {project.table("thumbnails")} WHERE id = ANY($1::uuid[])
        ORDER BY id FOR UPDATE SKIP LOCKED
    """


def _delete_sql(project: ProjectRef) -> str:
    """$1 locked ids: deleted when unreferenced on a fresh snapshot."""
    return f"""
        DELETE FROM {project.table("thumbnails")} t
        WHERE t.id = ANY($1::uuid[]) AND {_unreferenced(project)}
        RETURNING t.size
    """


def _drop_candidates_sql(project: ProjectRef) -> str:
    """$1 ids, $2 the `since` each had when read: drop the rows no trigger touched since."""
    return f"""
        DELETE FROM {project.table("thumbnail_candidates")} c
        USING unnest($1::uuid[], $2::timestamptz[]) AS seen(id, since)
        WHERE c.thumbnail_id = seen.id AND c.since = seen.since
    """


async def _count(ctx: TaskContext, name: str, cutoff: datetime) -> tuple[int, int]:
    """(thumbnails, bytes) a run would delete in the project."""
    async with ctx.runtime.db.transaction() as conn:
        project = await load_project_ref(conn, name, lock=True)
        if not await conn.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {project.table('thumbnail_candidates')})"
        ):
            return 0, 0  # without reading a single thumbnail
        row = await conn.fetchrow(
            f"""
            SELECT count(*) AS n, coalesce(sum(t.size), 0)::bigint AS bytes
            FROM {project.table("thumbnail_candidates")} c
            JOIN {project.table("thumbnails")} t ON t.id = c.thumbnail_id
            WHERE t.created_at < $1 AND {_unreferenced(project)}
            """,
            cutoff,
        )
    return row["n"], row["bytes"]


async def _delete(ctx: TaskContext, name: str, cutoff: datetime) -> None:
    """Delete the project's free thumbnails ("deleted", "bytes"); NotFoundException if it is
    dropped meanwhile."""
    after = uuid.UUID(int=0)

    async def batch(conn: asyncpg.Connection, limit: int) -> int:
        nonlocal after
        # The project lock keeps the schema from being dropped under the batch.
        project = await load_project_ref(conn, name, lock=True)
        candidates = await conn.fetch(_next_candidates_sql(project), after, limit)
        if not candidates:
            return 0
        after = candidates[-1]["thumbnail_id"]
        ids = [row["thumbnail_id"] for row in candidates]
        found = {row["id"]: row for row in await conn.fetch(_check_sql(project), ids)}
        ripe = {i for i, row in found.items() if row["created_at"] < cutoff}
        free = [i for i in sorted(ripe) if found[i]["free"]]
        locked = {row["id"] for row in await conn.fetch(_lock_sql(project), free)}
        rows = await conn.fetch(_delete_sql(project), list(locked))
        ctx.report.add("deleted", len(rows))
        ctx.report.add("bytes", sum(row["size"] for row in rows))
        # Settled: gone, still referenced, or checked under the lock. Those within the grace
        # period and those a writer holds stay candidates.
        done = [
            r
            for r in candidates
            if r["thumbnail_id"] not in found
            or (r["thumbnail_id"] in ripe and not found[r["thumbnail_id"]]["free"])
            or r["thumbnail_id"] in locked
        ]
        await conn.execute(
            _drop_candidates_sql(project),
            [r["thumbnail_id"] for r in done],
            [r["since"] for r in done],
        )
        return len(candidates)

    await run_in_batches(ctx, batch, count=None)


class CleanThumbnails(ProjectTask):
    name = "clean_thumbnails"
    counts = ("deleted", "bytes")

    async def clean_project(self, ctx: TaskContext, project: ProjectRef) -> None:
        cutoff = ctx.now - timedelta(hours=ctx.config.thumbnail_grace_hours)
        if ctx.dry_run:
            deleted, size = await _count(ctx, project.name, cutoff)
            ctx.report.add("deleted", deleted)
            ctx.report.add("bytes", size)
        else:
            await _delete(ctx, project.name, cutoff)
