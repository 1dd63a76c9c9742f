"""The web frontend: `GET /`, the status page (always 200: the AYON client probes `/` for
availability), the admin UI's pages and their static files, and the maintenance charts (SVG)."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse, HTMLResponse, Response

from ayon_server.api.auth import AdminUser
from ayon_server.api.dependencies import RuntimeDep, ServerStateDep
from ayon_server.api.readiness import CHECK_TIMEOUT, check_readiness, describe_failure
from ayon_server.api.state import ServerState
from ayon_server.events.stream import EventModel
from ayon_server.exceptions import NotFoundException
from ayon_server.frontend.charts import rows_removed_chart, sizes_chart, task_durations_chart
from ayon_server.frontend.pages import (
    PAGES,
    STATIC_FILES,
    STATIC_TYPES,
    Page,
    render_login,
    render_page,
)
from ayon_server.frontend.status_html import CheckView, StatusPageData, render_status_page
from ayon_server.maintenance.config import load_config, next_run_at
from ayon_server.maintenance.runs import last_run, list_runs
from ayon_server.snapshots.store import recent_snapshots
from ayon_server.version import __version__

router = APIRouter(tags=["Frontend"])

NO_STORE = {"Cache-Control": "no-store"}
# The UI loads nothing from elsewhere, and the browser enforces it. Inline styles: pygal's SVG.
PAGE_HEADERS = {
    **NO_STORE,
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
}
CHART_RUNS_DEFAULT = 20
CHART_RUNS_MAX = 200
CHART_DAYS_DEFAULT = 90
CHART_DAYS_MAX = 3650


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


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def get_login_page() -> HTMLResponse:
    return HTMLResponse(render_login(), headers=PAGE_HEADERS)


def _page_route(page: Page) -> None:
    async def get_page() -> HTMLResponse:
        return HTMLResponse(render_page(page), headers=PAGE_HEADERS)

    router.add_api_route(
        page.path, get_page, response_class=HTMLResponse, include_in_schema=False, name=page.title
    )


for _page in PAGES:
    _page_route(_page)


@router.get("/static/{name}", include_in_schema=False)
async def get_static_file(name: Annotated[str, Path(max_length=100)]) -> FileResponse:
    path = STATIC_FILES.get(name)
    if path is None:
        raise NotFoundException("No such file")
    return FileResponse(
        path, media_type=STATIC_TYPES[path.suffix], headers={"Cache-Control": "no-cache"}
    )


@router.get("/api/maintenance/charts/{chart}", response_class=Response, tags=["Maintenance"])
async def get_maintenance_chart(
    chart: Literal["durations", "removed", "sizes"],
    _admin: AdminUser,
    runtime: RuntimeDep,
    runs: Annotated[int, Query(ge=1, le=CHART_RUNS_MAX)] = CHART_RUNS_DEFAULT,
    days: Annotated[int, Query(ge=1, le=CHART_DAYS_MAX)] = CHART_DAYS_DEFAULT,
) -> Response:
    """An SVG chart: task durations or rows removed over the last `runs` runs, or the database
    and largest table sizes over the last `days` daily metrics snapshots."""
    if chart == "sizes":
        svg = sizes_chart(await recent_snapshots(runtime.db, days))
    else:
        history = await list_runs(runtime.db, runs)
        svg = task_durations_chart(history) if chart == "durations" else rows_removed_chart(history)
    return Response(svg, media_type="image/svg+xml", headers=NO_STORE)
