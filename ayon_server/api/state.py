"""ServerState: what one server process built at startup, held on `app.state.server`.

Routes reach it through the dependencies in ayon_server.api.dependencies, never as a global, so
every test can build its own app against its own database.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from ayon_server.config import Settings
from ayon_server.lib.workers import WorkerGroup
from ayon_server.maintenance.service import MaintenanceSchedulerHandle, MaintenanceService
from ayon_server.replicas.identity import ReplicaIdentity
from ayon_server.runtime import Runtime
from ayon_server.schema import Migration


@dataclass
class ServerState:
    settings: Settings
    run_maintenance: bool
    # The migrations this release ships, read once: readiness compares the database to them.
    migrations: list[Migration]
    runtime: Runtime | None = None
    # Who this replica is in public.replicas: one id for the life of the app.
    replica: ReplicaIdentity = field(default_factory=ReplicaIdentity.new)
    # The maintenance procedure, when the composition root provided one: runs over HTTP and,
    # with run_maintenance, the scheduler.
    maintenance: MaintenanceService | None = None
    workers: WorkerGroup = field(default_factory=WorkerGroup)
    scheduler: MaintenanceSchedulerHandle | None = None
    started_at: float = field(default_factory=time.monotonic)
    # Set when the server shuts down: maintenance runs started over HTTP stop at a batch boundary.
    shutting_down: asyncio.Event = field(default_factory=asyncio.Event)
    background_runs: set[asyncio.Task[Any]] = field(default_factory=set)
    # Why the lifespan startup failed, for serve() to report in one line.
    startup_error: str | None = None

    def uptime(self) -> float:
        return time.monotonic() - self.started_at
