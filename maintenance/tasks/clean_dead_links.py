"""clean_dead_links: delete links whose input or output entity no longer exists.

References are polymorphic: each link type names the tables its input and output live in, so
the links are checked type by type, each against those two tables by primary key. Links of a
link type that no longer exists are clean_links' business and are left alone here.

A pass walks the links of a type once, in the order of their unique index (link_type, input_id,
output_id), resuming each batch after the last link it deleted, so no batch re-reads links an
earlier one found alive.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from ayon_server.entities.registry import ENTITY_TYPES
from ayon_server.projects.store import ProjectRef, load_project_ref
from maintenance.batching import Batch, run_in_batches
from maintenance.tasks.base import MaintenanceTask, TaskContext
from maintenance.tasks.clean_links import clean_every_project

# Before every (input_id, output_id): a link never joins an entity to itself.
_START = (uuid.UUID(int=0), uuid.UUID(int=0))


def _dead(project: ProjectRef, input_type: str, output_type: str) -> str:
    """The condition a link `l` of this type is dead under.

    Correlated scalar subqueries, not NOT EXISTS: under an OR, PostgreSQL may turn NOT EXISTS
    into a hashed subplan that reads the whole entity table on every batch; these stay
    primary-key probes for just the links a batch looks at.
    """
    inputs = project.table(ENTITY_TYPES[input_type].table)
    outputs = project.table(ENTITY_TYPES[output_type].table)
    return f"""(
        (SELECT true FROM {inputs} e WHERE e.id = l.input_id) IS NULL
        OR (SELECT true FROM {outputs} e WHERE e.id = l.output_id) IS NULL
    )"""


class CleanDeadLinks(MaintenanceTask):
    name = "clean_dead_links"
    title = "Clean-up dead links"

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        async def clean(project_name: str) -> int:
            async with ctx.runtime.db.transaction() as conn:
                project = await load_project_ref(conn, project_name)
                link_types = await conn.fetch(
                    "SELECT name, input_type, output_type "
                    f"FROM {project.table('link_types')} ORDER BY name"
                )
                if ctx.dry_run:
                    total = 0
                    for lt in link_types:
                        total += await conn.fetchval(
                            f"SELECT count(*) FROM {project.table('links')} l "
                            f"WHERE l.link_type = $1 AND "
                            + _dead(project, lt["input_type"], lt["output_type"]),
                            lt["name"],
                        )
                    return total
            deleted = 0
            for lt in link_types:
                batch = _delete_batch(project_name, lt["name"], lt["input_type"], lt["output_type"])
                deleted += await run_in_batches(ctx, batch)
            return deleted

        return await clean_every_project(ctx, clean)


def _delete_batch(project_name: str, link_type: str, input_type: str, output_type: str) -> Batch:
    cursor = _START

    async def batch(conn: asyncpg.Connection, limit: int) -> int:
        nonlocal cursor
        project = await load_project_ref(conn, project_name, lock=True)
        links = project.table("links")
        rows = await conn.fetch(
            f"""
            WITH dead AS (
                SELECT l.id FROM {links} l
                WHERE l.link_type = $1 AND (l.input_id, l.output_id) > ($2::uuid, $3::uuid)
                  AND {_dead(project, input_type, output_type)}
                ORDER BY l.input_id, l.output_id
                LIMIT $4
            )
            DELETE FROM {links} WHERE id IN (SELECT id FROM dead) RETURNING input_id, output_id
            """,
            link_type,
            *cursor,
            limit,
        )
        if rows:
            cursor = max((row["input_id"], row["output_id"]) for row in rows)
        return len(rows)

    return batch
