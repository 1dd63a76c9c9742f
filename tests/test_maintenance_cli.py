"""python -m maintenance (a fixed contract): exit codes, --list, --task, --dry-run, signals."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

import pytest

from ayon_server.config import Settings
from ayon_server.maintenance.catalog import TASK_NAMES
from ayon_server.maintenance.config import save_config
from ayon_server.maintenance.lock import is_running
from ayon_server.runtime import Runtime
from maintenance.runner import MaintenanceRunner
from maintenance.tasks import TASKS
from tests.helpers.maintenance import (
    add_old_logs,
    count_logs,
    delete_trigger,
    finish,
    killed_on_exit,
    lock_held_elsewhere,
    maintenance_events,
    only_tasks,
    run_cli,
    start_cli,
)
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.usefixtures("clean_tables")

SLOW_ROWS = 3000  # with batchSize 1, clean_logs runs long enough to be signalled or killed


async def test_list_prints_every_task_in_contract_order_with_its_enabled_state(
    settings: Settings, runtime: Runtime
) -> None:
    await save_config(runtime, {"tasks": {"clean_logs": {"enabled": False}}})

    cli = await run_cli(settings, "--list")

    assert cli.returncode == 0, cli.stderr
    lines = [line.split(maxsplit=2) for line in cli.stdout.splitlines()]
    assert [line[0] for line in lines] == list(TASK_NAMES)
    assert [line[2] for line in lines] == [task.title for task in TASKS]
    states = {line[0]: line[1] for line in lines}
    assert states["clean_logs"] == "disabled"
    assert {states[name] for name in TASK_NAMES if name != "clean_logs"} == {"enabled"}


async def test_no_arguments_runs_every_enabled_task_and_exits_0(
    settings: Settings, runtime: Runtime
) -> None:
    await add_old_logs(runtime.db, 5)

    cli = await run_cli(settings)

    assert cli.returncode == 0, cli.stderr
    assert await count_logs(runtime.db) == 0
    (event,) = await maintenance_events(runtime.db)
    skipped = sum(task["status"] == "skipped" for task in event["summary"]["tasks"])
    assert (event["status"], event["description"]) == (
        "finished",
        f"Maintenance finished: 13 tasks, {skipped} skipped",
    )
    assert event["summary"]["trigger"] == "cli"
    assert [task["name"] for task in event["summary"]["tasks"]] == list(TASK_NAMES)
    # A short human summary: one line per task, then the outcome.
    assert "clean_logs" in cli.stdout and "deleted=5" in cli.stdout
    assert "Maintenance finished" in cli.stdout.splitlines()[-1]


async def test_a_failed_task_makes_the_run_exit_1_after_running_the_rest(
    settings: Settings, runtime: Runtime
) -> None:
    await add_old_logs(runtime.db, 2)
    async with delete_trigger(
        runtime.db, "public.logs_default", "RAISE EXCEPTION 'log deletes are frozen';"
    ):
        cli = await run_cli(settings, "--task", "clean_logs", "--task", "clean_events")

    assert cli.returncode == 1
    assert "log deletes are frozen" in cli.stdout
    (event,) = await maintenance_events(runtime.db)
    assert event["status"] == "failed"
    assert [(t["name"], t["status"]) for t in event["summary"]["tasks"]] == [
        ("clean_logs", "failed"),
        ("clean_events", "finished"),
    ]


async def test_task_runs_only_the_named_tasks_even_when_disabled(
    settings: Settings, runtime: Runtime
) -> None:
    await save_config(runtime, {"tasks": only_tasks()})

    cli = await run_cli(settings, "--task", "clean_events")

    assert cli.returncode == 0, cli.stderr
    (event,) = await maintenance_events(runtime.db)
    assert [task["name"] for task in event["summary"]["tasks"]] == ["clean_events"]


async def test_an_unknown_task_exits_2_listing_the_valid_names(
    settings: Settings, runtime: Runtime
) -> None:
    cli = await run_cli(settings, "--task", "clean_logs", "--task", "clean_everything")

    assert cli.returncode == 2
    assert "clean_everything" in cli.stderr
    assert all(name in cli.stderr for name in TASK_NAMES)
    assert await maintenance_events(runtime.db) == []


async def test_a_bad_environment_setting_exits_2_with_one_line(settings: Settings) -> None:
    cli = await run_cli(settings, AYON_POSTGRES_URL="mysql://db/ayon")

    assert cli.returncode == 2
    assert cli.stderr.strip().count("\n") == 0
    assert "AYON_POSTGRES_URL" in cli.stderr


async def test_a_dead_database_is_one_clear_line_and_exit_1(settings: Settings) -> None:
    cli = await run_cli(settings, AYON_POSTGRES_URL="postgres://postgres@127.0.0.1:1/ayon")

    assert cli.returncode == 1
    assert cli.stderr.strip().count("\n") == 0
    assert "cannot reach PostgreSQL" in cli.stderr


async def test_exit_3_and_no_event_while_another_run_holds_the_lock(
    settings: Settings, runtime: Runtime
) -> None:
    async with lock_held_elsewhere(settings):
        cli = await run_cli(settings)

    assert cli.returncode == 3
    assert cli.stderr.strip() == "maintenance: another maintenance run is in progress; nothing done"
    assert cli.stdout == ""
    assert await maintenance_events(runtime.db) == []


async def test_dry_run_counts_but_deletes_nothing(settings: Settings, runtime: Runtime) -> None:
    await add_old_logs(runtime.db, 4)

    cli = await run_cli(settings, "--dry-run", "--task", "clean_logs")

    assert cli.returncode == 0, cli.stderr
    assert "deleted=4" in cli.stdout
    assert await count_logs(runtime.db) == 4
    (event,) = await maintenance_events(runtime.db)
    assert event["summary"]["dryRun"] is True


async def start_slow_cli_run(
    settings: Settings, runtime: Runtime
) -> tuple[asyncio.subprocess.Process, Callable[[], Awaitable[bool]]]:
    await save_config(runtime, {"batchSize": 1})
    await add_old_logs(runtime.db, SLOW_ROWS)
    process = await start_cli(settings, "--task", "clean_logs", "--task", "clean_events")

    async def deleting() -> bool:
        events = await maintenance_events(runtime.db)
        return bool(
            events
            and events[0]["description"] == "Clean-up logs"
            and await count_logs(runtime.db) < SLOW_ROWS
        )

    return process, deleting


async def test_sigterm_stops_the_run_at_a_batch_boundary_and_records_it_interrupted(
    settings: Settings, runtime: Runtime
) -> None:
    process, deleting = await start_slow_cli_run(settings, runtime)
    async with killed_on_exit(process):
        await wait_until(deleting, what="the CLI run to start deleting logs")
        process.send_signal(signal.SIGTERM)
        cli = await finish(process, timeout=30)

    # A one-shot run that did not complete is not a success.
    assert cli.returncode == 1
    (event,) = await maintenance_events(runtime.db)
    assert (event["status"], event["description"]) == ("failed", "interrupted by shutdown")
    assert [(t["name"], t["status"], t["error"]) for t in event["summary"]["tasks"]] == [
        ("clean_logs", "failed", "interrupted by shutdown"),
        ("clean_events", "skipped", None),
    ]
    remaining = await count_logs(runtime.db)
    assert 0 < remaining < SLOW_ROWS
    logs = event["summary"]["tasks"][0]["result"]
    assert (logs["deleted"], logs["stoppedBy"]) == (SLOW_ROWS - remaining, "shutdown")
    assert not await is_running(runtime.db)


async def test_a_killed_run_is_recovered_as_interrupted_by_the_next_run(
    settings: Settings, runtime: Runtime
) -> None:
    process, deleting = await start_slow_cli_run(settings, runtime)
    async with killed_on_exit(process):
        await wait_until(deleting, what="the CLI run to start deleting logs")
        process.kill()
        await process.wait()

    (killed,) = await maintenance_events(runtime.db)
    assert killed["status"] == "in_progress"

    async def lock_released() -> bool:
        return not await is_running(runtime.db)

    await wait_until(lock_released, what="PostgreSQL to drop the killed run's lock")
    result = await MaintenanceRunner(runtime).run(["clean_events"])

    recovered = await runtime.events.get(killed["id"])
    assert (recovered.status, recovered.description) == ("failed", "interrupted")
    assert result.status == "finished"


async def test_two_runs_started_together_one_runs_and_the_other_exits_3(
    settings: Settings, runtime: Runtime
) -> None:
    await save_config(runtime, {"batchSize": 1})
    await add_old_logs(runtime.db, SLOW_ROWS)
    processes = [await start_cli(settings, "--task", "clean_logs") for _ in range(2)]
    try:
        done, pending = await asyncio.wait(
            [asyncio.create_task(process.wait()) for process in processes],
            timeout=30,
            return_when=asyncio.FIRST_COMPLETED,
        )
        assert [task.result() for task in done] == [3]
        (running,) = [process for process in processes if process.returncode is None]
        await wait_until(lambda: is_running(runtime.db), what="the winner to hold the lock")
        running.send_signal(signal.SIGTERM)
        await asyncio.wait(pending, timeout=30)
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()

    assert sorted(process.returncode for process in processes) == [1, 3]
    (event,) = await maintenance_events(runtime.db)
    assert event["description"] == "interrupted by shutdown"
