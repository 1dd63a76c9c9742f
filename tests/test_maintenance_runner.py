"""MaintenanceRunner: one event per run, sequential isolated tasks, one run at a time."""

from __future__ import annotations

import asyncio
import json

import pytest
from redis.asyncio.client import PubSub

from ayon_server.events.stream import EVENTS_CHANNEL
from ayon_server.maintenance.catalog import TASK_NAMES, UnknownTask
from ayon_server.maintenance.config import save_config
from ayon_server.maintenance.lock import MaintenanceLocked, is_running
from ayon_server.maintenance.runs import MAINTENANCE_TOPIC, last_run, list_runs
from ayon_server.runtime import Runtime
from maintenance.runner import MaintenanceRunner, RunResult
from maintenance.tasks import TASKS
from tests.helpers.maintenance import (
    add_event,
    add_old_logs,
    count_logs,
    delete_trigger,
    lock_held_elsewhere,
    maintenance_events,
    only_tasks,
)
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.usefixtures("clean_tables")

SLOW_ROWS = 2000  # with batchSize 1 a clean_logs run takes many seconds: time to interfere


async def collect_event_messages(
    pubsub: PubSub, until_status: str, timeout: float = 10.0
) -> list[dict]:
    messages: list[dict] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if message is None:
            continue
        event = json.loads(message["data"])
        if event["topic"] == MAINTENANCE_TOPIC:
            messages.append(event)
            if event["status"] == until_status:
                break
    return messages


async def test_a_run_goes_in_progress_then_through_each_title_in_order_then_finished(
    runtime: Runtime,
) -> None:
    pubsub = runtime.redis.pubsub()
    await runtime.redis.subscribe(pubsub, EVENTS_CHANNEL)
    try:
        result = await MaintenanceRunner(runtime).run(trigger="api")
        messages = await collect_event_messages(pubsub, until_status="finished")
    finally:
        await pubsub.aclose()

    skipped = sum(task.status == "skipped" for task in result.tasks)
    steps = []
    for message in messages:
        step = (message["status"], message["description"])
        if not steps or steps[-1] != step:
            steps.append(step)
    assert steps == [
        ("in_progress", "Maintenance started"),
        *[("in_progress", task.title) for task in TASKS],
        ("finished", f"Maintenance finished: 13 tasks, {skipped} skipped"),
    ]
    assert {message["id"] for message in messages} == {result.event_id}
    final = messages[-1]["summary"]
    assert final["trigger"] == "api" and final["dryRun"] is False
    assert [task["name"] for task in final["tasks"]] == list(TASK_NAMES)
    assert set(final["tasks"][0]) == {"name", "title", "status", "durationMs", "result", "error"}
    (event,) = await maintenance_events(runtime.db)
    assert event["summary"] == final


async def test_tasks_whose_domain_does_not_exist_yet_are_skipped_with_a_reason(
    runtime: Runtime,
) -> None:
    result = await MaintenanceRunner(runtime).run()

    outcomes = {task.name: (task.status, task.result.get("reason")) for task in result.tasks}
    assert outcomes["auto_update"] == ("skipped", "no update catalog configured")
    working = (
        "collect_metrics",
        "clean_thumbnails",
        "clean_logs",
        "clean_links",
        "clean_activities",
        "clean_events",
        "clean_files",
        "clean_dead_links",
        "clean_sessions",
        "clean_sites",
        "clean_replicas",
    )
    assert {outcomes[name] for name in (*working, "vacuum_db")} == {("finished", None)}
    skipped = [name for name, (status, _) in outcomes.items() if status == "skipped"]
    assert result.description == f"Maintenance finished: 13 tasks, {len(skipped)} skipped"


async def test_without_names_the_enabled_tasks_run_in_contract_order(runtime: Runtime) -> None:
    await save_config(runtime, {"tasks": only_tasks("vacuum_db", "clean_logs", "auto_update")})

    result = await MaintenanceRunner(runtime).run()

    assert [task.name for task in result.tasks] == list(TASK_NAMES)
    ran = [task.name for task in result.tasks if task.result.get("reason") != "disabled"]
    assert ran == ["auto_update", "clean_logs", "vacuum_db"]
    disabled = [task for task in result.tasks if task.name not in ran]
    assert {(t.status, t.duration_ms, t.error) for t in disabled} == {("skipped", 0, None)}
    assert {tuple(t.result.items()) for t in disabled} == {(("reason", "disabled"),)}
    (event,) = await maintenance_events(runtime.db)
    assert [t["name"] for t in event["summary"]["tasks"]] == list(TASK_NAMES)
    assert "current" not in event["summary"] and "progress" not in event["summary"]


