"""python -m setup [--check]: exit 0 on success (schema current), 1 on failure (or pending)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import asyncpg

from ayon_server.config import ConfigError, Settings, load_settings
from ayon_server.lib.postgres import connect_once, database_name
from ayon_server.logging_setup import configure_logging
from ayon_server.logs.partitions import ensure_partitions
from ayon_server.schema import load_migrations, schema_state
from setup import MIGRATIONS_DIR
from setup.admin import bootstrap_admin
from setup.database import SetupError, create_database, wait_for_postgres
from setup.migrate import apply_migrations

log = logging.getLogger("setup")


async def run_setup(settings: Settings) -> None:
    await wait_for_postgres(settings.postgres_url, settings.setup_timeout)
    await create_database(settings.postgres_url)
    conn = await connect_once(settings.postgres_url)
    try:
        applied = await apply_migrations(conn)
        created = await ensure_partitions(conn, settings.log_partitions_ahead)
        if settings.admin_user and settings.admin_password:
            await bootstrap_admin(conn, settings.admin_user, settings.admin_password)
        elif settings.admin_user or settings.admin_password:
            log.warning("set both AYON_ADMIN_USER and AYON_ADMIN_PASSWORD to create the admin")
    finally:
        await conn.close()
    log.info(
        "setup done: %d migration(s) applied, %d log partition(s) created",
        len(applied),
        len(created),
    )


async def check_schema(settings: Settings) -> bool:
    await wait_for_postgres(settings.postgres_url, settings.setup_timeout)
    try:
        conn = await connect_once(settings.postgres_url)
    except asyncpg.InvalidCatalogNameError:
        print(
            f"database {database_name(settings.postgres_url)!r} does not exist; "
            "every migration is pending (run python -m setup)",
            file=sys.stderr,
        )
        return False
    try:
        state = await schema_state(conn, load_migrations(MIGRATIONS_DIR))
    finally:
        await conn.close()
    for problem in state.problems():
        print(problem, file=sys.stderr)
    if state.newer:
        print(state.newer_note(), file=sys.stderr)
    if state.current:
        print("schema is current")
    return state.current


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m setup", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="apply nothing; exit 1 when migrations are pending"
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"setup: {exc}", file=sys.stderr)
        return 1
    configure_logging(settings)
    try:
        if args.check:
            return 0 if asyncio.run(check_schema(settings)) else 1
        asyncio.run(run_setup(settings))
    except SetupError as exc:
        print(f"setup failed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # an unexpected error still ends with one clear line and exit 1
        log.debug("setup crashed", exc_info=True)
        print(f"setup failed: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
