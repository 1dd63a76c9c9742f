"""Maintenance over HTTP: admin only, manual runs, live configuration changes."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from ayon_server.api.app import create_app
from ayon_server.config import Settings
from ayon_server.maintenance.catalog import TASK_NAMES
from ayon_server.maintenance.config import save_config
from ayon_server.maintenance.runs import MAINTENANCE_TOPIC
from ayon_server.runtime import Runtime
from maintenance.runner import MaintenanceRunner
from tests.helpers.maintenance import add_event, lock_held_elsewhere, maintenance_events, only_tasks
from tests.helpers.server import server_app, serving
from tests.helpers.users import login, make_user
from tests.helpers.waiting import wait_until

ADMIN_ENDPOINTS = [
    ("GET", "/api/maintenance", None),
    ("POST", "/api/maintenance/run", {"tasks": ["clean_logs"]}),
    ("GET", "/api/maintenance/history", None),
    ("POST", "/api/maintenance/cancel", None),
    ("GET", "/api/config/maintenance", None),
    ("PATCH", "/api/config/maintenance", {"logRetentionDays": 3}),
    ("GET", "/api/maintenance/schedule/preview?schedule=0+3+*+*+*", None),
    ("GET", "/api/maintenance/charts/durations", None),
]


@pytest.fixture
async def admin(client: httpx.AsyncClient, runtime: Runtime) -> dict[str, str]:
    return await login(client, await make_user(runtime, isAdmin=True))


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ENDPOINTS)
async def test_maintenance_endpoints_are_for_admins_only(
    client: httpx.AsyncClient, runtime: Runtime, method: str, path: str, body: dict | None
) -> None:
    config_before = await runtime.db.fetch("SELECT * FROM public.config ORDER BY 1")
    anonymous = await client.request(method, path, json=body)
    assert anonymous.status_code == 401
    artist = await login(client, await make_user(runtime, isManager=True))
    forbidden = await client.request(method, path, json=body, headers=artist)
    assert forbidden.status_code == 403
    assert await runtime.db.fetch("SELECT * FROM public.config ORDER BY 1") == config_before


async def test_state_lists_the_tasks_in_order_with_the_next_run(
    client: httpx.AsyncClient, admin: dict[str, str], clean_tables: None
) -> None:
    body = (await client.get("/api/maintenance", headers=admin)).json()
    assert [t["name"] for t in body["tasks"]] == list(TASK_NAMES)
    assert all(t["enabled"] for t in body["tasks"])
    assert body["running"] is False
    assert body["lastRun"] is None
    assert body["nextRun"].endswith("03:00:00+00:00")


async def test_a_manual_run_answers_202_and_is_tracked_as_one_event(
    client: httpx.AsyncClient, admin: dict[str, str], runtime: Runtime, clean_tables: None
) -> None:
    response = await client.post(
        "/api/maintenance/run", json={"tasks": ["clean_logs"], "dryRun": True}, headers=admin
    )
    assert response.status_code == 202
    event_id = response.json()["id"]

    async def finished() -> dict | None:
        event = await runtime.events.get(event_id)
        return event if event and event.status == "finished" else None

    event = await wait_until(finished, what="the run to finish")
    assert event.topic == MAINTENANCE_TOPIC
    assert event.summary["trigger"] == "api"
    assert event.summary["dryRun"] is True
    assert [t["name"] for t in event.summary["tasks"]] == ["clean_logs"]

    state = (await client.get("/api/maintenance", headers=admin)).json()
    assert state["lastRun"]["id"] == event_id


async def test_a_run_asked_for_while_another_holds_the_lock_is_409(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    runtime: Runtime,
    settings: Settings,
    clean_tables: None,
) -> None:
    async with lock_held_elsewhere(settings):
        response = await client.post("/api/maintenance/run", json={}, headers=admin)
        assert response.status_code == 409
        assert "already in progress" in response.json()["detail"]
        assert (await client.get("/api/maintenance", headers=admin)).json()["running"] is True
    assert await maintenance_events(runtime.db) == []


@pytest.mark.parametrize(
    "body", [{"tasks": ["clean_everything"]}, {"dryRun": "sometimes"}, {"task": "clean_logs"}]
)
async def test_a_bad_run_request_is_400_and_runs_nothing(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    runtime: Runtime,
    clean_tables: None,
    body: dict,
) -> None:
    response = await client.post("/api/maintenance/run", json=body, headers=admin)
    assert response.status_code == 400
    assert response.json()["code"] == 400
    assert await maintenance_events(runtime.db) == []


async def test_a_server_built_without_the_maintenance_procedure_shows_state_but_runs_nothing(
    settings: Settings, runtime: Runtime, clean_tables: None
) -> None:
    async with serving(create_app(settings)) as client:
        admin = await login(client, await make_user(runtime, isAdmin=True))
        state = await client.get("/api/maintenance", headers=admin)
        response = await client.post("/api/maintenance/run", json={}, headers=admin)

    assert state.status_code == 200
    assert [t["name"] for t in state.json()["tasks"]] == list(TASK_NAMES)
    assert response.status_code == 503
    assert response.json() == {
        "code": 503,
        "detail": "This server was started without the maintenance procedure; it cannot start runs",
    }
    assert await maintenance_events(runtime.db) == []


def test_hosting_the_scheduler_needs_the_maintenance_procedure(settings: Settings) -> None:
    with pytest.raises(ValueError, match="run_maintenance needs the maintenance procedure"):
        create_app(settings, run_maintenance=True)


async def test_configuration_round_trips_in_camel_case(
    client: httpx.AsyncClient, admin: dict[str, str], clean_tables: None
) -> None:
    before = (await client.get("/api/config/maintenance", headers=admin)).json()
    assert before["schedule"] == "0 3 * * *" and before["eventRetentionDays"] is None
    patch = {
        "schedule": "30 1 * * *",
        "timezone": "Europe/Prague",
        "logRetentionDays": 14,
        "tasks": {"vacuum_db": {"enabled": False}},
    }
    after = await client.patch("/api/config/maintenance", json=patch, headers=admin)
    assert after.status_code == 200
    stored = (await client.get("/api/config/maintenance", headers=admin)).json()
    assert stored == after.json()
    assert stored["logRetentionDays"] == 14 and stored["tasks"]["vacuum_db"] == {"enabled": False}
    state = (await client.get("/api/maintenance", headers=admin)).json()
    assert {t["name"]: t["enabled"] for t in state["tasks"]}["vacuum_db"] is False


@pytest.mark.parametrize(
    ("patch", "named"),
    [
        ({"schedule": "every night"}, "schedule"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"vacuumMode": "deep"}, "vacuumMode"),
        ({"logRetentionDays": 0}, "logRetentionDays"),
        ({"retentionDays": 5}, "retentionDays"),
        ({"tasks": {"clean_attic": {"enabled": False}}}, "clean_attic"),
    ],
)
async def test_an_invalid_configuration_is_400_naming_the_key_and_changes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], clean_tables: None, patch: dict, named: str
) -> None:
    before = (await client.get("/api/config/maintenance", headers=admin)).json()
    response = await client.patch("/api/config/maintenance", json=patch, headers=admin)
    assert response.status_code == 400
    assert named in response.json()["detail"]
    assert (await client.get("/api/config/maintenance", headers=admin)).json() == before


async def test_a_change_made_on_one_replica_reaches_another_replicas_scheduler(
    settings: Settings, runtime: Runtime, clean_tables: None
) -> None:
    scheduler_replica = server_app(settings, run_maintenance=True)
    async with serving(scheduler_replica), serving(server_app(settings)) as api_replica:
        scheduler = scheduler_replica.state.server.scheduler
        assert scheduler.next_run_time.hour == 3

        admin = await login(api_replica, await make_user(runtime, isAdmin=True))
        response = await api_replica.patch(
            "/api/config/maintenance", json={"schedule": "15 22 * * *"}, headers=admin
        )
        assert response.status_code == 200

        async def rescheduled() -> bool:
            when = scheduler.next_run_time
            return when is not None and (when.hour, when.minute) == (22, 15)

        await wait_until(rescheduled, timeout=20, what="the scheduler to pick up the change")


async def test_a_schedule_that_can_never_fire_is_400_and_29_february_waits_for_a_leap_year(
    client: httpx.AsyncClient, admin: dict[str, str], clean_tables: None
) -> None:
    never = await client.patch(
        "/api/config/maintenance", json={"schedule": "0 0 30 2 *"}, headers=admin
    )
    assert never.status_code == 400
    assert "schedule" in never.json()["detail"] and "never fires" in never.json()["detail"]

    leap = await client.patch(
        "/api/config/maintenance", json={"schedule": "0 0 29 2 *"}, headers=admin
    )
    assert leap.status_code == 200
    next_run = datetime.fromisoformat(
        (await client.get("/api/maintenance", headers=admin)).json()["nextRun"]
    )
    assert (next_run.month, next_run.day) == (2, 29)


async def test_next_run_is_null_only_while_maintenance_is_disabled(
    client: httpx.AsyncClient, admin: dict[str, str], clean_tables: None
) -> None:
    for schedule in ("*/5 * * * *", "0 12 * * 1-5", "30 4 1 * *"):
        await client.patch("/api/config/maintenance", json={"schedule": schedule}, headers=admin)
        assert (await client.get("/api/maintenance", headers=admin)).json()["nextRun"]
    await client.patch("/api/config/maintenance", json={"enabled": False}, headers=admin)
    assert (await client.get("/api/maintenance", headers=admin)).json()["nextRun"] is None


async def test_history_lists_runs_newest_first_with_their_tasks(
    client: httpx.AsyncClient, admin: dict[str, str], runtime: Runtime, clean_tables: None
) -> None:
    await save_config(runtime, {"tasks": only_tasks("clean_events")})
    first = await MaintenanceRunner(runtime).run(trigger="schedule")
    second = await MaintenanceRunner(runtime).run(["clean_logs"], dry_run=True, trigger="api")
    await add_event(runtime, topic="test.event")

    response = await client.get("/api/maintenance/history", headers=admin)

    assert response.status_code == 200
    items = response.json()["items"]
    assert [item["id"] for item in items] == [second.event_id, first.event_id]
    newest, oldest = items
    assert set(newest) == {
        "id",
        "status",
        "trigger",
        "dryRun",
        "startedAt",
        "finishedAt",
        "durationMs",
        "description",
        "tasks",
    }
    assert (newest["status"], newest["trigger"], newest["dryRun"]) == ("finished", "api", True)
    assert newest["description"] == second.description
    assert datetime.fromisoformat(newest["finishedAt"]) >= datetime.fromisoformat(
        newest["startedAt"]
    )
    assert newest["durationMs"] >= 0
    (logs,) = newest["tasks"]
    assert (logs["name"], logs["status"]) == ("clean_logs", "finished")
    assert set(logs) == {"name", "title", "status", "durationMs", "result", "error"}
    assert "deleted" in logs["result"]
    assert (oldest["trigger"], oldest["dryRun"]) == ("schedule", False)
    assert [t["name"] for t in oldest["tasks"]] == list(TASK_NAMES)
    skipped = {t["name"]: t["result"] for t in oldest["tasks"] if t["name"] != "clean_events"}
    assert set(map(str, skipped.values())) == {str({"reason": "disabled"})}

    limited = await client.get("/api/maintenance/history?limit=1", headers=admin)
    assert [item["id"] for item in limited.json()["items"]] == [second.event_id]


@pytest.mark.parametrize("limit", ["0", "-1", "501", "many"])
async def test_a_bad_history_limit_is_400(
    client: httpx.AsyncClient, admin: dict[str, str], limit: str
) -> None:
    response = await client.get(f"/api/maintenance/history?limit={limit}", headers=admin)

    assert response.status_code == 400
    assert response.json()["code"] == 400


async def test_the_schedule_preview_lists_the_next_runs_in_the_schedules_time_zone(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.get(
        "/api/maintenance/schedule/preview",
        params={"schedule": "30 1 * * 1-5", "timezone": "America/New_York"},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    runs = [datetime.fromisoformat(t) for t in response.json()["nextRuns"]]
    assert len(runs) == 5 and runs == sorted(runs) and len(set(runs)) == 5
    assert all(t.utcoffset() is not None for t in runs)
    assert all((t.hour, t.minute) == (1, 30) and t.isoweekday() <= 5 for t in runs)
    ten = await client.get(
        "/api/maintenance/schedule/preview",
        params={"schedule": "0 * * * *", "count": 10},
        headers=admin,
    )
    assert len(ten.json()["nextRuns"]) == 10


@pytest.mark.parametrize(
    ("schedule", "timezone", "detail"),
    [
        ("0 0 30 2 *", "UTC", "never fires: no date matches it"),
        ("0 3 * *", "UTC", "not a valid 5-field cron expression"),
        ("0 3 * * *", "Mars/Olympus", "not a known IANA time zone"),
    ],
)
async def test_an_invalid_schedule_preview_is_400_with_the_detail_a_save_gives(
    client: httpx.AsyncClient, admin: dict[str, str], schedule: str, timezone: str, detail: str
) -> None:
    preview = await client.get(
        "/api/maintenance/schedule/preview",
        params={"schedule": schedule, "timezone": timezone},
        headers=admin,
    )
    save = await client.patch(
        "/api/config/maintenance",
        json={"schedule": schedule, "timezone": timezone},
        headers=admin,
    )
    assert preview.status_code == save.status_code == 400
    assert detail in preview.json()["detail"]
    assert preview.json()["detail"] == save.json()["detail"]