async def test_named_tasks_run_even_when_disabled_and_never_out_of_order(
    runtime: Runtime,
) -> None:
    await save_config(runtime, {"tasks": only_tasks()})

    result = await MaintenanceRunner(runtime).run(["vacuum_db", "clean_events", "clean_logs"])

    assert [task.name for task in result.tasks] == ["clean_logs", "clean_events", "vacuum_db"]
    assert result.status == "finished"


async def test_an_unknown_task_is_rejected_before_anything_happens(runtime: Runtime) -> None:
    with pytest.raises(UnknownTask) as caught:
        await MaintenanceRunner(runtime).run(["clean_logs", "clean_everything"])

    assert "clean_everything" in str(caught.value)
    assert all(name in str(caught.value) for name in TASK_NAMES)
    assert await maintenance_events(runtime.db) == []


async def test_a_failing_task_is_recorded_and_the_others_still_run(runtime: Runtime) -> None:
    await add_old_logs(runtime.db, 3)
    async with delete_trigger(
        runtime.db, "public.logs_default", "RAISE EXCEPTION 'log deletes are frozen';"
    ):
        result = await MaintenanceRunner(runtime).run(["clean_logs", "clean_events", "vacuum_db"])

    assert [(task.name, task.status) for task in result.tasks] == [
        ("clean_logs", "failed"),
        ("clean_events", "finished"),
        ("vacuum_db", "finished"),
    ]
    assert "log deletes are frozen" in result.tasks[0].error
    (event,) = await maintenance_events(runtime.db)
    assert (event["status"], event["description"]) == (
        "failed",
        "Maintenance failed: clean_logs failed",
    )
    assert event["summary"]["tasks"][0]["error"] == result.tasks[0].error


async def test_a_task_past_its_timeout_is_cancelled_and_recorded_as_timed_out(
    runtime: Runtime,
) -> None:
    await save_config(runtime, {"taskTimeoutMinutes": 0.02})  # 1.2 seconds
    await add_old_logs(runtime.db, 1)
    async with delete_trigger(
        runtime.db, "public.logs_default", "PERFORM pg_sleep(30); RETURN OLD;"
    ):
        result = await MaintenanceRunner(runtime).run(["clean_logs", "clean_events"])

    assert [(task.name, task.status, task.error) for task in result.tasks] == [
        ("clean_logs", "failed", "timed out after 0.02 minutes"),
        ("clean_events", "finished", None),
    ]
    assert result.status == "failed"
    assert await count_logs(runtime.db) == 1


async def start_slow_run(runtime: Runtime, stop: asyncio.Event) -> asyncio.Task[RunResult]:
    await save_config(runtime, {"batchSize": 1})
    await add_old_logs(runtime.db, SLOW_ROWS)
    run = asyncio.create_task(
        MaintenanceRunner(runtime).run(["clean_logs", "clean_events"], stop_event=stop)
    )

    async def deleting() -> bool:
        return await is_running(runtime.db) and await count_logs(runtime.db) < SLOW_ROWS

    await wait_until(deleting, what="clean_logs to start deleting")
    return run


async def test_only_one_run_at_a_time_and_a_stop_ends_the_run_at_a_batch_boundary(
    runtime: Runtime,
) -> None:
    stop = asyncio.Event()
    first = await start_slow_run(runtime, stop)

    with pytest.raises(MaintenanceLocked):
        await MaintenanceRunner(runtime).run(["clean_events"])
    assert len(await maintenance_events(runtime.db)) == 1

    stop.set()
    result = await first

    assert result.status == "failed" and result.interrupted
    assert [(t.name, t.status, t.error) for t in result.tasks] == [
        ("clean_logs", "failed", "interrupted by shutdown"),
        ("clean_events", "skipped", None),
    ]
    remaining = await count_logs(runtime.db)
    assert 0 < remaining < SLOW_ROWS
    # The counts it reached: every row it deleted before the stop.
    logs, events = result.tasks
    assert logs.result["deleted"] == SLOW_ROWS - remaining
    assert logs.result["stoppedBy"] == "shutdown"
    assert events.result == {"reason": "shutdown"}
    (event,) = await maintenance_events(runtime.db)
    assert (event["status"], event["description"]) == ("failed", "interrupted by shutdown")
    assert not await is_running(runtime.db)


