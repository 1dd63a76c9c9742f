"""A task stopped in the middle of a long statement: its timeout, or a shutdown that cannot wait.

The statements are real and long (a VACUUM FULL waiting for a table lock, a pg_sleep), so these
tests show that the statement is cancelled on the server, not left running, and that the run's
summary keeps the counts the task reached, also with a short AYON_SHUTDOWN_TIMEOUT.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from ayon_server.api.app import create_app
from ayon_server.config import Settings
from ayon_server.lib.postgres import Postgres
from ayon_server.maintenance.config import save_config
from ayon_server.maintenance.lock import is_running
from ayon_server.runtime import Runtime
from maintenance.runner import MaintenanceRunner
from maintenance.service import MaintenanceProcedure
from maintenance.tasks import TASKS
from maintenance.tasks.base import MaintenanceTask, TaskContext
from tests.helpers.maintenance import cron_at, maintenance_events, only_tasks
from tests.helpers.server import serving
from tests.helpers.users import login, make_user
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.usefixtures("clean_tables")


class SleepingSites(MaintenanceTask):
    """Stands in for clean_sites: three rows' worth of counts, then one very long statement."""

    name = "clean_sites"
    counts = ("deleted",)

    async def run(self, ctx: TaskContext) -> None:
        ctx.report.expect(6)
        ctx.report.add("deleted", 3)
        ctx.report.advance(3)
        await ctx.runtime.db.execute("SELECT pg_sleep(600)")


WITH_SLEEPING_SITES = tuple(SleepingSites if task.name == "clean_sites" else task for task in TASKS)


async def active_statements(db: Postgres, like: str) -> int:
    return await db.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND state = 'active' AND query ILIKE $1 AND pid <> pg_backend_pid()",
        like,
    )


@asynccontextmanager
async def table_locked(settings: Settings, table: str) -> AsyncIterator[None]:
    """An open transaction reading `table`: a VACUUM FULL of it waits for the lock."""
    conn = await asyncpg.connect(settings.postgres_url)
    try:
        async with conn.transaction():
            await conn.execute(f"LOCK TABLE {table} IN ACCESS SHARE MODE")
            yield
    finally:
        await conn.close()


def short_shutdown(settings: Settings) -> Settings:
    return settings.model_copy(update={"shutdown_timeout": 1.0})


async def test_a_task_past_its_timeout_has_its_statement_cancelled_and_keeps_its_counts(
    runtime: Runtime,
) -> None:
    await save_config(runtime, {"taskTimeoutMinutes": 0.02})  # 1.2 seconds

    result = await MaintenanceRunner(runtime, WITH_SLEEPING_SITES).run(
        ["clean_sites", "clean_events"]
    )

    events, sites = result.tasks  # in registry order
    assert (sites.status, sites.error) == ("failed", "timed out after 0.02 minutes")
    assert sites.result == {"deleted": 3, "stoppedBy": "timeout"}
    assert events.status == "finished"
    assert await active_statements(runtime.db, "%pg_sleep(600)%") == 0


async def test_a_short_shutdown_timeout_cancels_a_waiting_vacuum_full_and_keeps_the_summary(
    settings: Settings, runtime: Runtime
) -> None:
    await save_config(runtime, {"vacuumMode": "full"})
    app = create_app(short_shutdown(settings), maintenance=MaintenanceProcedure())
    async with table_locked(settings, "public.config"):
        async with serving(app) as client:
            headers = await login(client, await make_user(runtime, isAdmin=True))
            response = await client.post(
                "/api/maintenance/run", json={"tasks": ["vacuum_db"]}, headers=headers
            )
            assert response.status_code == 202

            async def vacuum_waits() -> bool:
                statement = 'VACUUM (FULL, ANALYZE) "public"."config"'
                return await active_statements(runtime.db, statement) > 0

            await wait_until(vacuum_waits, what="VACUUM FULL to wait for the table lock")
        # The app has shut down; the transaction holding the lock is still open.
        assert await active_statements(runtime.db, "VACUUM%") == 0

    (event,) = await maintenance_events(runtime.db)
    assert (event["status"], event["description"]) == ("failed", "interrupted by shutdown")
    (vacuum,) = event["summary"]["tasks"]
    assert (vacuum["status"], vacuum["error"]) == ("failed", "interrupted by shutdown")
    tables = vacuum["result"]["tables"]
    assert vacuum["result"]["mode"] == "full"
    assert vacuum["result"]["stoppedBy"] == "shutdown"
    # Every table before public.config was vacuumed; that one was not.
    assert vacuum["result"]["vacuumed"] == tables.index("public.config")
    assert not await is_running(runtime.db)


async def test_a_scheduled_run_stopped_by_a_short_shutdown_timeout_records_what_it_did(
    settings: Settings, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    now = await runtime.db.fetchval("SELECT now() - interval '10 minutes'")
    await save_config(
        runtime, {"schedule": cron_at(now), "tasks": only_tasks("clean_sites", "vacuum_db")}
    )
    app = create_app(
        short_shutdown(settings),
        run_maintenance=True,
        maintenance=MaintenanceProcedure(WITH_SLEEPING_SITES),
    )
    async with serving(app):

        async def sleeping() -> bool:
            return await active_statements(runtime.db, "%pg_sleep(600)%") > 0

        await wait_until(sleeping, what="the scheduled run to reach its long statement")

    assert await active_statements(runtime.db, "%pg_sleep(600)%") == 0
    (event,) = await maintenance_events(runtime.db)
    assert (event["status"], event["description"]) == ("failed", "interrupted by shutdown")
    tasks = {task["name"]: task for task in event["summary"]["tasks"]}
    assert len(tasks) == len(TASKS)
    assert tasks["clean_sites"]["status"] == "failed"
    assert tasks["clean_sites"]["result"] == {"deleted": 3, "stoppedBy": "shutdown"}
    assert tasks["vacuum_db"]["result"] == {"reason": "shutdown"}
    assert tasks["clean_logs"]["result"] == {"reason": "disabled"}
    assert "crashed" not in caplog.text
    assert not await is_running(runtime.db)
