"""MaintenanceRunner: run tasks one after another under the lock, tracked by one event.

A run's plan is every task of the registry, in order: a run of the enabled tasks lists a
disabled one as skipped (`reason: "disabled"`); a run of named tasks runs just those, enabled or
not. Each task runs as a child task on the run's own connections (RunConnections) and reports
its counts as it goes, so however it ends its summary entry has the counts it reached:

* finished; or failed (an error; `taskTimeoutMinutes` passed; a shutdown) - the others still run;
* stopped at a batch boundary by the window (finished, `stoppedBy: "window"`), a cancel
  (aborted, `stoppedBy: "cancelled"`) or a shutdown (failed, "interrupted by shutdown");
* skipped (its domain does not exist yet, or the run stopped before it: `reason` says why).

A task that must stop now (its timeout, or the run cancelled from outside by a shutdown that
cannot wait) first has its statements cancelled on the server (pg_cancel_backend), then its
coroutine; the run is recorded before the cancellation goes on.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import asyncpg

from ayon_server.maintenance.config import MaintenanceConfig, load_config
from ayon_server.maintenance.lock import hold_maintenance_lock
from ayon_server.maintenance.runs import MAINTENANCE_TOPIC, recover_stale_runs
from ayon_server.runtime import Runtime
from maintenance.connections import RunConnections
from maintenance.control import RunControl, watch_for_cancel
from maintenance.progress import TaskReport
from maintenance.run_event import RunEvent
from maintenance.tasks import TASKS, MaintenanceTask, select_tasks
from maintenance.tasks.base import TaskContext, TaskSkipped, TaskStopped

log = logging.getLogger(__name__)

Trigger = Literal["schedule", "cli", "api"]
TaskStatus = Literal["finished", "failed", "skipped", "aborted"]
RunStatus = Literal["finished", "failed", "aborted"]
INTERRUPTED = "interrupted by shutdown"
# A task whose statements were cancelled gets this long to unwind by itself, then its coroutine
# is cancelled and gets ABANDON_AFTER more.
UNWIND_SECONDS = 1.0
ABANDON_AFTER = 5.0
# The final write of the run's event, also on a shutdown that could not wait.
RECORD_TIMEOUT = 10.0

# (task, whether it runs): the plan of a run.
PlanEntry = tuple[type[MaintenanceTask], bool]


@dataclass
class TaskOutcome:
    name: str
    title: str
    status: TaskStatus
    duration_ms: int
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    # Why it ended before its work was done: "window", "cancelled", "shutdown" or "timeout".
    stopped_by: str | None = None

    @property
    def interrupted(self) -> bool:
        return self.stopped_by == "shutdown"

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
    status: RunStatus
    description: str
    dry_run: bool
    interrupted: bool
    tasks: list[TaskOutcome]
    cancelled_by: str | None = None


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _skipped(task: type[MaintenanceTask], reason: str) -> TaskOutcome:
    return TaskOutcome(task.name, task.title, "skipped", 0, {"reason": reason})


class MaintenanceRunner:
    def __init__(self, runtime: Runtime, tasks: Sequence[type[MaintenanceTask]] = TASKS):
        self.runtime = runtime
        # The registry a run takes its tasks from, in order (tests hand in their own).
        self.tasks = tuple(tasks)

    async def run(
        self,
        task_names: list[str] | None = None,
        *,
        dry_run: bool = False,
        trigger: Trigger = "cli",
        stop_event: asyncio.Event | None = None,
    ) -> RunResult:
        """Run the named tasks (None: all, the disabled ones listed as skipped) once, now.

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
        chosen = select_tasks(task_names, self.tasks) if task_names is not None else None
        async with hold_maintenance_lock(self.runtime.settings.postgres_url) as lock:
            config = await load_config(self.runtime.db)
            plan: list[PlanEntry] = (
                [(task, True) for task in chosen]
                if chosen is not None
                else [(task, config.task_enabled(task.name)) for task in self.tasks]
            )
            await recover_stale_runs(self.runtime)
            return await self._run_locked(plan, config, dry_run, trigger, stop_event, started, lock)

    async def _run_locked(
        self,
        plan: list[PlanEntry],
        config: MaintenanceConfig,
        dry_run: bool,
        trigger: Trigger,
        stop_event: asyncio.Event,
        started: asyncio.Future[str] | None,
        lock: asyncpg.Connection,
    ) -> RunResult:
        summary: dict[str, Any] = {"trigger": trigger, "dryRun": dry_run, "tasks": []}
        event_id = await self.runtime.events.dispatch(
            MAINTENANCE_TOPIC,
            sender=socket.gethostname(),
            sender_type="maintenance",
            description="Maintenance started",
            summary=summary,
            status="in_progress",
        )
        if started is not None:
            started.set_result(event_id)
        record = RunEvent(self.runtime.events, event_id, summary, sum(runs for _, runs in plan))
        control = RunControl.for_run(stop_event, config.window_minutes)
        connections = RunConnections(self.runtime, event_id, lock)
        ctx = TaskContext(
            runtime=connections.runtime,
            config=config,
            now=await self.runtime.db.fetchval("SELECT now()"),
            dry_run=dry_run,
            control=control,
            run_event_id=event_id,
            application_name=connections.application_name,
        )
        watchers = [
            asyncio.create_task(watch_for_cancel(self.runtime, event_id, control)),
            asyncio.create_task(record.publish_progress()),
        ]
        outcomes: list[TaskOutcome] = []
        cancelled_from_outside = False
        try:
            for task_class, runs in plan:
                reason = "disabled" if not runs else control.reason()
                if reason is not None:
                    outcome = _skipped(task_class, reason)
                    outcomes.append(outcome)
                    await record.task_recorded(outcome.as_summary(), ran=False)
                    continue
                task = task_class()
                ctx.report = TaskReport(task.counts)
                await record.task_started(task.name, task.title, ctx.report)
                outcome, cancelled_from_outside = await self._run_task(task, ctx, connections)
                outcomes.append(outcome)
                await record.task_recorded(outcome.as_summary(), ran=True)
                if cancelled_from_outside:
                    break
        except asyncio.CancelledError:
            cancelled_from_outside = True
        finally:
            for watcher in watchers:
                watcher.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            await connections.close()
        result = await self._finish(
            record, plan, outcomes, control, dry_run, interrupted=cancelled_from_outside
        )
        if cancelled_from_outside:
            raise asyncio.CancelledError
        return result

    async def _run_task(
        self, task: MaintenanceTask, ctx: TaskContext, connections: RunConnections
    ) -> tuple[TaskOutcome, bool]:
        """Run one task to its outcome; True too when the run was cancelled meanwhile."""
        minutes = ctx.config.task_timeout_minutes
        started = time.monotonic()
        work = asyncio.create_task(task.run(ctx), name=f"maintenance:{task.name}")
        cancelled = timed_out = False
        try:
            done, _ = await asyncio.wait({work}, timeout=minutes * 60)
            timed_out = not done
        except asyncio.CancelledError:
            cancelled = True
        if not work.done():
            await self._stop_now(task, work, connections)
        result = dict(ctx.report.result)
        status: TaskStatus = "failed"
        error: str | None = None
        stopped_by: str | None = None
        if cancelled:
            error, stopped_by = INTERRUPTED, "shutdown"
        elif timed_out:
            error, stopped_by = f"timed out after {minutes:g} minutes", "timeout"
        else:
            exc = work.exception() if not work.cancelled() else None
            if exc is None:
                status = "finished"
            elif isinstance(exc, TaskSkipped):
                status, result = "skipped", {"reason": str(exc)}
            elif isinstance(exc, TaskStopped):
                stopped_by = exc.reason
                if exc.reason == "window":
                    status = "finished"
                elif exc.reason == "cancelled":
                    status = "aborted"
                else:
                    error = INTERRUPTED
            else:
                # One failing task must not stop the others: it is logged and recorded.
                log.error("maintenance task %s failed", task.name, exc_info=exc)
                error = _describe(exc)
        if stopped_by is not None:
            result["stoppedBy"] = stopped_by
        duration_ms = round((time.monotonic() - started) * 1000)
        log.log(
            logging.WARNING if status == "failed" else logging.INFO,
            "maintenance task %s %s in %d ms: %s",
            task.name,
            status,
            duration_ms,
            error or result,
        )
        outcome = TaskOutcome(task.name, task.title, status, duration_ms, result, error, stopped_by)
        return outcome, cancelled

    async def _stop_now(
        self, task: MaintenanceTask, work: asyncio.Task[None], connections: RunConnections
    ) -> None:
        """Cancel the task's statements on the server, then the task; wait for it to end."""
        try:
            cancelled = await connections.cancel_statements()
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
            log.error("could not cancel the statements of maintenance task %s: %s", task.name, exc)
        else:
            log.warning(
                "maintenance task %s stopped; %d statement(s) cancelled", task.name, cancelled
            )
        done, _ = await asyncio.wait({work}, timeout=UNWIND_SECONDS)
        if not done:
            work.cancel()
            done, _ = await asyncio.wait({work}, timeout=ABANDON_AFTER)
        if not done:
            log.error("maintenance task %s did not stop; abandoned", task.name)
        elif not work.cancelled():
            work.exception()  # retrieved: the outcome says what stopped it

    async def _finish(
        self,
        record: RunEvent,
        plan: list[PlanEntry],
        outcomes: list[TaskOutcome],
        control: RunControl,
        dry_run: bool,
        *,
        interrupted: bool,
    ) -> RunResult:
        # Tasks the run never reached (cancelled from outside): listed, with why.
        reached = {outcome.name for outcome in outcomes}
        for task_class, runs in plan:
            if task_class.name not in reached:
                reason = "disabled" if not runs else control.reason() or "shutdown"
                outcome = _skipped(task_class, reason)
                outcomes.append(outcome)
                record.summary["tasks"].append(outcome.as_summary())
        interrupted = interrupted or any(outcome.interrupted for outcome in outcomes)
        failed = [outcome.name for outcome in outcomes if outcome.status == "failed"]
        skipped = sum(outcome.status == "skipped" for outcome in outcomes)
        status: RunStatus
        if control.cancelled_by is not None:
            status, description = "aborted", f"Maintenance cancelled by {control.cancelled_by}"
        elif interrupted:
            status, description = "failed", INTERRUPTED
        elif failed:
            status, description = "failed", f"Maintenance failed: {', '.join(failed)} failed"
        else:
            status = "finished"
            description = (
                f"Maintenance finished: {_plural(len(outcomes), 'task')}, {skipped} skipped"
            )
            if any(
                outcome.stopped_by == "window" or outcome.result.get("reason") == "window"
                for outcome in outcomes
            ):
                description += "; the window closed"
        try:
            async with asyncio.timeout(RECORD_TIMEOUT):
                await record.finish(status, description)
        except TimeoutError:
            # Left in progress: the next run or scheduler start marks it interrupted.
            log.error(
                "could not record maintenance run %s within %g s", record.event_id, RECORD_TIMEOUT
            )
        log.info("maintenance run %s: %s", record.event_id, description)
        return RunResult(
            record.event_id,
            status,
            description,
            dry_run,
            interrupted,
            outcomes,
            control.cancelled_by,
        )