async def test_a_run_cancelled_from_outside_is_still_recorded_and_releases_the_lock(
    runtime: Runtime,
) -> None:
    run = await start_slow_run(runtime, asyncio.Event())

    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run

    (event,) = await maintenance_events(runtime.db)
    assert (event["status"], event["description"]) == ("failed", "interrupted by shutdown")
    assert not await is_running(runtime.db)


async def test_a_run_asked_for_while_another_replica_holds_the_lock_writes_nothing(
    runtime: Runtime,
) -> None:
    async with lock_held_elsewhere(runtime.settings):
        assert await is_running(runtime.db)
        with pytest.raises(MaintenanceLocked):
            await MaintenanceRunner(runtime).run()

    assert await maintenance_events(runtime.db) == []
    assert not await is_running(runtime.db)


async def test_a_run_left_in_progress_is_marked_interrupted_by_the_next_run(
    runtime: Runtime,
) -> None:
    stale = await add_event(runtime, topic=MAINTENANCE_TOPIC, status="in_progress", age_days=0.5)

    result = await MaintenanceRunner(runtime).run(["clean_events"])

    stale_event = await runtime.events.get(stale)
    assert (stale_event.status, stale_event.description) == ("failed", "interrupted")
    assert (await runtime.events.get(result.event_id)).status == "finished"


async def test_last_run_is_the_newest_run_event(runtime: Runtime) -> None:
    assert await last_run(runtime) is None

    await MaintenanceRunner(runtime).run(["clean_events"])
    second = await MaintenanceRunner(runtime).run(["clean_logs"], dry_run=True)

    latest = await last_run(runtime)
    assert latest is not None and latest.id == second.event_id
    assert latest.summary["dryRun"] is True


async def test_the_history_lists_the_newest_runs_first_as_their_events_record_them(
    runtime: Runtime,
) -> None:
    first = await MaintenanceRunner(runtime).run(["clean_events"], trigger="cli")
    second = await MaintenanceRunner(runtime).run(["clean_logs"], dry_run=True, trigger="api")
    going_on = await add_event(runtime, topic=MAINTENANCE_TOPIC, status="in_progress")
    await add_event(runtime, topic="test.event")

    runs = await list_runs(runtime.db, 10)

    assert [run.id for run in runs] == [going_on, second.event_id, first.event_id]
    current, dry, real = runs
    assert (current.status, current.finished_at, current.duration_ms) == ("in_progress", None, None)
    assert (current.trigger, current.tasks) == (None, [])
    assert (dry.status, dry.trigger, dry.dry_run) == ("finished", "api", True)
    assert dry.description == second.description
    assert [task["name"] for task in dry.tasks] == ["clean_logs"]
    assert dry.finished_at is not None and dry.finished_at >= dry.started_at
    assert dry.duration_ms == round((dry.finished_at - dry.started_at).total_seconds() * 1000)
    assert (real.trigger, real.dry_run) == ("cli", False)
    assert [run.id for run in await list_runs(runtime.db, 1)] == [going_on]
    with pytest.raises(ValueError):
        await list_runs(runtime.db, 0)


async def test_start_answers_with_the_event_id_while_the_run_goes_on(runtime: Runtime) -> None:
    await save_config(runtime, {"batchSize": 1})
    await add_old_logs(runtime.db, SLOW_ROWS)
    stop = asyncio.Event()

    event_id, run = await MaintenanceRunner(runtime).start(["clean_logs"], stop_event=stop)

    event = await runtime.events.get(event_id)
    assert event.status == "in_progress" and event.summary["trigger"] == "api"
    with pytest.raises(MaintenanceLocked):
        await MaintenanceRunner(runtime).start(["clean_events"])
    stop.set()
    result = await run
    assert result.event_id == event_id and result.interrupted


async def test_start_raises_at_once_when_the_lock_is_held(runtime: Runtime) -> None:
    async with lock_held_elsewhere(runtime.settings):
        with pytest.raises(MaintenanceLocked):
            await MaintenanceRunner(runtime).start()

    assert await maintenance_events(runtime.db) == []
