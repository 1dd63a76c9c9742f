"""clean_links: delete links whose link type no longer exists, in every project schema.

The link types still used by links are found with a skip scan of the links' unique index
(it leads with link_type), one index probe per distinct type, and the links of the missing
ones are deleted through the same index: the cost grows with the garbage and the number of
link types, not with the number of links.
"""

from __future__ import annotations

import asyncpg

from ayon_server.projects.store import ProjectRef, load_project_ref
from maintenance.batching import Batch, rows_affected, run_in_batches
from maintenance.tasks.base import ProjectTask, TaskContext


def _missing_types_sql(project: ProjectRef) -> str:
    links, link_types = project.table("links"), project.table("link_types")
    return f"""
        WITH RECURSIVE used(link_type) AS (
            (SELECT link_type FROM {links} ORDER BY link_type LIMIT 1)
            UNION ALL
            SELECT (
                SELECT l.link_type FROM {links} l
                WHERE l.link_type > used.link_type ORDER BY l.link_type LIMIT 1
            )
            FROM used WHERE used.link_type IS NOT NULL
        )
        SELECT u.link_type FROM used u
        WHERE u.link_type IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM {link_types} t WHERE t.name = u.link_type)
    """


class CleanLinks(ProjectTask):
    name = "clean_links"

    async def clean_project(self, ctx: TaskContext, project: ProjectRef) -> None:
        async with ctx.runtime.db.transaction() as conn:
            missing = [row["link_type"] for row in await conn.fetch(_missing_types_sql(project))]
            if not missing:
                return
            if ctx.dry_run:
                count = await conn.fetchval(
                    f"SELECT count(*) FROM {project.table('links')} "
                    "WHERE link_type = ANY($1::text[])",
                    missing,
                )
                ctx.report.add("deleted", count)
                return
        await run_in_batches(ctx, _delete_batch(project.name, missing))


def _delete_batch(project_name: str, missing: list[str]) -> Batch:
    async def batch(conn: asyncpg.Connection, limit: int) -> int:
        project = await load_project_ref(conn, project_name, lock=True)
        links, link_types = project.table("links"), project.table("link_types")
        status = await conn.execute(
            f"""
            DELETE FROM {links} d WHERE d.id = ANY(ARRAY(
                SELECT l.id FROM {links} l WHERE l.link_type = ANY($1::text[]) LIMIT $2
            ))
            -- A type created again since the scan keeps its links.
            AND NOT EXISTS (SELECT 1 FROM {link_types} t WHERE t.name = d.link_type)
            """,
            missing,
            limit,
        )
        return rows_affected(status)

    return batch
