"""MaintenanceRunner: run tasks one after another under the lock, tracked by one event.

The run's progress lives in exactly one MAINTENANCE_TOPIC event (DESIGN §9): in_progress while it
runs, the description set to each task's title before the task starts, the summary growing with
each task's outcome, finished or failed at the end. A task that fails, times out or has nothing
to do yet is recorded as such and the next task still runs.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from ayon_server.maintenance.config import MaintenanceConfig, load_config
from ayon_server.maintenance.lock import hold_maintenance_lock
from ayon_server.maintenance.runs import MAINTENANCE_TOPIC, recover_stale_runs
from ayon_server.runtime import Runtime
from maintenance.tasks import TASKS, MaintenanceTask, select_tasks
from maintenance.tasks.base import MaintenanceInterrupted, TaskContext, TaskSkipped

log = logging.getLogger(__name__)

Trigger = Literal["schedule", "cli", "api"]
TaskStatus = Literal["finished", "failed", "skipped"]
INTERRUPTED = "interrupted by shutdown"


@dataclass
class TaskOutcome:
    name: str
    title: str
    status: TaskStatus
    duration_ms: int
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    interrupted: bool = False

    def as_summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "durationMs": self.duration_ms,
            "result": self.result,
            "error": self.error,
        }


@dataclass
class RunResult:
    event_id: str
    status: Literal["finished", "failed"]
    description: str
    dry_run: bool
    interrupted: bool
    tasks: list[TaskOutcome]


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


class MaintenanceRunner:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    async def run(
        self,
        task_names: list[str] | None = None,
        *,
        dry_run: bool = False,
        trigger: Trigger = "cli",
        stop_event: asyncio.Event | None = None,
    ) -> RunResult:
        """Run the named tasks (None: those enabled in the configuration) once, now.

        Raises UnknownTask before touching anything, MaintenanceLocked (writing no event) when
        another run holds the lock, InvalidMaintenanceConfig when the stored value is broken.
        Setting `stop_event` ends the run at the running task's next batch boundary.
        """
        return await self._run(task_names, dry_run, trigger, stop_event or asyncio.Event())

    async def start(
        self,
        task_names: list[str] | None = None,
        *,
        dry_run: bool = False,
        trigger: Trigger = "api",
        stop_event: asyncio.Event | None = None,
    ) -> tuple[str, asyncio.Task[RunResult]]:
        """Start a run in the background; return its event id once written, and its task.

        For POST /api/maintenance/run (202 with the event id): raises what `run` raises before
        the event exists (MaintenanceLocked gives the 409). The caller keeps the task (asyncio
        holds only weak references) and passes a `stop_event` its shutdown sets.
        """
        started: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        run = asyncio.create_task(
            self._run(task_names, dry_run, trigger, stop_event or asyncio.Event(), started),
            name="maintenance-run",
        )
        await asyncio.wait({started, run}, return_when=asyncio.FIRST_COMPLETED)
        if not started.done():
            run.result()  # it ended before writing its event: raise why
        return started.result(), run

    async def _run(
        self,
        task_names: list[str] | None,
        dry_run: bool,
        trigger: Trigger,
        stop_event: asyncio.Event,
        started: asyncio.Future[str] | None = None,
    ) -> RunResult:
        chosen = select_tasks(task_names) if task_names is not None else None
        async with hold_maintenance_lock(self.runtime.settings.postgres_url):
            config = await load_config(self.runtime.db)
            tasks = (
                chosen
                if chosen is not None
                else [task for task in TASKS if config.task_enabled(task.name)]
            )
            await recover_stale_runs(self.runtime)
            return await self._run_locked(tasks, config, dry_run, trigger, stop_event, started)

    async def _run_locked(
        self,
        tasks: list[type[MaintenanceTask]],
        config: MaintenanceConfig,
        dry_run: bool,
        trigger: Trigger,
        stop_event: asyncio.Event,
        started: asyncio.Future[str] | None,
    ) -> RunResult:
        events = self.runtime.events
        summary: dict[str, Any] = {"trigger": trigger, "dryRun": dry_run, "tasks": []}
        event_id = await events.dispatch(
            MAINTENANCE_TOPIC,
            sender=socket.gethostname(),
            sender_type="maintenance",
            description="Maintenance started",
            summary=summary,
            status="in_progress",
        )
        if started is not None:
            started.set_result(event_id)
        ctx = TaskContext(
            runtime=self.runtime,
            config=config,
            now=await self.runtime.db.fetchval("SELECT now()"),
            dry_run=dry_run,
            stop_event=stop_event,
            run_event_id=event_id,
        )
        outcomes: list[TaskOutcome] = []
        try:
            for task_class in tasks:
                if stop_event.is_set():
                    break
                task = task_class()
                await events.update(event_id, description=task.title, summary=summary)
                outcome = await self._run_task(task, ctx)
                outcomes.append(outcome)
                summary["tasks"].append(outcome.as_summary())
                await events.update(event_id, summary=summary)
        except asyncio.CancelledError:
            # Cancelled from outside (a shutdown that could not wait): still record the run.
            await self._finish(event_id, summary, outcomes, dry_run, interrupted=True)
            raise
        # Stopped: a task ended at a batch boundary or the remaining tasks never started.
        interrupted = len(outcomes) < len(tasks) or any(o.interrupted for o in outcomes)
        return await self._finish(event_id, summary, outcomes, dry_run, interrupted=interrupted)

    async def _run_task(self, task: MaintenanceTask, ctx: TaskContext) -> TaskOutcome:
        minutes = ctx.config.task_timeout_minutes
        started = time.monotonic()
        status: TaskStatus = "failed"
        result: dict[str, Any] = {}
        error: str | None = None
        interrupted = False
        deadline = asyncio.timeout(minutes * 60)
        try:
            async with deadline:
                result = await task.run(ctx)
            status = "finished"
        except TaskSkipped as exc:
            status, result = "skipped", {"reason": str(exc)}
        except MaintenanceInterrupted:
            error, interrupted = INTERRUPTED, True
        except TimeoutError as exc:
            error = f"timed out after {minutes:g} minutes" if deadline.expired() else _describe(exc)
        except Exception as exc:
            # One failing task must not stop the others: it is logged and recorded in the event.
            log.exception("maintenance task %s failed", task.name)
            error = _describe(exc)
        duration_ms = round((time.monotonic() - started) * 1000)
        log.log(
            logging.WARNING if status == "failed" else logging.INFO,
            "maintenance task %s %s in %d ms: %s",
            task.name,
            status,
            duration_ms,
            error or result,
        )
        return TaskOutcome(
            task.name, task.title, status, duration_ms, result, error, interrupted=interrupted
        )

    async def _finish(
        self,
        event_id: str,
        summary: dict[str, Any],
        outcomes: list[TaskOutcome],
        dry_run: bool,
        *,
        interrupted: bool,
    ) -> RunResult:
        failed = [outcome.name for outcome in outcomes if outcome.status == "failed"]
        skipped = sum(outcome.status == "skipped" for outcome in outcomes)
        if interrupted:
            status, description = "failed", INTERRUPTED
        elif failed:
            status, description = "failed", f"Maintenance failed: {', '.join(failed)} failed"
        else:
            status = "finished"
            description = (
                f"Maintenance finished: {_plural(len(outcomes), 'task')}, {skipped} skipped"
            )
        await self.runtime.events.update(
            event_id, status=status, description=description, summary=summary
        )
        log.info("maintenance run %s: %s", event_id, description)
        return RunResult(event_id, status, description, dry_run, interrupted, outcomes)
