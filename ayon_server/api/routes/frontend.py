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
from ayon_server.frontend.status_html import CheckView, StatusPageData, render_status_page
from ayon_server.maintenance.config import load_config, next_run_at
from ayon_server.maintenance.runs import last_run
from ayon_server.version import __version__

router = APIRouter(tags=["Frontend"])


async def _maintenance_view(
    state: ServerState,
) -> tuple[EventModel | None, datetime | None, str | None]:
    """(last run, next run, None), or (None, None, why they could not be read)."""
    if state.runtime is None:
        return None, None, "server is starting"
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            last = await last_run(state.runtime)
            if state.scheduler is not None:
                return last, state.scheduler.next_run_time, None
            # Another process schedules maintenance; its schedule is the same configuration.
            return last, next_run_at(await load_config(state.runtime.db)), None
    except Exception as exc:  # shown on the page: the page itself must always render
        return None, None, describe_failure(exc)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def get_status_page(state: ServerStateDep) -> HTMLResponse:
    readiness, (last, next_run, maintenance_error) = await asyncio.gather(
        check_readiness(state), _maintenance_view(state)
    )
    data = StatusPageData(
        version=__version__,
        hostname=socket.gethostname(),
        uptime=state.uptime(),
        ready=readiness.ready,
        checks=[CheckView(name, c.ok, c.detail) for name, c in readiness.checks.items()],
        workers=readiness.workers,
        last_maintenance=last,
        last_maintenance_error=maintenance_error,
        scheduler_in_process=state.scheduler is not None,
        next_maintenance=next_run,
        generated_at=datetime.now(UTC),
    )
    return HTMLResponse(render_status_page(data), headers={"Cache-Control": "no-store"})
