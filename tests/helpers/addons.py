"""Set-up the addon tests share: an addon store emptied of what earlier tests stored."""

from __future__ import annotations

from ayon_server.lib.postgres import Postgres

# The tables whose rows own a large object (archive_oid) holding the uploaded archive.
ARCHIVE_TABLES = ("addons", "dependency_packages", "installers")


async def empty_addon_store(db: Postgres) -> None:
    """No bundles, addons, dependency packages or installers, nor their archives."""
    await db.execute("DELETE FROM public.bundles")
    for table in ARCHIVE_TABLES:
        await db.execute(
            f"SELECT lo_unlink(archive_oid) FROM public.{table} WHERE archive_oid IS NOT NULL"
        )
        await db.execute(f"DELETE FROM public.{table}")
