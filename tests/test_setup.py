"""python -m setup: database creation, migrations, concurrency, admin bootstrap, --check."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta

import asyncpg

from ayon_server.auth.passwords import verify_password
from ayon_server.config import Settings
from ayon_server.logs.partitions import ensure_partitions, list_partitions, partition_name
from ayon_server.schema import load_migrations
from setup import MIGRATIONS_DIR
from tests.helpers.server import free_port
from tests.helpers.settings import PYTHON, REPO_ROOT, subprocess_env


async def run_module(settings: Settings, *args: str, **env: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        PYTHON,
        "-m",
        "setup",
        *args,
        cwd=REPO_ROOT,
        env=subprocess_env(settings, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode, out.decode()


async def applied_versions(settings: Settings) -> list[int]:
    conn = await asyncpg.connect(settings.postgres_url)
    try:
        rows = await conn.fetch("SELECT version FROM public.schema_migrations ORDER BY version")
        return [row["version"] for row in rows]
    finally:
        await conn.close()


async def test_setup_creates_the_database_and_is_idempotent(empty_database: Settings) -> None:
    code, out = await run_module(empty_database)
    assert code == 0, out
    expected = [m.version for m in load_migrations(MIGRATIONS_DIR)]
    assert await applied_versions(empty_database) == expected

    code, out = await run_module(empty_database)
    assert code == 0, out
    assert "0 migration(s) applied" in out
    assert await applied_versions(empty_database) == expected


async def test_check_reports_pending_migrations_until_setup_ran(empty_database: Settings) -> None:
    code, out = await run_module(empty_database, "--check")
    assert code == 1
    assert "does not exist" in out

    assert (await run_module(empty_database))[0] == 0
    code, out = await run_module(empty_database, "--check")
    assert code == 0, out

    conn = await asyncpg.connect(empty_database.postgres_url)
    await conn.execute("DELETE FROM public.schema_migrations WHERE version = 1")
    await conn.close()
    code, out = await run_module(empty_database, "--check")
    assert code == 1
    assert "pending migrations: 0001_core.sql" in out


async def test_a_changed_applied_migration_fails_and_names_the_file(
    empty_database: Settings,
) -> None:
    assert (await run_module(empty_database))[0] == 0
    conn = await asyncpg.connect(empty_database.postgres_url)
    await conn.execute("UPDATE public.schema_migrations SET checksum = 'edited' WHERE version = 1")
    await conn.close()

    code, out = await run_module(empty_database)
    assert code == 1
    assert "0001_core.sql" in out
    assert "Traceback" not in out


async def test_three_concurrent_setups_on_an_empty_database_all_succeed_once(
    empty_database: Settings,
) -> None:
    results = await asyncio.gather(*(run_module(empty_database) for _ in range(3)))
    for code, out in results:
        assert code == 0, out
    applied_total = sum(
        int(out.split(" migration(s) applied")[0].rsplit(" ", 1)[-1]) for _, out in results
    )
    assert applied_total == len(load_migrations(MIGRATIONS_DIR))
    assert await applied_versions(empty_database) == [
        m.version for m in load_migrations(MIGRATIONS_DIR)
    ]


async def test_setup_bootstraps_the_admin_once_with_an_argon2_hash(
    empty_database: Settings,
) -> None:
    code, out = await run_module(
        empty_database, AYON_ADMIN_USER="boss", AYON_ADMIN_PASSWORD="first-secret"
    )
    assert code == 0, out
    code, out = await run_module(
        empty_database, AYON_ADMIN_USER="boss", AYON_ADMIN_PASSWORD="second-secret"
    )
    assert code == 0, out

    conn = await asyncpg.connect(empty_database.postgres_url)
    row = await conn.fetchrow("SELECT password_hash, data FROM public.users WHERE name = 'boss'")
    await conn.close()
    assert row["password_hash"].startswith("$argon2id$")
    assert verify_password(row["password_hash"], "first-secret")
    assert not verify_password(row["password_hash"], "second-secret")
    assert '"isAdmin": true' in row["data"]


async def test_setup_gives_up_on_an_unreachable_postgres_with_one_clear_line(
    empty_database: Settings,
) -> None:
    dead = empty_database.model_copy(
        update={"postgres_url": f"postgres://postgres@127.0.0.1:{free_port()}/x"}
    )
    code, out = await run_module(dead, AYON_SETUP_TIMEOUT="1.5")
    assert code == 1
    assert "waiting for PostgreSQL" in out
    assert "did not answer within" in out
    assert "Traceback" not in out


async def test_setup_rejects_an_invalid_environment_value(empty_database: Settings) -> None:
    code, out = await run_module(empty_database, AYON_LOG_FORMAT="yaml")
    assert code == 1
    assert "AYON_LOG_FORMAT" in out


async def test_log_partitions_exist_ahead_and_adopt_rows_from_the_default_partition(
    empty_database: Settings,
) -> None:
    assert (await run_module(empty_database))[0] == 0
    conn = await asyncpg.connect(empty_database.postgres_url)
    try:
        today = datetime.now(UTC).date()
        names = {p.name for p in await list_partitions(conn)}
        for offset in range(4):
            assert partition_name(today + timedelta(days=offset)) in names
        assert "logs_default" in names

        far = datetime.combine(today + timedelta(days=30), datetime.min.time(), tzinfo=UTC)
        await conn.execute(
            "INSERT INTO public.logs (created_at, level, message) VALUES ($1, 'info', 'early')",
            far + timedelta(hours=5),
        )
        assert await conn.fetchval("SELECT count(*) FROM public.logs_default") == 1

        created = await ensure_partitions(conn, days_ahead=0, today=far.date())
        assert created == [partition_name(far.date())]
        assert await conn.fetchval("SELECT count(*) FROM public.logs_default") == 0
        table = partition_name(far.date())
        assert await conn.fetchval(f"SELECT message FROM public.{table}") == "early"
        assert await ensure_partitions(conn, days_ahead=0, today=far.date()) == []
    finally:
        await conn.close()
