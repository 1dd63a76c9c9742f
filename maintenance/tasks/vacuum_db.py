"""vacuum_db: VACUUM (ANALYZE) every table, or VACUUM (FULL, ANALYZE) when opted in; runs last.

VACUUM cannot run inside a transaction, so it uses a dedicated connection in autocommit rather
than the pool. Tables of the public schema and of every project_* schema are vacuumed one by
one; a partitioned table is vacuumed through its parent, which covers its partitions.
"""

from __future__ import annotations

import re
from typing import Any

from ayon_server.lib.postgres import connect_once, quote_ident
from maintenance.tasks.base import MaintenanceTask, TaskContext, TaskSkipped

_SCHEMA_RE = re.compile(r"^(public|project_[A-Za-z0-9_]{1,64})$")
_TABLE_RE = re.compile(r"^[A-Za-z0-9_]{1,63}$")
_OPTIONS = {"analyze": "ANALYZE", "full": "FULL, ANALYZE"}


class VacuumDb(MaintenanceTask):
    name = "vacuum_db"

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
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
        result: dict[str, Any] = {"mode": mode, "tables": [name for name, _ in tables]}
        if unsafe:
            result["skippedTables"] = unsafe
        if ctx.dry_run:
            return result

        conn = await connect_once(ctx.runtime.settings.postgres_url)
        try:
            for _, identifier in tables:
                ctx.check_stop()
                await conn.execute(f"VACUUM ({_OPTIONS[mode]}) {identifier}")
        except BaseException:
            # Interrupted or timed out mid-VACUUM: drop the connection instead of waiting on it.
            conn.terminate()
            raise
        await conn.close()
        return result
