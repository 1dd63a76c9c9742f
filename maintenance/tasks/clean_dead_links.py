"""clean_dead_links: delete links whose input or output entity no longer exists.

References are polymorphic, so the database cannot cascade them; instead triggers record, in the
project's `deleted_entities`, every id a link may point at but no entity has: each deleted
entity (cascades and plain SQL included) and each link end that named no entity when the link
was written (they are part of the project schema template: setup/migrations/README.md). A run
takes those ids a batch at a time, deletes the links that point at them through
links(input_id) / links(output_id), and consumes the batch in the same short transaction: the
cost follows the garbage, not the number of links, and a run with nothing recorded does not
read the links at all.

An id is checked again before its links go, so links written before their entities (an import
in the "wrong" order) survive. Links of a link type that no longer exists are clean_links'
business and are left alone here; the id is consumed all the same.
"""

from __future__ import annotations

import asyncpg

from ayon_server.entities.registry import ENTITY_TYPES
from ayon_server.projects.store import ProjectRef, load_project_ref
from maintenance.batching import rows_affected, run_in_batches
from maintenance.tasks.base import ProjectTask, TaskContext


def _gone(project: ProjectRef, column: str) -> str:
    """Condition: the id in `column` belongs to no entity.

    Correlated scalar subqueries, not NOT EXISTS: over a batch of thousands of ids PostgreSQL
    may turn NOT EXISTS into a hashed anti-join that reads a whole entity table per batch;
    these stay one primary-key probe per table.
    """
    return " AND ".join(
        f"(SELECT true FROM {project.table(t.table)} e WHERE e.id = {column}) IS NULL"
        for t in ENTITY_TYPES.values()
    )


def _dead_links_sql(project: ProjectRef, gone: str) -> str:
    """Ids of the links of existing types that point at an id of the relation `gone`.

    A UNION of two index joins rather than one OR, which PostgreSQL can only answer by reading
    every link.
    """
    links, link_types = project.table("links"), project.table("link_types")
    return f"""
        SELECT l.id FROM {links} l JOIN {gone} g ON l.input_id = g.entity_id
        WHERE EXISTS (SELECT 1 FROM {link_types} t WHERE t.name = l.link_type)
        UNION
        SELECT l.id FROM {links} l JOIN {gone} g ON l.output_id = g.entity_id
        WHERE EXISTS (SELECT 1 FROM {link_types} t WHERE t.name = l.link_type)
    """


def _count_sql(project: ProjectRef) -> str:
    recorded = project.table("deleted_entities")
    return f"""
        WITH gone AS (
            SELECT d.entity_id FROM {recorded} d WHERE {_gone(project, "d.entity_id")}
        )
        SELECT count(*) FROM ({_dead_links_sql(project, "gone")}) dead
    """


def _consume_sql(project: ProjectRef) -> str:
    """$1 batch size: take that many recorded ids out of the table."""
    recorded = project.table("deleted_entities")
    return f"""
        DELETE FROM {recorded}
        WHERE entity_id IN (
            SELECT entity_id FROM {recorded} ORDER BY entity_id LIMIT $1 FOR UPDATE SKIP LOCKED
        )
        RETURNING entity_id
    """


def _delete_sql(project: ProjectRef) -> str:
    """$1 consumed ids: delete the links of those that belong to no entity."""
    return f"""
        WITH gone AS (
            SELECT u.entity_id FROM unnest($1::uuid[]) AS u(entity_id)
            WHERE {_gone(project, "u.entity_id")}
        )
        DELETE FROM {project.table("links")} WHERE id IN ({_dead_links_sql(project, "gone")})
    """


async def _count(ctx: TaskContext, project_name: str) -> int:
    async with ctx.runtime.db.transaction() as conn:
        project = await load_project_ref(conn, project_name, lock=True)
        if not await conn.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {project.table('deleted_entities')})"
        ):
            return 0  # without reading a single link
        return await conn.fetchval(_count_sql(project))


async def _delete(ctx: TaskContext, project_name: str) -> None:
    async def batch(conn: asyncpg.Connection, limit: int) -> int:
        # The project lock keeps the schema from being dropped under the batch.
        project = await load_project_ref(conn, project_name, lock=True)
        consumed = [row["entity_id"] for row in await conn.fetch(_consume_sql(project), limit)]
        if consumed:
            ctx.report.add(
                "deleted", rows_affected(await conn.execute(_delete_sql(project), consumed))
            )
        return len(consumed)

    await run_in_batches(ctx, batch, count=None)


class CleanDeadLinks(ProjectTask):
    name = "clean_dead_links"

    async def clean_project(self, ctx: TaskContext, project: ProjectRef) -> None:
        if ctx.dry_run:
            ctx.report.add("deleted", await _count(ctx, project.name))
        else:
            await _delete(ctx, project.name)
