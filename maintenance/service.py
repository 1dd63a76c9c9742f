"""The maintenance procedure as a server process uses it: runs over HTTP and the scheduler.

entrypoint.py (and the tests) hand a MaintenanceProcedure to create_app; the server core only
knows the MaintenanceService protocol it implements.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ayon_server.runtime import Runtime
from maintenance.runner import MaintenanceRunner, RunResult
from maintenance.scheduler import MaintenanceScheduler
from maintenance.tasks import TASKS, MaintenanceTask


class MaintenanceProcedure:
    """Implements ayon_server.maintenance.service.MaintenanceService."""

    def __init__(self, tasks: Sequence[type[MaintenanceTask]] = TASKS):
        # The task registry its runs take (tests hand in their own).
        self.tasks = tuple(tasks)

    async def start_run(
        self,
        runtime: Runtime,
        task_names: list[str] | None,
        *,
        dry_run: bool,
        stop_event: asyncio.Event,
    ) -> tuple[str, asyncio.Task[RunResult]]:
        return await MaintenanceRunner(runtime, self.tasks).start(
            task_names, dry_run=dry_run, trigger="api", stop_event=stop_event
        )

    def scheduler(self, runtime: Runtime) -> MaintenanceScheduler:
        return MaintenanceScheduler(runtime, tasks=self.tasks)
