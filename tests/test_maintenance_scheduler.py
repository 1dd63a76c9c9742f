"""MaintenanceScheduler: live schedule changes, missed runs, graceful stop, the process role."""

from __future__ import annotations

import logging
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from ayon_server.config import Settings
from ayon_server.maintenance.config import cron_trigger, save_config
from ayon_server.maintenance.lock import is_running
from ayon_server.maintenance.runs import MAINTENANCE_TOPIC
from ayon_server.runtime import Runtime
from maintenance.scheduler import MaintenanceScheduler
from tests.helpers.maintenance import (
    add_event,
    add_old_logs,
    count_logs,
    cron_at,
    finish,
    killed_on_exit,
    lock_held_elsewhere,
    maintenance_events,
    only_tasks,
    start_cli,
)
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.usefixtures("clean_tables")


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def scheduler(runtime: Runtime) -> AsyncIterator[MaintenanceScheduler]:
    """A scheduler that is always stopped after the test; the test configures, then starts it."""
    instance = MaintenanceScheduler(runtime, poll_interval=3600)
    yield instance
    await instance.stop()


def expected_next(schedule: str, timezone: str = "UTC") -> datetime:
    return cron_trigger(schedule, timezone).get_next_fire_time(None, now())


async def test_a_saved_schedule_change_reaches_a_running_scheduler_without_restart(
    settings: Settings, runtime: Runtime, scheduler: MaintenanceScheduler
) -> None:
    first = cron_at(now() + timedelta(hours=6))
    await save_config(runtime, {"schedule": first})
    await scheduler.start()
    assert scheduler.next_run_time == expected_next(first)

    second = cron_at(now() + timedelta(hours=12))
    other_replica = Runtime.create(settings)
    try:
        await save_config(other_replica, {"schedule": second, "timezone": "Asia/Tokyo"})
    finally:
        await other_replica.close()

    async def rescheduled() -> bool:
        return scheduler.next_run_time == expected_next(second, "Asia/Tokyo")

    await wait_until(rescheduled, timeout=10, what="the scheduler to pick up the new schedule")


async def test_a_change_written_without_notification_is_found_by_polling(
    runtime: Runtime,
) -> None:
    scheduler = MaintenanceScheduler(runtime, poll_interval=0.2)
    await save_config(runtime, {"schedule": cron_at(now() + timedelta(hours=6))})
    await scheduler.start()
    try:
        later = cron_at(now() + timedelta(hours=9))
        await runtime.db.execute(
            "UPDATE public.config SET value = jsonb_set(value, '{schedule}', to_jsonb($1::text)) "
            "WHERE key = 'maintenance'",
            later,
        )

        async def rescheduled() -> bool:
            return scheduler.next_run_time == expected_next(later)

        await wait_until(rescheduled, timeout=10, what="polling to pick up the new schedule")
    finally:
        await scheduler.stop()


async def test_disabling_maintenance_pauses_the_schedule_and_enabling_resumes_it(
    runtime: Runtime, scheduler: MaintenanceScheduler
) -> None:
    schedule = cron_at(now() + timedelta(hours=6))
    await save_config(runtime, {"schedule": schedule})
    await scheduler.start()

    await save_config(runtime, {"enabled": False})

    async def paused() -> bool:
        return scheduler.next_run_time is None

    await wait_until(paused, timeout=10, what="the schedule to pause")
    await save_config(runtime, {"enabled": True})

    async def resumed() -> bool:
        return scheduler.next_run_time == expected_next(schedule)

    await wait_until(resumed, timeout=10, what="the schedule to resume")


async def test_a_run_missed_within_the_grace_period_runs_once_at_start(
    runtime: Runtime, scheduler: MaintenanceScheduler
) -> None:
    await save_config(
        runtime,
        {
            "schedule": cron_at(now() - timedelta(minutes=10)),
            "tasks": only_tasks("clean_events"),
        },
    )

    await scheduler.start()

    async def finished() -> bool:
        events = await maintenance_events(runtime.db)
        return bool(events) and events[0]["status"] == "finished"

    await wait_until(finished, what="the missed run")
    (event,) = await maintenance_events(runtime.db)
    assert event["summary"]["trigger"] == "schedule"
    ran = [t["name"] for t in event["summary"]["tasks"] if t["result"].get("reason") != "disabled"]
    assert ran == ["clean_events"]


@pytest.mark.parametrize(
    "situation", ["the run already happened", "the fire is older than the grace period"]
)
async def test_no_catch_up_run_when_none_was_missed(
    runtime: Runtime,
    scheduler: MaintenanceScheduler,
    situation: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="maintenance.scheduler")
    if situation == "the run already happened":
        await add_event(runtime, topic=MAINTENANCE_TOPIC, summary={"dryRun": False})
        fired = now() - timedelta(minutes=10)
    else:
        fired = now() - timedelta(hours=2)
    await save_config(runtime, {"schedule": cron_at(fired), "tasks": only_tasks("clean_events")})
    before = len(await maintenance_events(runtime.db))

    # start() reads the configuration and decides on a catch-up run before it returns; stop()
    # waits for a run it launched, so that run's event would be there.
    await scheduler.start()
    await scheduler.stop()

    assert "maintenance scheduled" in caplog.text
    assert "did not happen" not in caplog.text
    assert len(await maintenance_events(runtime.db)) == before


