"""Upgrades without an outage: a database migrated by a newer release still serves this one.

These tests change public.schema_migrations of the run's shared database, without a
transaction (the server reads it on its own connections), and put the rows back in `finally`.
"""

from __future__ import annotations

import asyncio
import subprocess

import httpx

from ayon_server.config import Settings
from ayon_server.runtime import Runtime
from ayon_server.schema import load_migrations
from setup import MIGRATIONS_DIR
from setup.__main__ import run_setup
from tests.helpers.settings import PYTHON, REPO_ROOT, subprocess_env

LATEST = max(m.version for m in load_migrations(MIGRATIONS_DIR))
FUTURE = [LATEST + 1, LATEST + 2]


async def _add_future_rows(runtime: Runtime) -> None:
    await runtime.db.execute(
        "INSERT INTO public.schema_migrations (version, name, checksum) "
        "SELECT v, 'future_' || v, repeat('0', 64) FROM unnest($1::int[]) AS v",
        FUTURE,
    )


async def _remove_future_rows(runtime: Runtime) -> None:
    await runtime.db.execute(
        "DELETE FROM public.schema_migrations WHERE version = ANY($1::int[])", FUTURE
    )


async def test_newer_migrations_keep_ready_200_and_are_named(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    await _add_future_rows(runtime)
    try:
        response = await client.get("/api/ready")
    finally:
        await _remove_future_rows(runtime)
    assert response.status_code == 200, response.text
    schema = response.json()["checks"]["schema"]
    assert schema["ok"] is True
    versions = ", ".join(map(str, FUTURE))
    assert f"database has newer migrations {versions}: fine during an upgrade" in schema["detail"]


async def test_a_missing_migration_makes_ready_503_naming_it(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    row = await runtime.db.fetchrow(
        "DELETE FROM public.schema_migrations WHERE version = $1 RETURNING *", LATEST
    )
    assert row is not None
    try:
        response = await client.get("/api/ready")
    finally:
        await runtime.db.execute(
            "INSERT INTO public.schema_migrations (version, name, checksum, applied_at) "
            "VALUES ($1, $2, $3, $4)",
            row["version"],
            row["name"],
            row["checksum"],
            row["applied_at"],
        )
    assert response.status_code == 503
    filename = next(m.filename for m in load_migrations(MIGRATIONS_DIR) if m.version == LATEST)
    assert response.json()["checks"]["schema"] == {
        "ok": False,
        "detail": f"pending migrations: {filename}",
    }
    assert (await client.get("/api/ready")).status_code == 200  # restored


async def test_setup_and_check_of_an_older_release_accept_a_newer_database(
    settings: Settings, runtime: Runtime
) -> None:
    await _add_future_rows(runtime)
    try:
        await run_setup(settings)  # applies nothing, does not refuse
        check = await asyncio.create_subprocess_exec(
            PYTHON,
            "-m",
            "setup",
            "--check",
            env=subprocess_env(settings),
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        stdout, stderr = await check.communicate()
        applied = await runtime.db.fetchval("SELECT count(*) FROM public.schema_migrations")
    finally:
        await _remove_future_rows(runtime)
    assert check.returncode == 0, stderr.decode()
    assert "schema is current" in stdout.decode()
    assert "database has newer migrations" in stderr.decode()
    assert applied == len(load_migrations(MIGRATIONS_DIR)) + len(FUTURE)


async def test_a_changed_migration_still_makes_ready_503(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    checksum = await runtime.db.fetchval(
        "SELECT checksum FROM public.schema_migrations WHERE version = $1", LATEST
    )
    try:
        await runtime.db.execute(
            "UPDATE public.schema_migrations SET checksum = $2 WHERE version = $1",
            LATEST,
            "f" * 64,
        )
        response = await client.get("/api/ready")
    finally:
        await runtime.db.execute(
            "UPDATE public.schema_migrations SET checksum = $2 WHERE version = $1",
            LATEST,
            checksum,
        )
    assert response.status_code == 503
    assert "applied migration changed on disk" in response.json()["detail"]
