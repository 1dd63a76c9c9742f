"""auto_update: fetch the update catalog (`updateCatalogUrl`) and store every wanted addon,
dependency package and installer that is not stored yet, so every replica's installer picks it
up.

Each download is checked (sha256, size) before its transaction commits: an entry that fails
stores nothing and is listed in `result.errors` as `{"name", "error"}`, and the task fails once
every entry was tried. A catalog that cannot be read or is not valid fails the task at once.
No catalog configured: skipped. A dry run reads the catalog and counts, downloading nothing.
"""

from __future__ import annotations

import httpx

from ayon_server.addons.catalog import (
    TIMEOUT,
    CatalogError,
    EntryError,
    download_and_store,
    entries,
    entry_name,
    fetch_catalog,
    is_stored,
)
from ayon_server.addons.installer import notify_packages_changed
from maintenance.tasks.base import MaintenanceTask, TaskContext, TaskSkipped


class AutoUpdateFailed(Exception):
    """The catalog could not be used, or some of its entries could not be stored."""


class AutoUpdate(MaintenanceTask):
    name = "auto_update"
    counts = ("downloaded", "alreadyStored", "notRequired", "failed")

    async def run(self, ctx: TaskContext) -> None:
        url = ctx.config.update_catalog_url
        if url is None:
            raise TaskSkipped("no update catalog configured")
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=True) as client:
            try:
                catalog = await fetch_catalog(client, url)
            except CatalogError as exc:
                raise AutoUpdateFailed(str(exc)) from None
            wanted = []
            for entry in entries(catalog):
                if not entry.required:
                    ctx.report.add("notRequired")
                elif await is_stored(ctx.runtime, entry):
                    ctx.report.add("alreadyStored")
                else:
                    wanted.append(entry)
            ctx.report.expect(len(wanted))
            if ctx.dry_run:
                ctx.report.add("downloaded", len(wanted))
                return
            errors: list[dict[str, str]] = []
            for entry in wanted:
                ctx.check_stop()
                try:
                    await download_and_store(ctx.runtime, client, entry)
                except EntryError as exc:
                    errors.append({"name": entry_name(entry), "error": str(exc)})
                    ctx.report.add("failed")
                else:
                    ctx.report.add("downloaded")
                    await notify_packages_changed(ctx.runtime.redis)
                ctx.report.advance()
        if errors:
            ctx.report.set("errors", errors)
            first = errors[0]
            raise AutoUpdateFailed(
                f"{len(errors)} of {len(wanted)} catalog entries could not be stored; "
                f"first: {first['name']}: {first['error']}"
            )