async def test_a_scheduled_run_that_finds_the_lock_held_skips_quietly(
    settings: Settings,
    runtime: Runtime,
    scheduler: MaintenanceScheduler,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="maintenance.scheduler")
    await save_config(runtime, {"schedule": cron_at(now() - timedelta(minutes=10))})

    async with lock_held_elsewhere(settings):
        await scheduler.start()

        async def skipped() -> bool:
            return "another maintenance run holds the lock" in caplog.text

        await wait_until(skipped, timeout=10, what="the scheduled run to skip")

    assert await maintenance_events(runtime.db) == []


async def test_start_marks_a_run_left_in_progress_as_interrupted(
    runtime: Runtime, scheduler: MaintenanceScheduler
) -> None:
    await save_config(runtime, {"schedule": cron_at(now() + timedelta(hours=6))})
    stale = await add_event(runtime, topic=MAINTENANCE_TOPIC, status="in_progress")

    await scheduler.start()

    event = await runtime.events.get(stale)
    assert (event.status, event.description) == ("failed", "interrupted")


async def slow_missed_run(runtime: Runtime) -> None:
    """Configure a missed run whose clean_logs takes many seconds (batchSize 1)."""
    await save_config(
        runtime,
        {
            "schedule": cron_at(now() - timedelta(minutes=10)),
            "tasks": only_tasks("clean_logs", "clean_events"),
            "batchSize": 1,
        },
    )
    await add_old_logs(runtime.db, 3000)


async def deleting_logs(runtime: Runtime) -> bool:
    events = await maintenance_events(runtime.db)
    return bool(
        events
        and events[0]["description"] == "Clean-up logs"
        and await count_logs(runtime.db) < 3000
    )


async def test_stop_ends_a_running_run_at_a_batch_boundary_recorded_interrupted(
    runtime: Runtime, scheduler: MaintenanceScheduler
) -> None:
    await slow_missed_run(runtime)
    await scheduler.start()
    await wait_until(lambda: deleting_logs(runtime), what="the scheduled run to delete logs")

    await scheduler.stop()

    (event,) = await maintenance_events(runtime.db)
    assert (event["status"], event["description"]) == ("failed", "interrupted by shutdown")
    outcomes = {t["name"]: (t["status"], t["result"]) for t in event["summary"]["tasks"]}
    assert outcomes["clean_logs"][0] == "failed"
    assert outcomes["clean_logs"][1]["stoppedBy"] == "shutdown"
    assert outcomes["clean_logs"][1]["deleted"] > 0
    assert outcomes["clean_events"] == ("skipped", {"reason": "shutdown"})
    assert outcomes["vacuum_db"] == ("skipped", {"reason": "disabled"})
    assert not await is_running(runtime.db)
    assert scheduler.next_run_time is None


@pytest.mark.parametrize("command", ["python -m maintenance --schedule", "entrypoint.py"])
async def test_the_scheduler_process_stops_gracefully_on_sigterm_and_exits_0(
    settings: Settings, runtime: Runtime, command: str
) -> None:
    await slow_missed_run(runtime)
    if command == "entrypoint.py":
        process = await start_cli(
            settings,
            module=False,
            AYON_RUN_SETUP="false",
            AYON_RUN_SERVER="false",
            AYON_RUN_MAINTENANCE="true",
        )
    else:
        process = await start_cli(settings, "--schedule")
    async with killed_on_exit(process):
        await wait_until(lambda: deleting_logs(runtime), what="the scheduled run to delete logs")
        process.send_signal(signal.SIGTERM)
        result = await finish(process, timeout=30)

    assert result.returncode == 0, result.stderr
    (event,) = await maintenance_events(runtime.db)
    assert (event["status"], event["description"]) == ("failed", "interrupted by shutdown")
    assert event["summary"]["trigger"] == "schedule"
    assert not await is_running(runtime.db)


async def test_a_stop_that_cannot_wait_cancels_the_run_and_still_records_it(
    runtime: Runtime, scheduler: MaintenanceScheduler
) -> None:
    await slow_missed_run(runtime)
    await scheduler.start()
    await wait_until(lambda: deleting_logs(runtime), what="the scheduled run to delete logs")

    await scheduler.stop(timeout=0)

    (event,) = await maintenance_events(runtime.db)
    assert (event["status"], event["description"]) == ("failed", "interrupted by shutdown")
    assert not await is_running(runtime.db)
