"""What a server process needs from the maintenance procedure, handed to create_app.

The procedure (runner, scheduler, tasks) lives in the top-level `maintenance` package, which
builds on the core and so cannot be imported by it. The composition roots (entrypoint.py, the
tests) pass `maintenance.service.MaintenanceProcedure` in; a server built without one still
shows the maintenance state and configuration but cannot start runs or host the scheduler.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any, Protocol

from ayon_server.runtime import Runtime

log = logging.getLogger(__name__)

# A run cancelled because it did not stop in time still cancels its statements on the server
# and records itself (the runner bounds both); this is how long that may take at most.
RECORD_GRACE = 20.0


async def stop_run(run: asyncio.Task[Any], timeout: float) -> None:
    """Let a run that was told to stop (its stop event) reach a batch boundary within `timeout`
    seconds; otherwise cancel it and wait for it to record itself before the caller closes the
    connections it needs for that."""
    try:
        done, _ = await asyncio.wait({run}, timeout=max(timeout, 0.0))
        if done:
            return
        log.warning("maintenance run did not stop within %g s; cancelling it", timeout)
        run.cancel()
        done, _ = await asyncio.wait({run}, timeout=RECORD_GRACE)
    except asyncio.CancelledError:
        run.cancel()  # our caller gave up waiting: do not leave the run behind
        raise
    if not done:
        log.error("maintenance run did not record itself within %g s; abandoned", RECORD_GRACE)


class MaintenanceSchedulerHandle(Protocol):
    """The part of the maintenance scheduler the server uses."""

    @property
    def next_run_time(self) -> datetime | None: ...

    async def start(self) -> None: ...

    async def stop(self, timeout: float | None = None) -> None:
        """Stop scheduling; a running run gets `timeout` seconds to stop, then is cancelled."""
        ...


class MaintenanceService(Protocol):
    async def start_run(
        self,
        runtime: Runtime,
        task_names: list[str] | None,
        *,
        dry_run: bool,
        stop_event: asyncio.Event,
    ) -> tuple[str, asyncio.Task[Any]]:
        """Start a run asked for over HTTP in the background: its event id once written, its task.

        Raises UnknownTask, MaintenanceLocked or InvalidMaintenanceConfig before the event
        exists. Setting `stop_event` ends the run at the running task's next batch boundary.
        """
        ...

    def scheduler(self, runtime: Runtime) -> MaintenanceSchedulerHandle:
        """A scheduler for this process, not started yet."""
        ...
