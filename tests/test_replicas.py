"""Server replicas: the heartbeat row, GET /api/system/replicas, and clean_replicas.

Replicas are real apps with their lifespans running (heartbeat worker included) against the
run's database; old replicas are rows written with an old last_seen.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from ayon_server.api.state import ServerState
from ayon_server.config import Settings
from ayon_server.maintenance.config import save_config
from ayon_server.runtime import Runtime
from maintenance.runner import MaintenanceRunner, TaskOutcome
from tests.helpers.server import server_app, serving
from tests.helpers.users import login, make_user
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.usefixtures("clean_tables", "no_replicas")


@pytest.fixture
async def no_replicas(runtime: Runtime) -> None:
    await runtime.db.execute("DELETE FROM public.replicas")


async def add_replica(runtime: Runtime, replica_id: str, age: timedelta, packages: int = 0) -> None:
    await runtime.db.execute(
        """
        INSERT INTO public.replicas (id, hostname, version, started_at, last_seen)
        VALUES ($1, 'old-host', '0.0.1', now() - $2::interval, now() - $2::interval)
        """,
        replica_id,
        age,
    )
    for index in range(packages):
        await runtime.db.execute(
            """
            INSERT INTO public.replica_packages (replica_id, kind, name, version, status)
            VALUES ($1, 'addon', $2, '1.0.0', 'installed')
            """,
            replica_id,
            f"addon{index}",
        )


async def replica_ids(runtime: Runtime) -> set[str]:
    return {row["id"] for row in await runtime.db.fetch("SELECT id FROM public.replicas")}


async def status_rows(runtime: Runtime) -> int:
    return await runtime.db.fetchval("SELECT count(*) FROM public.replica_packages")


async def run_task(runtime: Runtime, name: str, *, dry_run: bool = False) -> TaskOutcome:
    (outcome,) = (await MaintenanceRunner(runtime).run([name], dry_run=dry_run)).tasks
    return outcome


async def test_a_running_server_heartbeats_its_replica_row_and_lists_it_live(
    runtime: Runtime, settings: Settings
) -> None:
    app = server_app(settings.model_copy(update={"replica_heartbeat_interval": 0.2}))
    state: ServerState = app.state.server
    await add_replica(runtime, "gone-long-ago", timedelta(days=3), packages=1)
    admin = await make_user(runtime, isAdmin=True)
    async with serving(app) as http:
        headers = await login(http, admin)

        async def seen() -> object:
            return await runtime.db.fetchval(
                "SELECT last_seen FROM public.replicas WHERE id = $1", state.replica.id
            )

        first = await wait_until(seen, what="the replica's first heartbeat")

        async def seen_again() -> bool:
            return (await seen()) > first

        await wait_until(seen_again, what="a second heartbeat")
        response = await http.get("/api/system/replicas", headers=headers)

    assert response.status_code == 200
    replicas = response.json()["replicas"]
    assert [(r["id"], r["live"]) for r in replicas] == [
        (state.replica.id, True),
        ("gone-long-ago", False),
    ]
    me = replicas[0]
    assert me["hostname"] == state.replica.hostname and me["version"] == state.replica.version
    assert {"startedAt", "lastSeen", "packages"} <= set(me)
    assert replicas[1]["packages"] == [
        {
            "kind": "addon",
            "name": "addon0",
            "version": "1.0.0",
            "status": "installed",
            "error": None,
        }
    ]


async def test_only_admins_see_the_replicas(runtime: Runtime, client: httpx.AsyncClient) -> None:
    user = await make_user(runtime)
    headers = await login(client, user)

    assert (await client.get("/api/system/replicas", headers=headers)).status_code == 403
    assert (await client.get("/api/system/replicas")).status_code == 401


@pytest.fixture
async def replicas_around_the_default_retention(runtime: Runtime, no_replicas: None) -> None:
    minute = timedelta(minutes=1)
    await add_replica(runtime, "live", timedelta(seconds=5), packages=2)
    await add_replica(runtime, "just-inside", timedelta(hours=24) - minute, packages=1)
    await add_replica(runtime, "just-outside", timedelta(hours=24) + minute, packages=2)
    for index in range(3):
        await add_replica(runtime, f"long-gone-{index}", timedelta(days=10 + index), packages=1)


@pytest.mark.usefixtures("replicas_around_the_default_retention")
async def test_clean_replicas_removes_replicas_gone_for_the_retention_with_their_statuses(
    runtime: Runtime,
) -> None:
    await save_config(runtime, {"batchSize": 2})

    outcome = await run_task(runtime, "clean_replicas")

    assert outcome.status == "finished"
    assert outcome.result == {"deleted": 4, "packageStatuses": 5}
    assert await replica_ids(runtime) == {"live", "just-inside"}
    assert await status_rows(runtime) == 3


@pytest.mark.usefixtures("replicas_around_the_default_retention")
async def test_clean_replicas_dry_run_counts_and_deletes_nothing(runtime: Runtime) -> None:
    outcome = await run_task(runtime, "clean_replicas", dry_run=True)

    assert outcome.result == {"deleted": 4, "packageStatuses": 5}
    assert len(await replica_ids(runtime)) == 6
    assert await status_rows(runtime) == 8


async def test_clean_replicas_follows_the_configured_retention_and_keeps_a_running_server(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    await save_config(runtime, {"replicaRetentionHours": 1})
    await add_replica(runtime, "half-an-hour", timedelta(minutes=30))
    await add_replica(runtime, "two-hours", timedelta(hours=2))
    old = {"half-an-hour", "two-hours"}

    async def running_replicas() -> set[str]:
        return await replica_ids(runtime) - old

    (running,) = await wait_until(running_replicas, what="the running server's heartbeat")

    outcome = await run_task(runtime, "clean_replicas")

    assert outcome.result["deleted"] == 1
    assert await replica_ids(runtime) == {"half-an-hour", running}


async def test_the_replica_retention_is_configured_like_the_other_retentions(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    headers = await login(client, await make_user(runtime, isAdmin=True))

    refused = await client.patch(
        "/api/config/maintenance", json={"replicaRetentionHours": 0}, headers=headers
    )
    saved = await client.patch(
        "/api/config/maintenance", json={"replicaRetentionHours": 48}, headers=headers
    )

    assert refused.status_code == 400 and "replicaRetentionHours" in refused.json()["detail"]
    assert saved.status_code == 200 and saved.json()["replicaRetentionHours"] == 48
