"""vacuum_db: ANALYZE by default, FULL when opted in, nothing when off or in a dry run."""

from __future__ import annotations

import pytest

from ayon_server.maintenance.config import save_config
from ayon_server.runtime import Runtime
from maintenance.runner import MaintenanceRunner, TaskOutcome
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.usefixtures("clean_tables")


async def reset_statistics(runtime: Runtime) -> None:
    await runtime.db.execute(
        "SELECT pg_stat_reset_single_table_counters('public.events'::regclass)"
    )


async def events_vacuumed(runtime: Runtime) -> bool:
    return await runtime.db.fetchval(
        "SELECT last_vacuum IS NOT NULL AND last_analyze IS NOT NULL "
        "FROM pg_stat_user_tables WHERE relid = 'public.events'::regclass"
    )


async def events_file(runtime: Runtime) -> int:
    return await runtime.db.fetchval("SELECT pg_relation_filenode('public.events')")


async def vacuum(runtime: Runtime, *, dry_run: bool = False) -> TaskOutcome:
    result = await MaintenanceRunner(runtime).run(["vacuum_db"], dry_run=dry_run)
    (task,) = result.tasks
    return task


async def test_analyze_mode_vacuums_and_analyzes_every_public_table_in_place(
    runtime: Runtime,
) -> None:
    await reset_statistics(runtime)
    file_before = await events_file(runtime)

    task = await vacuum(runtime)

    assert task.status == "finished"
    assert task.result["mode"] == "analyze"
    assert {"public.events", "public.logs", "public.config"} <= set(task.result["tables"])
    # The partitioned parent stands for its partitions.
    assert not any(name.startswith("public.logs_") for name in task.result["tables"])
    await wait_until(lambda: events_vacuumed(runtime), timeout=10, what="vacuum statistics")
    assert await events_file(runtime) == file_before


async def test_full_mode_rewrites_the_tables(runtime: Runtime) -> None:
    await save_config(runtime, {"vacuumMode": "full"})
    file_before = await events_file(runtime)

    task = await vacuum(runtime)

    assert (task.status, task.result["mode"]) == ("finished", "full")
    assert await events_file(runtime) != file_before


async def test_off_mode_skips_with_the_reason(runtime: Runtime) -> None:
    await save_config(runtime, {"vacuumMode": "off"})

    task = await vacuum(runtime)

    assert (task.status, task.result) == ("skipped", {"reason": "vacuumMode is off"})


async def test_a_dry_run_lists_the_tables_and_vacuums_nothing(runtime: Runtime) -> None:
    await save_config(runtime, {"vacuumMode": "full"})
    await reset_statistics(runtime)
    file_before = await events_file(runtime)

    task = await vacuum(runtime, dry_run=True)

    assert task.status == "finished"
    assert "public.events" in task.result["tables"]
    assert await events_file(runtime) == file_before
    assert not await events_vacuumed(runtime)
