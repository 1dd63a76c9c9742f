"""The web UI's server side: its pages and static files, the maintenance charts (SVG) and the
user list the users page reads. The pages themselves are driven in a browser by test_webui.py."""

from __future__ import annotations

import re
from datetime import date, timedelta

import httpx
import pytest

from ayon_server.frontend.pages import PAGES
from ayon_server.maintenance.runs import MAINTENANCE_TOPIC
from ayon_server.runtime import Runtime
from ayon_server.snapshots.store import save_snapshot
from tests.helpers.users import login, make_user

pytestmark = pytest.mark.usefixtures("clean_tables")

ASSET_RE = re.compile(r'(?:src|href)="([^"]+)"')


@pytest.mark.parametrize("path", ["/login", *(page.path for page in PAGES)])
async def test_every_page_is_html_whose_assets_the_server_itself_serves(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assets = ASSET_RE.findall(response.text)
    assert "/static/app.css" in assets
    for asset in assets:
        assert not asset.startswith(("http:", "https:", "//")), asset
        if asset.startswith("/static/"):
            served = await client.get(asset)
            assert served.status_code == 200, asset
            assert served.headers["content-type"].split(";")[0] in ("text/css", "text/javascript")


@pytest.mark.parametrize("name", ["nope.js", "..%2Fpages.py", "pages.py", "%2Fetc%2Fpasswd"])
async def test_the_static_route_serves_only_its_own_files(
    client: httpx.AsyncClient, name: str
) -> None:
    response = await client.get(f"/static/{name}")
    assert response.status_code == 404
    assert response.json()["code"] == 404


async def test_the_user_list_is_for_admins(client: httpx.AsyncClient, runtime: Runtime) -> None:
    admin = await make_user(runtime, isAdmin=True)
    manager = await make_user(runtime, isManager=True)
    assert (await client.get("/api/users")).status_code == 401
    assert (await client.get("/api/users", headers=await login(client, manager))).status_code == 403
    response = await client.get("/api/users", headers=await login(client, admin))
    assert response.status_code == 200
    listed = {user["name"]: user for user in response.json()["users"]}
    assert list(listed) == sorted(listed)
    # The same payload as GET /api/users/{name}: flags and hasPassword, never a password hash.
    assert listed[admin]["data"]["isAdmin"] is True and listed[manager]["data"]["isManager"]
    assert listed[admin]["hasPassword"] is True
    assert not any("$argon2" in str(user) for user in listed.values())


async def _add_run(runtime: Runtime, tasks: list[dict]) -> None:
    await runtime.events.dispatch(
        MAINTENANCE_TOPIC,
        status="finished",
        description="Maintenance finished",
        summary={"trigger": "api", "dryRun": False, "tasks": tasks},
    )


def _task(name: str, duration_ms: int, **result: int) -> dict:
    return {
        "name": name,
        "title": name,
        "status": "finished",
        "durationMs": duration_ms,
        "result": result,
        "error": None,
    }


def _self_contained(svg: str) -> None:
    assert svg.startswith("<svg")
    assert "<script" not in svg
    assert not re.search(r'(?:xlink:)?href="(?:https?:)?//', svg)


async def test_the_charts_draw_durations_and_rows_removed_of_the_last_runs(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await login(client, await make_user(runtime, isAdmin=True))
    await _add_run(runtime, [_task("clean_logs", 1500, deleted=120), _task("clean_links", 20)])
    await _add_run(runtime, [_task("clean_logs", 900, deleted=7, maintenanceHistoryDeleted=3)])
    durations = await client.get("/api/maintenance/charts/durations", headers=headers)
    assert durations.status_code == 200
    assert durations.headers["content-type"].startswith("image/svg+xml")
    _self_contained(durations.text)
    assert "clean_logs" in durations.text and "clean_links" in durations.text
    removed = (await client.get("/api/maintenance/charts/removed", headers=headers)).text
    _self_contained(removed)
    # clean_links removed nothing, so it has no series; clean_logs has 120 then 7 + 3.
    assert "clean_logs" in removed and "clean_links" not in removed
    assert ">120<" in removed and ">10<" in removed


async def test_the_run_charts_leave_out_the_run_going_on(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await login(client, await make_user(runtime, isAdmin=True))
    await _add_run(runtime, [_task("clean_logs", 1500, deleted=120)])
    await runtime.events.dispatch(
        MAINTENANCE_TOPIC,
        status="in_progress",
        description="Clean-up links",
        summary={"trigger": "api", "dryRun": False, "tasks": [_task("clean_links", 40)]},
    )
    durations = (await client.get("/api/maintenance/charts/durations", headers=headers)).text
    assert "clean_logs" in durations and "clean_links" not in durations


async def test_the_sizes_chart_follows_the_database_and_its_largest_tables(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await login(client, await make_user(runtime, isAdmin=True))
    await runtime.db.execute("TRUNCATE public.metrics")
    empty = await client.get("/api/maintenance/charts/sizes", headers=headers)
    assert "No data yet" in empty.text
    today = date.today()
    for age, size in ((2, 10), (1, 20), (0, 30)):
        await save_snapshot(
            runtime.db,
            today - timedelta(days=age),
            {
                "databaseBytes": size * 1024 * 1024,
                "tables": {"public.logs": {"bytes": size * 512 * 1024, "estimatedRows": 1}},
            },
        )
    sizes = (await client.get("/api/maintenance/charts/sizes", headers=headers)).text
    _self_contained(sizes)
    assert "database" in sizes and "public.logs" in sizes
    assert (today - timedelta(days=2)).isoformat() in sizes


async def test_an_unknown_chart_is_400(client: httpx.AsyncClient, runtime: Runtime) -> None:
    headers = await login(client, await make_user(runtime, isAdmin=True))
    response = await client.get("/api/maintenance/charts/pie", headers=headers)
    assert response.status_code == 400
    assert response.json()["code"] == 400
