"""Maintenance over HTTP, admins only: state, manual runs, cancel, history, configuration.

A configuration change is written to public.config and announced on Redis, so the scheduler of
every replica picks it up without a restart. The state, the history and a cancel are read from
and written to the runs' events, so every replica answers the same whichever process runs.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ayon_server.api.auth import AdminUser
from ayon_server.api.dependencies import RuntimeDep, ServerStateDep
from ayon_server.api.models.maintenance import (
    CancelResponse,
    CurrentTask,
    HistoryItem,
    MaintenanceHistory,
    MaintenanceState,
    RunStartedResponse,
    SchedulePreview,
    TaskState,
)
from ayon_server.api.openapi import error_responses, sends
from ayon_server.exceptions import (
    BadRequestException,
    ConflictException,
    ServiceUnavailableException,
)
from ayon_server.maintenance.cancel import request_cancel
from ayon_server.maintenance.catalog import TASK_CATALOG, UnknownTask
from ayon_server.maintenance.config import (
    InvalidMaintenanceConfig,
    MaintenanceConfig,
    load_config,
    next_run_at,
    preview_schedule,
    save_config,
)
from ayon_server.maintenance.lock import MaintenanceLocked, is_running
from ayon_server.maintenance.runs import RunningTask, last_run, list_runs

router = APIRouter(tags=["Maintenance"])
log = logging.getLogger(__name__)

HISTORY_DEFAULT_LIMIT = 30
HISTORY_MAX_LIMIT = 500
PREVIEW_DEFAULT_COUNT = 5
PREVIEW_MAX_COUNT = 50


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    tasks: list[str] | None = Field(default=None, min_length=1)
    dry_run: bool = Field(default=False, alias="dryRun")


@router.get("/api/maintenance", response_model=MaintenanceState)
async def get_maintenance(_admin: AdminUser, runtime: RuntimeDep) -> MaintenanceState:
    config = await load_config(runtime.db)
    last = await last_run(runtime)
    running = await is_running(runtime.db)
    current = RunningTask.from_event(last) if running and last else None
    next_run = next_run_at(config)
    return MaintenanceState(
        enabled=config.enabled,
        schedule=config.schedule,
        timezone=config.timezone,
        tasks=[
            TaskState(name=task.name, title=task.title, enabled=config.task_enabled(task.name))
            for task in TASK_CATALOG
        ],
        running=running,
        current=CurrentTask(
            run_id=current.run_id, name=current.name, title=current.title, progress=current.progress
        )
        if current
        else None,
        progress=current.run_progress if current else None,
        last_run=last.model_dump(mode="json", by_alias=True) if last else None,
        # From the stored configuration, as every replica sees it (with or without a scheduler).
        next_run=next_run.isoformat() if next_run else None,
    )


@router.post(
    "/api/maintenance/run",
    status_code=202,
    response_class=JSONResponse,
    responses={**sends(RunStartedResponse, 202, "Started"), **error_responses(409)},
)
async def run_maintenance(
    _admin: AdminUser,
    runtime: RuntimeDep,
    state: ServerStateDep,
    body: Annotated[RunRequest | None, Body()] = None,
) -> JSONResponse:
    if state.maintenance is None:
        raise ServiceUnavailableException(
            "This server was started without the maintenance procedure; it cannot start runs"
        )
    body = body or RunRequest()
    try:
        event_id, run = await state.maintenance.start_run(
            runtime, body.tasks, dry_run=body.dry_run, stop_event=state.shutting_down
        )
    except UnknownTask as exc:
        raise BadRequestException(str(exc)) from None
    except MaintenanceLocked:
        raise ConflictException("A maintenance run is already in progress") from None
    except InvalidMaintenanceConfig as exc:
        raise BadRequestException(
            f"The stored maintenance configuration is invalid: {exc}"
        ) from None
    state.background_runs.add(run)
    run.add_done_callback(_forget(state.background_runs))
    return JSONResponse({"id": event_id, "eventId": event_id}, status_code=202)


@router.post(
    "/api/maintenance/cancel",
    status_code=202,
    response_model=CancelResponse,
    responses=error_responses(409),
)
async def cancel_maintenance(admin: AdminUser, runtime: RuntimeDep) -> CancelResponse:
    """Stop the run in progress, wherever it runs, at its running task's next batch boundary."""
    run_id = await request_cancel(runtime, admin.name)
    if run_id is None:
        raise ConflictException("No maintenance run is in progress")
    return CancelResponse(id=run_id, event_id=run_id)


@router.get("/api/maintenance/history", response_model=MaintenanceHistory)
async def get_maintenance_history(
    _admin: AdminUser,
    runtime: RuntimeDep,
    limit: Annotated[
        int, Query(ge=1, le=HISTORY_MAX_LIMIT, description="How many runs, newest first")
    ] = HISTORY_DEFAULT_LIMIT,
) -> MaintenanceHistory:
    runs = await list_runs(runtime.db, limit)
    return MaintenanceHistory(items=[HistoryItem.of(run) for run in runs])


@router.get("/api/maintenance/schedule/preview", response_model=SchedulePreview)
async def get_schedule_preview(
    _admin: AdminUser,
    schedule: Annotated[str, Query(max_length=200, description="5-field cron expression")],
    timezone: Annotated[str, Query(max_length=100, description="IANA time zone")] = "UTC",
    count: Annotated[int, Query(ge=1, le=PREVIEW_MAX_COUNT)] = PREVIEW_DEFAULT_COUNT,
) -> SchedulePreview:
    """When a schedule would fire next, validated exactly as PATCH /api/config/maintenance
    validates it (400 with the same detail), without saving anything."""
    try:
        times = preview_schedule(schedule, timezone, count)
    except InvalidMaintenanceConfig as exc:
        raise BadRequestException(str(exc)) from None
    return SchedulePreview(schedule=schedule, timezone=timezone, next_runs=times)


def _forget(runs: set[asyncio.Task[Any]]) -> Any:
    def done(run: asyncio.Task[Any]) -> None:
        runs.discard(run)
        if not run.cancelled() and run.exception() is not None:
            log.error("maintenance run started over HTTP crashed: %s", run.exception())

    return done


@router.get("/api/config/maintenance", response_model=MaintenanceConfig)
async def get_maintenance_config(_admin: AdminUser, runtime: RuntimeDep) -> MaintenanceConfig:
    return await load_config(runtime.db)


@router.patch("/api/config/maintenance", response_model=MaintenanceConfig)
async def patch_maintenance_config(
    _admin: AdminUser, runtime: RuntimeDep, patch: Annotated[dict[str, Any], Body()]
) -> MaintenanceConfig:
    try:
        config = await save_config(runtime, patch)
    except InvalidMaintenanceConfig as exc:
        raise BadRequestException(str(exc)) from None
    return config
