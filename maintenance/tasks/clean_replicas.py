"""clean_replicas: delete server replicas not seen for `replicaRetentionHours`, with the install
status each recorded.

A live replica heartbeats every 30 s, so only replicas that stopped (scaled down, restarted
under a new id, crashed) are old enough to go; one whose heartbeat lands during a batch keeps
its row. Their unpacked files were on their own disks, so there is nothing else to delete.
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from ayon_server.replicas.store import (
    count_replicas_not_seen_since,
    delete_replicas_not_seen_since,
)
from maintenance.batching import run_in_batches
from maintenance.tasks.base import MaintenanceTask, TaskContext


class CleanReplicas(MaintenanceTask):
    name = "clean_replicas"
    counts = ("deleted", "packageStatuses")

    async def run(self, ctx: TaskContext) -> None:
        cutoff = ctx.now - timedelta(hours=ctx.config.replica_retention_hours)
        replicas, packages = await count_replicas_not_seen_since(ctx.runtime.db, cutoff)
        if ctx.dry_run:
            ctx.report.add("deleted", replicas)
            ctx.report.add("packageStatuses", packages)
            return
        ctx.report.expect(replicas)

        async def batch(conn: asyncpg.Connection, limit: int) -> int:
            deleted, statuses = await delete_replicas_not_seen_since(conn, cutoff, limit)
            ctx.report.add("deleted", deleted)
            ctx.report.add("packageStatuses", statuses)
            return deleted

        await run_in_batches(ctx, batch, count=None, advance=True)
