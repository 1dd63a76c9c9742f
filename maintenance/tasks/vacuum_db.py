"""vacuum_db: VACUUM (ANALYZE) every table, or VACUUM (FULL, ANALYZE) when opted in; runs last.

VACUUM cannot run inside a transaction, so it uses a dedicated connection in autocommit rather
than the pool (one the runner can cancel: a VACUUM FULL of a big table is a long statement).
Tables of the public schema and of every project_* schema are vacuumed one by one, a batch
boundary between two; a partitioned table is vacuumed through its parent, which covers its
partitions. `vacuumed` counts the tables done, which is the task's progress.
"""

from __future__ import annotations

import re

from ayon_server.lib.postgres import quote_ident
from maintenance.tasks.base import MaintenanceTask, TaskContext, TaskSkipped

_SCHEMA_RE = re.compile(r"^(public|project_[A-Za-z0-9_]{1,64})$")
_TABLE_RE = re.compile(r"^[A-Za-z0-9_]{1,63}$")
_OPTIONS = {"analyze": "ANALYZE", "full": "FULL, ANALYZE"}


class VacuumDb(MaintenanceTask):
    name = "vacuum_db"

    async def run(self, ctx: TaskContext) -> None:
        mode = ctx.config.vacuum_mode
        if mode == "off":
            raise TaskSkipped("vacuumMode is off")
        rows = await ctx.runtime.db.fetch(
            """
            SELECT n.nspname AS schema, c.relname AS name
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition
              AND (n.nspname = 'public' OR starts_with(n.nspname, 'project_'))
            ORDER BY n.nspname, c.relname
            """
        )
        tables, unsafe = [], []
        for row in rows:
            name = f"{row['schema']}.{row['name']}"
            if _SCHEMA_RE.match(row["schema"]) and _TABLE_RE.match(row["name"]):
                tables.append((name, f"{quote_ident(row['schema'])}.{quote_ident(row['name'])}"))
            else:
                unsafe.append(name)
        ctx.report.set("mode", mode)
        ctx.report.set("tables", [name for name, _ in tables])
        if unsafe:
            ctx.report.set("skippedTables", unsafe)
        if ctx.dry_run:
            return

        ctx.report.set("vacuumed", 0)
        ctx.report.expect(len(tables))
        conn = await ctx.connect()
        try:
            for index, (_, identifier) in enumerate(tables):
                if index:
                    await ctx.batch_boundary()
                await conn.execute(f"VACUUM ({_OPTIONS[mode]}) {identifier}")
                ctx.report.add("vacuumed")
                ctx.report.advance()
        except BaseException:
            # Stopped mid-VACUUM: the runner has cancelled the statement on the server; drop the
            # connection instead of waiting on it.
            conn.terminate()
            raise
        await conn.close()
