"""The FastAPI app factory. Nothing happens at import time: `create_app(settings)` builds an app,
its lifespan builds the runtime and starts the background workers (and the maintenance
scheduler when this process runs it), and stops them again within the shutdown timeout.

The app starts while PostgreSQL or Redis are down: connections are made lazily, workers retry
with backoff, and /api/ready reports what is missing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ayon_server.addons.installer import BackgroundInstaller
from ayon_server.api.access_log import log_request
from ayon_server.api.body_timeout import BodyReadTimeoutMiddleware
from ayon_server.api.docs import install_docs
from ayon_server.api.errors import install_error_handling
from ayon_server.api.http_metrics import http_metrics_observer, install_metrics
from ayon_server.api.input_guard import InputGuardMiddleware
from ayon_server.api.openapi import install_openapi
from ayon_server.api.request_observer import RequestObserverMiddleware
from ayon_server.api.routes import ROUTERS
from ayon_server.api.state import ServerState
from ayon_server.auth.passwords import configure_hash_workers
from ayon_server.background.action_invalidator import ActionInvalidator
from ayon_server.background.event_relay import EventRelay
from ayon_server.background.log_collector import LogCollector
from ayon_server.background.log_partition_keeper import LogPartitionKeeper
from ayon_server.background.replica_heartbeat import ReplicaHeartbeat
from ayon_server.config import Settings
from ayon_server.lib.workers import BackgroundWorker, WorkerGroup
from ayon_server.maintenance.service import (
    MaintenanceSchedulerHandle,
    MaintenanceService,
    stop_run,
)
from ayon_server.replicas.identity import ReplicaIdentity
from ayon_server.runtime import Runtime
from ayon_server.schema import load_migrations
from ayon_server.version import __version__
from setup import MIGRATIONS_DIR

log = logging.getLogger(__name__)

# Share of AYON_SHUTDOWN_TIMEOUT a running maintenance task gets to reach a batch boundary.
SCHEDULER_SHARE = 0.8


def server_workers(runtime: Runtime, replica: ReplicaIdentity) -> list[BackgroundWorker]:
    """The background workers every server replica runs."""
    return [
        LogCollector(runtime),
        LogPartitionKeeper(runtime),
        ActionInvalidator(runtime),
        EventRelay(runtime),
        ReplicaHeartbeat(runtime, replica),
        BackgroundInstaller(runtime, replica),
    ]


def create_app(
    settings: Settings,
    *,
    run_maintenance: bool = False,
    runtime: Runtime | None = None,
    maintenance: MaintenanceService | None = None,
) -> FastAPI:
    """Build the app. A given `runtime` stays the caller's: the app never closes it.

    `maintenance` (the maintenance package's MaintenanceProcedure) lets the server start runs
    over HTTP and, with `run_maintenance`, host the scheduler; without it POST
    /api/maintenance/run answers 503.
    """
    if run_maintenance and maintenance is None:
        raise ValueError("run_maintenance needs the maintenance procedure (maintenance=...)")
    app = FastAPI(
        title="AYON server",
        version=__version__,
        lifespan=_lifespan,
        docs_url=None,  # install_docs serves it without a CDN
        redoc_url=None,
    )
    app.state.server = ServerState(
        settings=settings,
        run_maintenance=run_maintenance,
        maintenance=maintenance,
        migrations=load_migrations(MIGRATIONS_DIR),
        runtime=runtime,
    )
    install_error_handling(app)
    install_openapi(app)
    app.add_middleware(InputGuardMiddleware, max_json_bytes=settings.max_json_bytes)
    app.add_middleware(BodyReadTimeoutMiddleware, timeout=settings.upload_read_timeout)
    install_docs(app)
    metrics = install_metrics(app)
    app.add_middleware(
        RequestObserverMiddleware,
        observers=[log_request, http_metrics_observer(metrics.http)],
    )
    for router in ROUTERS:
        app.include_router(router)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ServerState = app.state.server
    owns_runtime = state.runtime is None
    try:
        if state.runtime is None:
            configure_hash_workers(state.settings.password_hash_workers)
            state.runtime = Runtime.create(state.settings)
        state.started_at = time.monotonic()
        state.workers = WorkerGroup(server_workers(state.runtime, state.replica))
        state.workers.start()
        if state.run_maintenance and state.maintenance is not None:
            state.scheduler = await _start_scheduler(state.maintenance.scheduler(state.runtime))
    except Exception as exc:
        state.startup_error = f"{exc.__class__.__name__}: {exc}"
        log.debug("server startup failed", exc_info=True)
        await _shutdown(state, owns_runtime)
        raise
    log.info(
        "server %s started with workers %s%s",
        __version__,
        ", ".join(w.name for w in state.workers) or "none",
        " and the maintenance scheduler" if state.scheduler else "",
    )
    try:
        yield
    finally:
        await _shutdown(state, owns_runtime)


async def _start_scheduler(scheduler: MaintenanceSchedulerHandle) -> MaintenanceSchedulerHandle:
    try:
        await scheduler.start()
    except BaseException:
        await scheduler.stop(timeout=0)  # whatever start() got running before it failed
        raise
    return scheduler


async def _shutdown(state: ServerState, owns_runtime: bool) -> None:
    """Stop maintenance runs and the scheduler, then the workers, then close connections.

    A running maintenance task stops at its next batch boundary and the run is recorded as
    failed ("interrupted by shutdown"); it gets most of AYON_SHUTDOWN_TIMEOUT for that. One that
    does not stop in time has its statements cancelled on the server and records itself before
    the connections close, which may take a few seconds past the timeout: a short timeout never
    loses the run's summary nor leaves a statement running.
    """
    loop = asyncio.get_running_loop()
    timeout = state.settings.shutdown_timeout
    deadline = loop.time() + timeout
    graceful_until = loop.time() + timeout * SCHEDULER_SHARE
    state.shutting_down.set()
    # Runs started over HTTP; at most one runs at a time, but stop each the same way.
    await asyncio.gather(
        *(stop_run(run, graceful_until - loop.time()) for run in list(state.background_runs))
    )
    if state.scheduler is not None:
        try:
            await state.scheduler.stop(timeout=max(graceful_until - loop.time(), 0.0))
        except Exception:
            log.exception("maintenance scheduler failed to stop cleanly")
        state.scheduler = None
    # The workers always get their share, even when a run took longer to record itself.
    await state.workers.stop(max(deadline - loop.time(), timeout * (1 - SCHEDULER_SHARE)))
    if owns_runtime and state.runtime is not None:
        await state.runtime.close()
        state.runtime = None
