"""What a daily snapshot holds: counts and sizes of the server as it is right now.

It counts users, active sessions (Redis SCAN, never KEYS), projects (0 while public.projects
does not exist), events, logs and sites, and measures the database, its tables (every public
one, the largest project ones; row counts there are the planner's estimates) and the bytes under
AYON_STORAGE_DIR. The keys are camelCase: the snapshot is stored and pushed as this JSON.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from ayon_server.auth.sessions import SESSION_PREFIX
from ayon_server.runtime import Runtime
from ayon_server.version import __version__

LARGEST_PROJECT_TABLES = 20

_COUNTS = """
    SELECT
        (SELECT count(*) FROM public.users) AS users,
        (SELECT count(*) FROM public.users WHERE active) AS active_users,
        (SELECT count(*) FROM public.events) AS events,
        (SELECT count(*) FROM public.logs) AS logs,
        (SELECT count(*) FROM public.sites) AS sites,
        pg_database_size(current_database()) AS database_bytes
"""

# Every table of the public schema (a fixed, small set operators follow over time) and the
# largest tables of the project schemas (one set per project, so not all of them); a partitioned
# table sums its partitions.
_TABLE_SIZES = """
    WITH tables AS (
        SELECT n.nspname || '.' || c.relname AS name, n.nspname = 'public' AS core,
            (SELECT sum(pg_total_relation_size(t.relid)) FROM pg_partition_tree(c.oid) t)::bigint
                AS bytes,
            (SELECT sum(GREATEST(p.reltuples, 0)) FROM pg_partition_tree(c.oid) t
                JOIN pg_class p ON p.oid = t.relid WHERE t.isleaf)::bigint AS rows
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
          AND (n.nspname = 'public' OR starts_with(n.nspname, 'project_'))
    )
    SELECT name, bytes, rows FROM (
        SELECT *, row_number() OVER (PARTITION BY core ORDER BY bytes DESC, name) AS rank
        FROM tables
    ) ranked
    WHERE core OR rank <= $1
"""


async def collect_snapshot(runtime: Runtime, *, scan_count: int) -> dict[str, Any]:
    """Measure the server now; `scan_count` is the Redis SCAN batch for counting sessions."""
    db = runtime.db
    counts = await db.fetchrow(_COUNTS)
    tables = {
        row["name"]: {"bytes": row["bytes"], "estimatedRows": row["rows"]}
        for row in await db.fetch(_TABLE_SIZES, LARGEST_PROJECT_TABLES)
    }
    return {
        "serverVersion": __version__,
        "users": counts["users"],
        "activeUsers": counts["active_users"],
        "activeSessions": await count_sessions(runtime, scan_count),
        "projects": await count_projects(runtime),
        "events": counts["events"],
        "logs": counts["logs"],
        "sites": counts["sites"],
        "databaseBytes": counts["database_bytes"],
        "tables": tables,
        "storageBytes": await asyncio.to_thread(storage_bytes, Path(runtime.settings.storage_dir)),
    }


async def count_sessions(runtime: Runtime, scan_count: int) -> int:
    """Session keys in Redis. Keys expire with their session, so this is the active ones (plus any
    stray key without an expiry that clean_sessions, later in the run, removes)."""
    count = 0
    async for _ in runtime.redis.scan(SESSION_PREFIX + "*", count=scan_count):
        count += 1
    return count


async def count_projects(runtime: Runtime) -> int:
    """0 while no release has created public.projects yet, which is the truth, not a guess."""
    db = runtime.db
    if await db.fetchval("SELECT to_regclass('public.projects')") is None:
        return 0
    return await db.fetchval("SELECT count(*) FROM public.projects")


def storage_bytes(root: Path) -> int:
    """Bytes of the regular files under `root`, symlinks not followed; 0 when it is missing.

    Runs in a thread: walking a large tree must not stall the event loop of a server process.
    """
    total = 0
    pending = [root]
    while pending:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            pending.append(Path(entry.path))
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
                    except FileNotFoundError:
                        continue  # removed while we walked past it
        except FileNotFoundError:
            continue  # the root is missing, or a directory went away meanwhile
    return total
