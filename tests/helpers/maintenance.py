"""Set-up the maintenance tests share: real rows, real locks, real `python -m maintenance` runs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from ayon_server.config import Settings
from ayon_server.lib.postgres import Postgres
from ayon_server.maintenance.catalog import TASK_NAMES
from ayon_server.maintenance.lock import LOCK_KEY
from ayon_server.maintenance.runs import MAINTENANCE_TOPIC
from ayon_server.runtime import Runtime
from tests.helpers.settings import PYTHON, REPO_ROOT, subprocess_env


async def add_event(
    runtime: Runtime,
    *,
    topic: str = "test.event",
    status: str = "finished",
    age_days: float = 0,
    depends_on: str | None = None,
    summary: dict[str, Any] | None = None,
) -> str:
    event_id = await runtime.events.dispatch(
        topic,
        status=status,
        depends_on=depends_on,
        summary=summary,  # type: ignore[arg-type]
    )
    if age_days:
        await runtime.db.execute(
            "UPDATE public.events SET created_at = now() - make_interval(secs => $2) WHERE id = $1",
            uuid.UUID(event_id),
            age_days * 86400,
        )
    return event_id


async def existing_events(db: Postgres, ids: list[str]) -> set[str]:
    rows = await db.fetch(
        "SELECT id FROM public.events WHERE id = ANY($1::uuid[])", [uuid.UUID(i) for i in ids]
    )
    return {row["id"].hex for row in rows}


async def maintenance_events(db: Postgres) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT id, status, description, summary FROM public.events "
        "WHERE topic = $1 ORDER BY created_at",
        MAINTENANCE_TOPIC,
    )


async def add_old_logs(db: Postgres, count: int, start: datetime | None = None) -> None:
    """`count` log rows years old (they land in the DEFAULT partition), one second apart."""
    await db.execute(
        """
        INSERT INTO public.logs (created_at, level, message)
        SELECT $2::timestamptz + g * interval '1 second', 'info', 'old record ' || g
        FROM generate_series(1, $1) g
        """,
        count,
        start or datetime(2015, 1, 1, tzinfo=UTC),
    )


async def count_logs(db: Postgres) -> int:
    return await db.fetchval("SELECT count(*) FROM public.logs")


@asynccontextmanager
async def lock_held_elsewhere(settings: Settings) -> AsyncIterator[None]:
    """Hold the maintenance advisory lock from a connection of our own, like another replica."""
    conn = await asyncpg.connect(settings.postgres_url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1, $2)", *LOCK_KEY)
        yield
    finally:
        await conn.close()


@asynccontextmanager
async def delete_trigger(db: Postgres, table: str, body: str) -> AsyncIterator[None]:
    """A BEFORE DELETE trigger on `table` (e.g. one that raises, as a DBA's guard would)."""
    await db.execute(
        "CREATE FUNCTION public.maintenance_test_guard() RETURNS trigger LANGUAGE plpgsql "
        f"AS $$ BEGIN {body} END $$"
    )
    await db.execute(
        f"CREATE TRIGGER maintenance_test_guard BEFORE DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION public.maintenance_test_guard()"
    )
    try:
        yield
    finally:
        await db.execute(f"DROP TRIGGER IF EXISTS maintenance_test_guard ON {table}")
        await db.execute("DROP FUNCTION IF EXISTS public.maintenance_test_guard()")


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


async def start_cli(
    settings: Settings, *args: str, module: bool = True, **env: str
) -> asyncio.subprocess.Process:
    """`python -m maintenance ARGS` (or `python entrypoint.py` when module is False)."""
    command = ["-m", "maintenance", *args] if module else [str(REPO_ROOT / "entrypoint.py")]
    return await asyncio.create_subprocess_exec(
        PYTHON,
        *command,
        cwd=REPO_ROOT,
        env=subprocess_env(settings, **env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(process: asyncio.subprocess.Process, timeout: float = 60.0) -> CliResult:
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return CliResult(process.returncode or 0, stdout.decode(), stderr.decode())


async def run_cli(settings: Settings, *args: str, **env: str) -> CliResult:
    return await finish(await start_cli(settings, *args, **env))


@asynccontextmanager
async def killed_on_exit(process: asyncio.subprocess.Process) -> AsyncIterator[None]:
    """Never leave a maintenance process (and its lock) behind a failing test."""
    try:
        yield
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def cron_at(moment: datetime) -> str:
    """A daily cron expression firing at `moment`'s UTC hour and minute."""
    moment = moment.astimezone(UTC)
    return f"{moment.minute} {moment.hour} * * *"


async def schedule_nothing_due(db: Postgres) -> datetime:
    """Store a daily schedule two hours ahead, whose last fire is long past the missed-run grace
    period, so a scheduler starting now runs nothing; the moment it next fires."""
    moment = datetime.now(UTC) + timedelta(hours=2)
    await db.execute(
        "INSERT INTO public.config (key, value) VALUES ('maintenance', $1)",
        {"schedule": cron_at(moment)},
    )
    return moment.replace(second=0, microsecond=0)


def only_tasks(*names: str) -> dict[str, dict[str, bool]]:
    """A `tasks` patch enabling just these tasks."""
    return {name: {"enabled": name in names} for name in TASK_NAMES}
