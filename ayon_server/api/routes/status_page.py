"""`GET /`: the HTML status page. Always 200 (the AYON client probes `/` for availability)."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from ayon_server.api.dependencies import ServerStateDep
from ayon_server.api.readiness import CHECK_TIMEOUT, check_readiness, describe_failure
from ayon_server.api.state import ServerState
from ayon_server.events.stream import EventModel
from ayon_server.frontend.status_page import CheckView, StatusPageData, render_status_page
from ayon_server.version import __version__

router = APIRouter(tags=["Frontend"])
MAINTENANCE_TOPIC = "server.maintenance"


async def _last_maintenance_run(state: ServerState) -> tuple[EventModel | None, str | None]:
    """(event, None), or (None, why it could not be read)."""
    if state.runtime is None:
        return None, "server is starting"
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            return await state.runtime.events.latest(MAINTENANCE_TOPIC), None
    except Exception as exc:
        return None, describe_failure(exc)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def get_status_page(state: ServerStateDep) -> HTMLResponse:
    readiness, (last_run, last_run_error) = await asyncio.gather(
        check_readiness(state), _last_maintenance_run(state)
    )
    scheduler = state.scheduler
    data = StatusPageData(
        version=__version__,
        hostname=socket.gethostname(),
        uptime=state.uptime(),
        ready=readiness.ready,
        checks=[CheckView(name, c.ok, c.detail) for name, c in readiness.checks.items()],
        workers=readiness.workers,
        last_maintenance=last_run,
        last_maintenance_error=last_run_error,
        scheduler_in_process=scheduler is not None,
        next_maintenance=scheduler.next_run_time if scheduler is not None else None,
        generated_at=datetime.now(UTC),
    )
    return HTMLResponse(render_status_page(data), headers={"Cache-Control": "no-store"})
