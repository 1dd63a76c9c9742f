"""clean_logs: whole partitions past the retention are dropped, boundary rows go one by one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from ayon_server.logs.partitions import (
    drop_partition,
    ensure_partitions,
    list_partitions,
    partition_name,
)
from ayon_server.maintenance.config import MaintenanceConfig
from ayon_server.runtime import Runtime
from maintenance.progress import TaskReport
from maintenance.tasks.base import TaskContext
from maintenance.tasks.clean_logs import CleanLogs

pytestmark = pytest.mark.usefixtures("clean_tables")


@pytest.fixture
async def past_partitions(runtime: Runtime) -> AsyncIterator[date]:
    """Day partitions for the ten days before today (as an old deployment has); yields today."""
    today = datetime.now(UTC).date()
    async with runtime.db.acquire() as conn:
        created = await ensure_partitions(conn, days_ahead=9, today=today - timedelta(days=10))
    yield today
    async with runtime.db.acquire() as conn:
        for name in created:
            await drop_partition(conn, name)


async def add_log(runtime: Runtime, created_at: datetime, message: str) -> None:
    await runtime.db.execute(
        "INSERT INTO public.logs (created_at, level, message) VALUES ($1, 'info', $2)",
        created_at,
        message,
    )


async def remaining_messages(runtime: Runtime) -> set[str]:
    return {row["message"] for row in await runtime.db.fetch("SELECT message FROM public.logs")}


async def partition_names(runtime: Runtime) -> set[str]:
    async with runtime.db.acquire() as conn:
        return {p.name for p in await list_partitions(conn)}


@pytest.fixture
async def logs_around_the_cutoff(runtime: Runtime, past_partitions: date) -> datetime:
    """Log rows on both sides of a 7-day cutoff; returns the run's reference time ("now")."""
    today = past_partitions
    now = datetime.combine(today, time(12), tzinfo=UTC)
    cutoff = now - timedelta(days=7)
    rows = {
        "ten days old": now - timedelta(days=10),
        "nine days old": now - timedelta(days=9),
        "end of the last whole expired day": datetime.combine(cutoff.date(), time.min, tzinfo=UTC)
        - timedelta(seconds=1),
        "one second expired": cutoff - timedelta(seconds=1),
        "exactly at the cutoff": cutoff,
        "one second inside": cutoff + timedelta(seconds=1),
        "ancient, in the default partition": datetime(2015, 3, 1, tzinfo=UTC),
        "older still, in the default partition": datetime(1999, 12, 31, tzinfo=UTC),
        "from a skewed clock, in the default partition": datetime(2035, 1, 1, tzinfo=UTC),
        "yesterday": now - timedelta(days=1),
        "today": datetime.combine(today, time(0, 30), tzinfo=UTC),
    }
    for message, created_at in rows.items():
        await add_log(runtime, created_at, message)
    return now


KEPT = {
    "exactly at the cutoff",
    "one second inside",
    "from a skewed clock, in the default partition",
    "yesterday",
    "today",
}


async def clean_logs(
    runtime: Runtime, now: datetime, *, dry_run: bool = False, **config: Any
) -> dict[str, Any]:
    """Run clean_logs alone; the result it reported."""
    ctx = TaskContext(
        runtime=runtime,
        config=MaintenanceConfig(log_retention_days=7, **config),
        now=now,
        dry_run=dry_run,
        report=TaskReport(CleanLogs.counts),
    )
    await CleanLogs().run(ctx)
    # Its progress counts the partitions: all of them were visited.
    assert ctx.report.fraction == 1.0
    return ctx.report.result


async def test_clean_logs_removes_every_expired_row_and_keeps_the_rest(
    runtime: Runtime, logs_around_the_cutoff: datetime
) -> None:
    now = logs_around_the_cutoff
    cutoff = now - timedelta(days=7)
    async with runtime.db.acquire() as conn:
        expired_partitions = {
            p.name for p in await list_partitions(conn) if p.upper and p.upper <= cutoff
        }

    result = await clean_logs(runtime, now, batch_size=1)

    assert await remaining_messages(runtime) == KEPT
    assert result["deleted"] == 6
    assert result["partitionsDropped"] == len(expired_partitions) >= 3
    names = await partition_names(runtime)
    assert not names & expired_partitions
    # The partition holding the cutoff stays (it still has rows inside the retention).
    assert partition_name(cutoff.date()) in names
    assert "logs_default" in names


async def test_clean_logs_dry_run_counts_what_would_go_and_deletes_nothing(
    runtime: Runtime, logs_around_the_cutoff: datetime
) -> None:
    now = logs_around_the_cutoff
    partitions_before = await partition_names(runtime)
    messages_before = await remaining_messages(runtime)

    dry = await clean_logs(runtime, now, dry_run=True)

    assert await partition_names(runtime) == partitions_before
    assert await remaining_messages(runtime) == messages_before
    real = await clean_logs(runtime, now)
    assert (dry["deleted"], dry["partitionsDropped"]) == (
        real["deleted"],
        real["partitionsDropped"],
    )
    assert dry["deleted"] == 6


async def test_clean_logs_keeps_the_days_ahead_partitioned(runtime: Runtime) -> None:
    today = datetime.now(UTC).date()
    ahead = runtime.settings.log_partitions_ahead
    last = partition_name(today + timedelta(days=ahead))
    async with runtime.db.acquire() as conn:
        await drop_partition(conn, last)

    now = await runtime.db.fetchval("SELECT now()")
    result = await clean_logs(runtime, now)

    assert result["partitionsCreated"] == 1
    assert last in await partition_names(runtime)
