"""clean_activities knows when an origin went from the project's own record (gone_origins, fed by
triggers), never from public.events: the answers below hold with the events table emptied."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import httpx
import pytest

from ayon_server.config import Settings
from ayon_server.projects.store import load_project_ref
from ayon_server.runtime import Runtime
from ayon_server.schema import load_migrations
from maintenance.runner import MaintenanceRunner, TaskOutcome
from maintenance.tasks.clean_activities import _due_sql
from setup import MIGRATIONS_DIR
from setup.database import create_database
from setup.migrate import apply_migrations
from tests.helpers.projects import create_project, dropping_new_projects, unique_name
from tests.helpers.users import login, make_user

pytestmark = pytest.mark.usefixtures("clean_tables")

OLD = timedelta(days=11)  # past the default activityGraceDays (10)


@pytest.fixture
async def project(
    client: httpx.AsyncClient, headers: dict[str, str], runtime: Runtime
) -> AsyncIterator[str]:
    async with dropping_new_projects(runtime):
        yield await create_project(client, headers, unique_name("origins"))


@pytest.fixture
async def headers(client: httpx.AsyncClient, runtime: Runtime) -> dict[str, str]:
    return await login(client, await make_user(runtime, isManager=True))


async def post(client: httpx.AsyncClient, url: str, headers: dict[str, str], **body: object) -> str:
    response = await client.post(url, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def folder_with_comment(
    client: httpx.AsyncClient, headers: dict[str, str], project: str, name: str
) -> tuple[str, str]:
    folder = await post(client, f"/api/projects/{project}/folders", headers, name=name)
    comment = await post(
        client,
        f"/api/projects/{project}/folders/{folder}/activities",
        headers,
        activityType="comment",
        body="c",
    )
    return folder, comment


async def run_task(runtime: Runtime, *, dry_run: bool = False) -> TaskOutcome:
    (outcome,) = (await MaintenanceRunner(runtime).run(["clean_activities"], dry_run=dry_run)).tasks
    assert outcome.status == "finished", outcome.error
    return outcome


async def activities(runtime: Runtime, project: str) -> set[str]:
    rows = await runtime.db.fetch(f"SELECT id FROM project_{project}.activities")
    return {row["id"].hex for row in rows}


async def age_all_gone_origins(runtime: Runtime, project: str) -> None:
    await runtime.db.execute(
        f"UPDATE project_{project}.gone_origins SET gone_at = now() - $1::interval", OLD
    )


async def test_an_origin_deleted_past_the_grace_deletes_its_activity_with_no_event_left(
    client: httpx.AsyncClient, headers: dict[str, str], runtime: Runtime, project: str
) -> None:
    gone, on_gone = await folder_with_comment(client, headers, project, "gone")
    _, on_kept = await folder_with_comment(client, headers, project, "kept")
    # Plain SQL, no event: the trigger records the deletion all the same.
    await runtime.db.execute(
        f"DELETE FROM project_{project}.folders WHERE id = $1", uuid.UUID(gone)
    )

    assert (await run_task(runtime)).result["deleted"] == 0  # inside the grace period
    await age_all_gone_origins(runtime, project)
    await runtime.db.execute("TRUNCATE public.events")

    assert (await run_task(runtime, dry_run=True)).result["deleted"] == 1
    assert await activities(runtime, project) == {on_gone, on_kept}
    assert (await run_task(runtime)).result["deleted"] == 1
    assert await activities(runtime, project) == {on_kept}
    assert await runtime.db.fetchval(f"SELECT count(*) FROM project_{project}.gone_origins") == 0


async def test_an_origin_that_exists_again_keeps_its_activity(
    client: httpx.AsyncClient, headers: dict[str, str], runtime: Runtime, project: str
) -> None:
    folder, comment = await folder_with_comment(client, headers, project, "back")
    schema = f"project_{project}"
    async with runtime.db.transaction() as conn:
        row = await conn.fetchrow(
            f"SELECT * FROM {schema}.folders WHERE id = $1", uuid.UUID(folder)
        )
        await conn.execute(f"DELETE FROM {schema}.folders WHERE id = $1", row["id"])
        columns = ", ".join(row.keys())
        values = ", ".join(f"${i}" for i in range(1, len(row) + 1))
        await conn.execute(
            f"INSERT INTO {schema}.folders ({columns}) VALUES ({values})", *row.values()
        )
    await age_all_gone_origins(runtime, project)

    assert (await run_task(runtime, dry_run=True)).result["deleted"] == 0
    assert (await run_task(runtime)).result["deleted"] == 0
    assert await activities(runtime, project) == {comment}
    assert await runtime.db.fetchval(f"SELECT count(*) FROM {schema}.gone_origins") == 0


async def test_an_origin_written_naming_no_entity_counts_as_gone_from_its_write(
    runtime: Runtime, project: str
) -> None:
    schema = f"project_{project}"
    activity = uuid.uuid4()
    async with runtime.db.transaction() as conn:
        await conn.execute(
            f"INSERT INTO {schema}.activities (id, activity_type) VALUES ($1, 'comment')", activity
        )
        await conn.execute(
            f"INSERT INTO {schema}.activity_references "
            "(id, activity_id, reference_type, entity_type, entity_id, entity_name) "
            "VALUES ($1, $2, 'origin', 'version', $3, NULL), ($4, $2, 'author', 'user', NULL, 'x')",
            uuid.uuid4(),
            activity,
            uuid.uuid4(),
            uuid.uuid4(),
        )
    assert await runtime.db.fetchval(f"SELECT count(*) FROM {schema}.gone_origins") == 1

    assert (await run_task(runtime)).result["deleted"] == 0
    await age_all_gone_origins(runtime, project)
    assert (await run_task(runtime)).result["deleted"] == 1
    assert await activities(runtime, project) == set()


async def test_the_statements_do_not_read_public_events(
    client: httpx.AsyncClient, headers: dict[str, str], runtime: Runtime, project: str
) -> None:
    """The task's SQL, explained, touches only the project's own tables."""
    ref = await load_project_ref(runtime.db, project)
    explained = _due_sql(ref).replace("$1", "now()").replace("$2", "10")
    plan = str(await runtime.db.fetchval(f"EXPLAIN (VERBOSE, FORMAT JSON) {explained}"))
    assert "gone_origins" in plan
    assert '"Schema": "public"' not in plan and "events" not in plan


@pytest.fixture
async def migrating_database(empty_database: Settings) -> AsyncIterator[asyncpg.Connection]:
    await create_database(empty_database.postgres_url)
    conn = await asyncpg.connect(empty_database.postgres_url)
    try:
        yield conn
    finally:
        await conn.close()


async def test_the_upgrade_records_the_origins_already_gone_with_the_time_they_went(
    migrating_database: asyncpg.Connection,
) -> None:
    """Before the upgrade a gone origin's time came from its entity's deleted event, else from
    the stamp a run left; the upgrade carries exactly those times over, once."""
    conn = migrating_database
    migrations = load_migrations(MIGRATIONS_DIR)
    before = [m for m in migrations if m.version < 8]
    await apply_migrations(conn, before)
    await conn.execute("INSERT INTO public.projects (name, code) VALUES ('Up', 'up')")
    await conn.fetchval("SELECT public.create_project_schema('Up')")
    evented, stamped, alive = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    refs = {}
    for folder in (evented, stamped, alive):
        activity, refs[folder] = uuid.uuid4(), uuid.uuid4()
        await conn.execute(
            "INSERT INTO project_up.folders (id, name, folder_type, path, status) "
            "VALUES ($1, $2, 'Shot', $2, 'Not ready')",
            folder,
            folder.hex,
        )
        await conn.execute(
            "INSERT INTO project_up.activities (id, activity_type) VALUES ($1, 'comment')",
            activity,
        )
        await conn.execute(
            "INSERT INTO project_up.activity_references "
            "(id, activity_id, reference_type, entity_type, entity_id, data) "
            "VALUES ($1, $2, 'origin', 'folder', $3, $4::jsonb)",
            refs[folder],
            activity,
            folder,
            '{"originGoneAt": "2026-01-02T00:00:00+00:00"}' if folder == stamped else "{}",
        )
    await conn.execute(
        "DELETE FROM project_up.folders WHERE id = ANY($1::uuid[])", [evented, stamped]
    )
    await conn.execute(
        "INSERT INTO public.events (id, hash, topic, project_name, summary, status, created_at) "
        "VALUES ($1, $2, 'entity.folder.deleted', 'Up', $3::jsonb, 'finished', '2026-01-01')",
        uuid.uuid4(),
        secrets.token_hex(8),
        f'{{"entityId": "{evented.hex}"}}',
    )

    await apply_migrations(conn, migrations)
    gone = {
        row["reference_id"]: row["gone_at"].date().isoformat()
        for row in await conn.fetch("SELECT reference_id, gone_at FROM project_up.gone_origins")
    }
    assert gone == {refs[evented]: "2026-01-01", refs[stamped]: "2026-01-02"}
