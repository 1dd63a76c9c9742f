"""clean_sites: delete client site records not seen for the site retention period.

A site is a client installation (public.sites, upserted by GET /api/info); one that has not
connected for `siteRetentionDays` is gone. A site connecting again during a batch keeps its row.

Removing a site also means removing its site-specific settings. None exist yet: no table refers
to a site (addon site settings and per-site roots are not implemented), so the record is all
there is to delete, and the result says so. Whoever adds such data deletes it in the same batch.
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from ayon_server.sites.store import count_sites_not_seen_since, delete_sites_not_seen_since
from maintenance.batching import run_in_batches
from maintenance.tasks.base import MaintenanceTask, TaskContext

SITE_DATA_NOTE = "none stored yet: only the site records are deleted"


class CleanSites(MaintenanceTask):
    name = "clean_sites"
    counts = ("deleted",)

    async def run(self, ctx: TaskContext) -> None:
        cutoff = ctx.now - timedelta(days=ctx.config.site_retention_days)
        ctx.report.set("siteSpecificData", SITE_DATA_NOTE)
        doomed = await count_sites_not_seen_since(ctx.runtime.db, cutoff)
        if ctx.dry_run:
            ctx.report.add("deleted", doomed)
            return
        ctx.report.expect(doomed)

        async def batch(conn: asyncpg.Connection, limit: int) -> int:
            return await delete_sites_not_seen_since(conn, cutoff, limit)

        await run_in_batches(ctx, batch, advance=True)
