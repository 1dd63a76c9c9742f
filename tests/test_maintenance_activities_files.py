"""clean_activities and clean_files through the real MaintenanceRunner, on real project
schemas, real events and real files under the storage directory."""

from __future__ import annotations

import os
import secrets
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from ayon_server.config import Settings
from ayon_server.runtime import Runtime
from maintenance.runner import MaintenanceRunner, TaskOutcome
from tests.helpers.projects import create_project
from tests.helpers.users import login, make_user

pytestmark = pytest.mark.usefixtures("clean_tables")

OLD = timedelta(days=11)  # past the default activityGraceDays (10)
OLD_FILE = timedelta(hours=25)  # past the default fileGraceHours (24)


@pytest.fixture
async def headers(client: httpx.AsyncClient, runtime: Runtime) -> dict[str, str]:
    return await login(client, await make_user(runtime, isManager=True))


async def run_task(runtime: Runtime, name: str, *, dry_run: bool = False) -> TaskOutcome:
    (outcome,) = (await MaintenanceRunner(runtime).run([name], dry_run=dry_run)).tasks
    assert outcome.status == "finished", outcome.error
    return outcome


async def post(client: httpx.AsyncClient, url: str, headers: dict[str, str], **body: object) -> str:
    response = await client.post(url, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def upload(client: httpx.AsyncClient, project: str, headers: dict[str, str]) -> str:
    response = await client.post(
        f"/api/projects/{project}/files",
        content=b"x" * 100,
        headers={**headers, "x-file-name": "f.bin"},
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def comment_on(
    client: httpx.AsyncClient,
    project: str,
    kind: str,
    entity_id: str,
    headers: dict[str, str],
    files: list[str] | None = None,
) -> str:
    url = f"/api/projects/{project}/{kind}s/{entity_id}/activities"
    return await post(client, url, headers, activityType="comment", body="c", files=files or [])


async def existing_activities(runtime: Runtime, project: str) -> set[str]:
    rows = await runtime.db.fetch(f"SELECT id FROM project_{project.lower()}.activities")
    return {row["id"].hex for row in rows}


async def existing_files(runtime: Runtime, project: str) -> dict[str, str | None]:
    rows = await runtime.db.fetch(f"SELECT id, activity_id FROM project_{project.lower()}.files")
    return {r["id"].hex: r["activity_id"].hex if r["activity_id"] else None for r in rows}


async def age_gone_origin(runtime: Runtime, project: str, entity_id: str, age: timedelta) -> None:
    """Pretend the origin `entity_id` went `age` ago (its recorded deletion time)."""
    schema = f"project_{project.lower()}"
    status = await runtime.db.execute(
        f"UPDATE {schema}.gone_origins g SET gone_at = now() - $2::interval "
        f"FROM {schema}.activity_references r WHERE r.id = g.reference_id AND r.entity_id = $1",
        uuid.UUID(entity_id),
        age,
    )
    assert status == "UPDATE 1"


def stored(settings: Settings, project: str, file_id: str) -> Path:
    return Path(settings.storage_dir) / "projects" / project / "files" / file_id[:2] / file_id


def make_old(path: Path) -> None:
    old = time.time() - OLD_FILE.total_seconds()
    os.utime(path, (old, old))


async def test_clean_activities_deletes_activities_of_entities_gone_past_the_grace_period(
    client: httpx.AsyncClient, headers: dict[str, str], runtime: Runtime
) -> None:
    project = await create_project(client, headers)
    base = f"/api/projects/{project}"
    kept = await post(client, f"{base}/folders", headers, name="kept")
    recent = await post(client, f"{base}/folders", headers, name="recent")
    old = await post(client, f"{base}/folders", headers, name="old")
    parent = await post(client, f"{base}/folders", headers, name="parent")
    task = await post(client, f"{base}/tasks", headers, name="anim", folderId=parent)
    file_id = await upload(client, project, headers)

    on_kept = await comment_on(client, project, "folder", kept, headers)
    on_recent = await comment_on(client, project, "folder", recent, headers)
    on_old = await comment_on(client, project, "folder", old, headers, files=[file_id])
    on_task = await comment_on(client, project, "task", task, headers)
    for folder in (recent, old, parent):  # the task goes with its folder
        response = await client.delete(f"{base}/folders/{folder}", headers=headers)
        assert response.status_code == 204, response.text
    await age_gone_origin(runtime, project, old, OLD)
    everything = {on_kept, on_recent, on_old, on_task}

    dry = await run_task(runtime, "clean_activities", dry_run=True)
    assert dry.result["deleted"] == 1
    assert await existing_activities(runtime, project) == everything
    assert await existing_files(runtime, project) == {file_id: on_old}

    first = await run_task(runtime, "clean_activities")
    assert first.result["deleted"] == 1 and first.result["filesUnattached"] == 1
    # The cascaded task went when its folder did, just now: inside the grace period.
    assert await existing_activities(runtime, project) == {on_kept, on_recent, on_task}
    assert await existing_files(runtime, project) == {file_id: None}

    await age_gone_origin(runtime, project, task, OLD)
    second = await run_task(runtime, "clean_activities")
    assert second.result["deleted"] == 1
    assert await existing_activities(runtime, project) == {on_kept, on_recent}
    again = await run_task(runtime, "clean_activities")
    assert again.result["deleted"] == 0


async def test_clean_files_deletes_unattached_records_and_recordless_bytes_past_the_grace(
    client: httpx.AsyncClient, headers: dict[str, str], runtime: Runtime, settings: Settings
) -> None:
    project = await create_project(client, headers)
    table = f"project_{project.lower()}.files"
    folder = await post(client, f"/api/projects/{project}/folders", headers, name="f")
    attached, unattached_old, dangling_old, unattached_recent = [
        await upload(client, project, headers) for _ in range(4)
    ]
    activity = await comment_on(client, project, "folder", folder, headers, files=[attached])
    await runtime.db.execute(
        f"UPDATE {table} SET activity_id = $1 WHERE id = $2",
        uuid.uuid4(),
        uuid.UUID(dangling_old),
    )
    await runtime.db.execute(
        f"UPDATE {table} SET created_at = now() - $1::interval WHERE id <> $2",
        OLD_FILE,
        uuid.UUID(unattached_recent),
    )
    orphan_old = stored(settings, project, secrets.token_hex(16))
    orphan_recent = stored(settings, project, secrets.token_hex(16))
    gone_project_file = stored(settings, f"gone_{secrets.token_hex(3)}", secrets.token_hex(16))
    for path in (orphan_old, orphan_recent, gone_project_file):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"o" * 10)
    make_old(orphan_old)
    make_old(gone_project_file)
    all_ids = {attached, unattached_old, dangling_old, unattached_recent}

    dry = await run_task(runtime, "clean_files", dry_run=True)
    assert dry.result == {"deleted": 2, "bytes": 200, "orphanFilesDeleted": 2, "orphanBytes": 20}
    assert set(await existing_files(runtime, project)) == all_ids
    assert orphan_old.exists() and gone_project_file.exists()
    assert all(stored(settings, project, i).exists() for i in all_ids)

    done = await run_task(runtime, "clean_files")
    assert done.result == dry.result
    assert await existing_files(runtime, project) == {attached: activity, unattached_recent: None}
    assert not stored(settings, project, unattached_old).exists()
    assert not stored(settings, project, dangling_old).exists()
    assert stored(settings, project, attached).exists()
    assert stored(settings, project, unattached_recent).exists()
    assert not orphan_old.exists() and not gone_project_file.exists()
    assert orphan_recent.exists()
    orphan_recent.unlink()


async def test_both_clean_ups_finish_with_nothing_to_do_when_no_project_exists(
    runtime: Runtime,
) -> None:
    activities = await run_task(runtime, "clean_activities")
    assert activities.result["deleted"] == 0
    files = await run_task(runtime, "clean_files")
    assert files.result["deleted"] == 0 and files.result["bytes"] == 0
