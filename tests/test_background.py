"""BackgroundWorker: restart with backoff, health, stop with a deadline; LogPartitionKeeper."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from ayon_server.background.log_partition_keeper import LogPartitionKeeper
from ayon_server.lib.workers import BackgroundWorker, PeriodicWorker, WorkerGroup
from ayon_server.logs.partitions import list_partitions, partition_name
from ayon_server.runtime import Runtime
from tests.helpers.waiting import wait_until


class CrashingWorker(BackgroundWorker):
    """Crashes `crashes` times, then idles; records the backoff delays it was given."""

    name = "crashing"
    initial_backoff = 0.01
    max_backoff = 0.04

    def __init__(self, crashes: int, run_seconds: float = 0.0) -> None:
        super().__init__()
        self.crashes = crashes
        self.run_seconds = run_seconds
        self.runs = 0
        self.delays: list[float] = []

    def backoff_delay(self, crashes_in_a_row: int) -> float:
        delay = super().backoff_delay(crashes_in_a_row)
        self.delays.append(delay)
        return delay

    async def run(self) -> None:
        self.runs += 1
        await asyncio.sleep(self.run_seconds)
        if self.runs <= self.crashes:
            raise RuntimeError(f"crash {self.runs}")
        await asyncio.Event().wait()


async def test_a_crashing_worker_is_restarted_with_backoff_and_health_counts_restarts() -> None:
    worker = CrashingWorker(crashes=5)
    worker.start()
    assert worker.health()["state"] == "starting"
    await wait_until(lambda: worker.runs == 6)
    await asyncio.sleep(0)

    health = worker.health()
    assert health["state"] == "running"
    assert health["restarts"] == 5
    assert health["lastError"] == "RuntimeError: crash 5"
    assert datetime.fromisoformat(health["lastErrorAt"]) <= datetime.now(UTC)
    # Doubling from the initial backoff, capped.
    assert worker.delays == [0.01, 0.02, 0.04, 0.04, 0.04]
    await worker.stop(1.0)
    assert worker.health()["state"] == "stopped"


async def test_the_backoff_starts_over_after_a_healthy_run() -> None:
    class HealthyFromTheThirdRun(CrashingWorker):
        async def run(self) -> None:
            # From the third run on, each run is long enough to count as healthy before it crashes.
            self.run_seconds = 0.25 if self.runs >= 2 else 0.0
            await super().run()

    worker = HealthyFromTheThirdRun(crashes=3)
    worker.healthy_after = 0.2
    worker.start()
    await wait_until(lambda: worker.runs == 4)
    await worker.stop(1.0)
    assert worker.delays == [0.01, 0.02, 0.01]


async def test_a_worker_gives_up_after_max_restarts_and_reports_failed() -> None:
    worker = CrashingWorker(crashes=100)
    worker.max_restarts = 2
    worker.start()
    await wait_until(lambda: worker.state == "failed")
    assert worker.runs == 3
    assert worker.health()["restarts"] == 2
    await worker.stop(1.0)
    assert worker.state == "failed"


async def test_a_worker_that_returns_is_stopped_not_restarted() -> None:
    class OneShot(BackgroundWorker):
        name = "one_shot"

        async def run(self) -> None:
            return None

    worker = OneShot()
    worker.start()
    await wait_until(lambda: not worker.running)
    assert worker.health() == {
        "state": "stopped",
        "restarts": 0,
        "lastError": None,
        "lastErrorAt": None,
    }


async def test_stop_cancels_a_stuck_worker_and_runs_its_finally_block() -> None:
    class Stuck(BackgroundWorker):
        name = "stuck"
        cancelled = flushed = False

        async def run(self) -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled = True
                raise
            finally:
                await asyncio.sleep(0.01)  # a flush may await within the deadline
                self.flushed = True

    worker = Stuck()
    worker.start()
    await wait_until(lambda: worker.state == "running")
    await worker.stop(3600.0)
    # Cancelled and ended, not waited for until the deadline (that would report it failed).
    assert worker.cancelled and worker.flushed
    assert worker.health() == {
        "state": "stopped",
        "restarts": 0,
        "lastError": None,
        "lastErrorAt": None,
    }
    assert not worker.running


async def test_stop_abandons_a_worker_that_ignores_cancellation_once_the_deadline_passes() -> None:
    release = asyncio.Event()

    class Stubborn(BackgroundWorker):
        name = "stubborn"
        cancellations = 0

        async def run(self) -> None:
            while not release.is_set():
                try:
                    await release.wait()
                except asyncio.CancelledError:
                    self.cancellations += 1

    worker = Stubborn()
    worker.start()
    await wait_until(lambda: worker.state == "running")
    await worker.stop(0.2)
    # stop() cancelled it, waited while it ignored that, then left it running and said so.
    assert worker.cancellations == 1
    assert worker.running
    assert worker.health()["state"] == "failed"
    assert "did not stop within 0.2 s" in worker.health()["lastError"]
    release.set()
    await wait_until(lambda: not worker.running)


async def test_a_periodic_worker_ticks_every_interval_and_survives_a_failing_tick() -> None:
    class Ticker(PeriodicWorker):
        name = "ticker"
        initial_backoff = 0.01

        def __init__(self) -> None:
            super().__init__(interval=0.01)
            self.ticks = 0

        async def tick(self) -> None:
            self.ticks += 1
            if self.ticks == 2:
                raise ConnectionError("database went away")

    worker = Ticker()
    worker.start()
    await wait_until(lambda: worker.ticks >= 5)
    health = worker.health()
    await worker.stop(1.0)
    assert health["restarts"] == 1
    assert health["lastError"] == "ConnectionError: database went away"
    assert health["interval"] == 0.01
    assert health["lastTickAt"] is not None


async def test_a_worker_group_starts_reports_and_stops_all_workers() -> None:
    first, second = CrashingWorker(crashes=0), CrashingWorker(crashes=0)
    second.name = "second"
    group = WorkerGroup([first, second])
    group.start()
    await wait_until(lambda: first.runs == 1 and second.runs == 1)
    assert {name: h["state"] for name, h in group.health().items()} == {
        "crashing": "running",
        "second": "running",
    }
    await group.stop(1.0)
    assert all(h["state"] == "stopped" for h in group.health().values())


def test_a_worker_group_rejects_two_workers_with_one_name() -> None:
    with pytest.raises(ValueError, match="crashing"):
        WorkerGroup([CrashingWorker(crashes=0), CrashingWorker(crashes=0)])


async def test_log_partition_keeper_recreates_a_dropped_partition(
    runtime: Runtime, clean_tables: None
) -> None:
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    name = partition_name(tomorrow)
    noon = datetime.combine(tomorrow, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
    async with runtime.db.acquire() as conn:
        await conn.execute(f'DROP TABLE IF EXISTS public."{name}"')
        # With the partition gone, tomorrow's record lands in the DEFAULT partition.
        await conn.execute(
            "INSERT INTO public.logs (created_at, level, message) VALUES ($1, 'info', 'early')",
            noon,
        )

    keeper = LogPartitionKeeper(runtime, interval=3600)
    keeper.start()
    await wait_until(lambda: keeper.last_tick_at is not None)
    await keeper.stop(5.0)

    async with runtime.db.acquire() as conn:
        names = [p.name for p in await list_partitions(conn)]
        row_home = await conn.fetchval(
            "SELECT tableoid::regclass::text FROM public.logs WHERE message = 'early'"
        )
    assert name in names
    assert row_home == name
    assert keeper.health()["restarts"] == 0
