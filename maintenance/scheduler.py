"""MaintenanceScheduler: run the procedure on its cron schedule, following config changes live.

Every replica may run a scheduler; the maintenance lock makes sure only one of them runs a given
fire (the others log and skip). A changed configuration is picked up from the Redis notification
`save_config` publishes, and from a periodic re-read in case a notification was missed. A fire
missed while nothing was up runs once at start when it is within the grace period.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from redis.exceptions import RedisError

from ayon_server.config import Settings
from ayon_server.lib.postgres import CONNECTION_ERRORS
from ayon_server.maintenance.config import (
    CONFIG_CHANNEL,
    InvalidMaintenanceConfig,
    MaintenanceConfig,
    cron_trigger,
    load_config,
)
from ayon_server.maintenance.lock import MaintenanceLocked
from ayon_server.maintenance.runs import real_run_since, recover_if_idle
from ayon_server.maintenance.service import stop_run
from ayon_server.runtime import Runtime
from maintenance.heartbeat import beat, heartbeat_path
from maintenance.runner import MaintenanceRunner
from maintenance.tasks import TASKS, MaintenanceTask

log = logging.getLogger(__name__)

JOB_ID = "maintenance"
CONFIG_POLL_SECONDS = 30.0
MISFIRE_GRACE_SECONDS = 3600
# Failures that mean "the database is not reachable right now": retried, not fatal.
DB_UNAVAILABLE: tuple[type[BaseException], ...] = (
    *CONNECTION_ERRORS,
    TimeoutError,
    asyncpg.PostgresError,
)


def previous_fire_time(trigger: CronTrigger, now: datetime, within: timedelta) -> datetime | None:
    """The last time `trigger` fired in (now - within, now], if it did."""
    last = None
    fire = trigger.get_next_fire_time(None, now - within)
    while fire is not None and fire <= now:
        last = fire
        fire = trigger.get_next_fire_time(last, last)
    return last


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("scheduled maintenance run crashed", exc_info=task.exception())


class MaintenanceScheduler:
    def __init__(
        self,
        runtime: Runtime,
        *,
        poll_interval: float = CONFIG_POLL_SECONDS,
        misfire_grace_time: int = MISFIRE_GRACE_SECONDS,
        tasks: Sequence[type[MaintenanceTask]] = TASKS,
    ):
        self.runtime = runtime
        self.tasks = tuple(tasks)
        self.poll_interval = poll_interval
        self.misfire_grace_time = misfire_grace_time
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._stop = asyncio.Event()
        self._schedule_key: tuple[bool, str, str] | None = None
        self._checked_missed_run = False
        self._reload_lock = asyncio.Lock()
        self._watchers: list[asyncio.Task[None]] = []
        self._run_task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Scheduling (started and not stopping)."""
        return self._scheduler.running and not self._stop.is_set()

    @property
    def next_run_time(self) -> datetime | None:
        """When the next scheduled run fires; None while paused, stopped or not configured."""
        if not self._scheduler.running:
            return None
        job = self._scheduler.get_job(JOB_ID)
        return job.next_run_time if job else None

    async def start(self) -> None:
        """Start scheduling; tolerates a database that is not up yet (it retries on each poll)."""
        self._scheduler.start()
        try:
            await recover_if_idle(self.runtime)
        except DB_UNAVAILABLE as exc:
            log.warning("could not check for interrupted maintenance runs: %s", exc)
        await self.reload()
        self._watchers = [
            asyncio.create_task(self._poll_config(), name="maintenance-config-poll"),
            asyncio.create_task(self._listen_for_changes(), name="maintenance-config-listen"),
        ]

    async def stop(self, timeout: float | None = None) -> None:
        """Stop scheduling; a running run ends at its next batch boundary, recorded failed.

        Waits up to `timeout` seconds (default AYON_SHUTDOWN_TIMEOUT) for it, then cancels it:
        its statements are cancelled on the server, the run is recorded and the lock released
        before this returns.
        """
        self._stop.set()
        for watcher in self._watchers:
            watcher.cancel()
        outcomes = await asyncio.gather(*self._watchers, return_exceptions=True)
        for watcher, outcome in zip(self._watchers, outcomes, strict=True):
            if isinstance(outcome, Exception):
                # Stopping must go on; the crash is reported, not swallowed.
                log.error("%s had crashed", watcher.get_name(), exc_info=outcome)
        self._watchers = []
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # AsyncIOScheduler shuts down in a loop callback
        if self._run_task is not None:
            wait = self.runtime.settings.shutdown_timeout if timeout is None else timeout
            await stop_run(self._run_task, wait)

    async def reload(self) -> None:
        """Read the configuration and reschedule when its schedule changed."""
        async with self._reload_lock:
            try:
                config = await load_config(self.runtime.db)
            except InvalidMaintenanceConfig as exc:
                log.error("%s; keeping the current maintenance schedule", exc)
                return
            except DB_UNAVAILABLE as exc:
                log.warning("could not read the maintenance configuration: %s", exc)
                return
            if self._stop.is_set():
                return
            self._apply(config)
            if not self._checked_missed_run:
                self._checked_missed_run = True
                await self._run_if_missed(config)

    def _apply(self, config: MaintenanceConfig) -> None:
        key = (config.enabled, config.schedule, config.timezone)
        if key == self._schedule_key:
            return
        self._schedule_key = key
        if not config.enabled:
            if self._scheduler.get_job(JOB_ID):
                self._scheduler.remove_job(JOB_ID)
            log.info("maintenance schedule paused (enabled is false)")
            return
        job = self._scheduler.add_job(
            self._fire,
            cron_trigger(config.schedule, config.timezone),
            id=JOB_ID,
            replace_existing=True,
            misfire_grace_time=self.misfire_grace_time,
            coalesce=True,
            max_instances=1,
        )
        log.info(
            "maintenance scheduled %r (%s); next run at %s",
            config.schedule,
            config.timezone,
            job.next_run_time,
        )

    async def _run_if_missed(self, config: MaintenanceConfig) -> None:
        """Run once now when the last fire within the grace period has no run after it."""
        if not config.enabled:
            return
        trigger = cron_trigger(config.schedule, config.timezone)
        now = datetime.now(UTC)
        fired = previous_fire_time(trigger, now, timedelta(seconds=self.misfire_grace_time))
        if fired is None:
            return
        try:
            ran = await real_run_since(self.runtime.db, fired)
        except DB_UNAVAILABLE as exc:
            log.warning("could not check for a missed maintenance run: %s", exc)
            return
        if not ran:
            log.info("the maintenance run due at %s did not happen; running it now", fired)
            self._launch()

    async def _fire(self) -> None:
        self._launch()

    def _launch(self) -> None:
        if self._stop.is_set():
            return
        if self._run_task is not None and not self._run_task.done():
            log.warning("the previous maintenance run is still going; skipping this one")
            return
        self._run_task = asyncio.create_task(self._scheduled_run(), name="maintenance-run")
        self._run_task.add_done_callback(_report_crash)

    async def _scheduled_run(self) -> None:
        try:
            config = await load_config(self.runtime.db)
            if not config.enabled:
                log.info("maintenance is disabled; scheduled run skipped")
                return
            await MaintenanceRunner(self.runtime, self.tasks).run(
                trigger="schedule", stop_event=self._stop
            )
        except MaintenanceLocked:
            log.info("another maintenance run holds the lock (another replica); skipping")
        except (InvalidMaintenanceConfig, *DB_UNAVAILABLE) as exc:
            log.error("scheduled maintenance could not run: %s", exc)

    async def _poll_config(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            await self.reload()

    async def _listen_for_changes(self) -> None:
        """Reload on every notification; reconnect with backoff when Redis goes away."""
        delay = 1.0
        while True:
            pubsub = self.runtime.redis.pubsub()
            try:
                await self.runtime.redis.subscribe(pubsub, CONFIG_CHANNEL)
                delay = 1.0
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
                    if message is not None and message["type"] == "message":
                        await self.reload()
            except (RedisError, OSError) as exc:
                log.warning("maintenance config notifications unavailable (%s); retrying", exc)
            finally:
                await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
            await self.reload()  # a change may have been announced while we were away


def run_scheduler_process(settings: Settings) -> int:
    """The maintenance role without the server: schedule until SIGTERM/SIGINT, then exit 0."""
    asyncio.run(_serve(settings))
    return 0


async def _serve(settings: Settings) -> None:
    runtime = Runtime.create(settings)
    scheduler = MaintenanceScheduler(runtime)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, stopping.set)
    heartbeat: asyncio.Task[None] | None = None
    try:
        await scheduler.start()
        log.info("maintenance scheduler running; next run at %s", scheduler.next_run_time)
        # The probes' signal (this role has no HTTP endpoint): fresh while the scheduler runs.
        heartbeat = asyncio.create_task(
            beat(heartbeat_path(), lambda: scheduler.running), name="maintenance-heartbeat"
        )
        await stopping.wait()
        log.info("stopping the maintenance scheduler")
    finally:
        if heartbeat is not None:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
        await scheduler.stop()
        await runtime.close()
        for signum in signals:
            loop.remove_signal_handler(signum)
