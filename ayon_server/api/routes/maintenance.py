"""Maintenance over HTTP, admins only (DESIGN §9): state, manual runs, runtime configuration.

A configuration change is written to public.config and announced on Redis, so the scheduler of
every replica picks it up without a restart.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ayon_server.api.auth import AdminUser
from ayon_server.api.dependencies import RuntimeDep, ServerStateDep
from ayon_server.exceptions import (
    BadRequestException,
    ConflictException,
    ServiceUnavailableException,
)
from ayon_server.maintenance.catalog import TASK_CATALOG, UnknownTask
from ayon_server.maintenance.config import (
    InvalidMaintenanceConfig,
    load_config,
    next_run_at,
    save_config,
)
from ayon_server.maintenance.lock import MaintenanceLocked, is_running
from ayon_server.maintenance.runs import last_run

router = APIRouter(tags=["Maintenance"])
log = logging.getLogger(__name__)


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    tasks: list[str] | None = Field(default=None, min_length=1)
    dry_run: bool = Field(default=False, alias="dryRun")


@router.get("/api/maintenance")
async def get_maintenance(
    _admin: AdminUser, runtime: RuntimeDep, state: ServerStateDep
) -> dict[str, Any]:
    config = await load_config(runtime.db)
    last = await last_run(runtime)
    scheduler = state.scheduler
    next_run = scheduler.next_run_time if scheduler is not None else next_run_at(config)
    return {
        "enabled": config.enabled,
        "schedule": config.schedule,
        "timezone": config.timezone,
        "tasks": [
            {"name": task.name, "title": task.title, "enabled": config.task_enabled(task.name)}
            for task in TASK_CATALOG
        ],
        "running": await is_running(runtime.db),
        "lastRun": last.model_dump(mode="json", by_alias=True) if last else None,
        "nextRun": next_run.isoformat() if next_run else None,
    }


@router.post("/api/maintenance/run", status_code=202)
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


def _forget(runs: set[asyncio.Task[Any]]) -> Any:
    def done(run: asyncio.Task[Any]) -> None:
        runs.discard(run)
        if not run.cancelled() and run.exception() is not None:
            log.error("maintenance run started over HTTP crashed: %s", run.exception())

    return done


@router.get("/api/config/maintenance")
async def get_maintenance_config(_admin: AdminUser, runtime: RuntimeDep) -> dict[str, Any]:
    return (await load_config(runtime.db)).model_dump(mode="json", by_alias=True)


@router.patch("/api/config/maintenance")
async def patch_maintenance_config(
    _admin: AdminUser, runtime: RuntimeDep, patch: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    try:
        config = await save_config(runtime, patch)
    except InvalidMaintenanceConfig as exc:
        raise BadRequestException(str(exc)) from None
    return config.model_dump(mode="json", by_alias=True)
