"""Apply ordered SQL migrations under a PostgreSQL advisory lock, each in its own transaction."""

from __future__ import annotations

import logging

import asyncpg

from ayon_server.schema import SCHEMA_MIGRATIONS_DDL, Migration, load_migrations, schema_state
from setup import MIGRATIONS_DIR
from setup.database import SetupError

log = logging.getLogger("setup")

# Constant key shared by every setup process of every release.
MIGRATION_LOCK_KEY = 0x4159_4F4E  # "AYON"


async def apply_migrations(
    conn: asyncpg.Connection, migrations: list[Migration] | None = None
) -> list[Migration]:
    """Apply what is pending; return what this process applied (others may have done the rest)."""
    migrations = load_migrations(MIGRATIONS_DIR) if migrations is None else migrations
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(SCHEMA_MIGRATIONS_DDL)
        state = await schema_state(conn, migrations)
        if state.changed:
            raise SetupError(
                "applied migration changed on disk: "
                + ", ".join(state.changed)
                + " (restore the original file and add a new migration instead)"
            )
        if state.newer:
            # Migrations only add within a release line: this release runs on that schema.
            log.warning("%s", state.newer_note())
        for migration in state.pending:
            log.info("applying migration %s", migration.filename)
            try:
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO public.schema_migrations (version, name, checksum) "
                        "VALUES ($1, $2, $3)",
                        migration.version,
                        migration.name,
                        migration.checksum,
                    )
            except asyncpg.PostgresError as exc:
                raise SetupError(f"migration {migration.filename} failed: {exc}") from None
        return state.pending
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
