"""clean_thumbnails: unreferenced thumbnails past the grace period go, everything else stays."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from ayon_server.config import Settings
from ayon_server.maintenance.config import save_config
from ayon_server.projects.names import quoted_schema
from ayon_server.projects.store import project_names
from ayon_server.runtime import Runtime
from maintenance.runner import MaintenanceRunner
from tests.helpers.projects import hierarchy, new_project

pytestmark = pytest.mark.usefixtures("clean_tables")

THUMBNAIL_TYPES = ("folder", "task", "version", "workfile")
OLD = 48  # hours: past the default grace period of 24
RECENT = 2


async def add_thumbnail(runtime: Runtime, project: str, *, age_hours: float, size: int) -> str:
    thumbnail_id = uuid.uuid4()
    await runtime.db.execute(
        f"INSERT INTO {quoted_schema(project)}.thumbnails (id, mime, size, data, created_at) "
        "VALUES ($1, 'image/png', $2, $3, now() - make_interval(secs => $4))",
        thumbnail_id,
        size,
        bytes(size),
        age_hours * 3600,
    )
    return thumbnail_id.hex


async def existing_thumbnails(runtime: Runtime, project: str) -> set[str]:
    rows = await runtime.db.fetch(f"SELECT id FROM {quoted_schema(project)}.thumbnails")
    return {row["id"].hex for row in rows}


@dataclass
class Seeded:
    name: str
    garbage: set[str]  # old and unreferenced
    survivors: set[str]  # recent, or referenced by one entity of each type
    garbage_bytes: int


async def seeded_project(client: httpx.AsyncClient, runtime: Runtime, garbage: int) -> Seeded:
    """A project with `garbage` old unreferenced thumbnails and one survivor of each kind."""
    project = await new_project(client, runtime)
    ids = await hierarchy(client, project)
    schema = quoted_schema(project.name)
    doomed = {
        await add_thumbnail(runtime, project.name, age_hours=OLD, size=100 + i)
        for i in range(garbage)
    }
    survivors = {await add_thumbnail(runtime, project.name, age_hours=RECENT, size=10)}
    for entity_type in THUMBNAIL_TYPES:
        kept = await add_thumbnail(runtime, project.name, age_hours=OLD, size=10)
        await runtime.db.execute(
            f"UPDATE {schema}.{entity_type}s SET thumbnail_id = $1 WHERE id = $2",
            uuid.UUID(kept),
            uuid.UUID(ids[entity_type]),
        )
        survivors.add(kept)
    return Seeded(project.name, doomed, survivors, sum(100 + i for i in range(garbage)))


async def clean_thumbnails(runtime: Runtime, *, dry_run: bool = False) -> dict[str, Any]:
    result = await MaintenanceRunner(runtime).run(["clean_thumbnails"], dry_run=dry_run)
    (task,) = result.tasks
    assert task.status == "finished", task.error
    return task.result


async def test_old_unreferenced_thumbnails_go_and_recent_or_referenced_ones_stay_in_every_project(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await save_config(runtime, {"batchSize": 2})
    first = await seeded_project(client, runtime, garbage=5)
    second = await seeded_project(client, runtime, garbage=3)

    result = await clean_thumbnails(runtime)

    assert result == {
        "deleted": 8,
        "bytes": first.garbage_bytes + second.garbage_bytes,
        "projects": len(await project_names(runtime.db)),
    }
    for seeded in (first, second):
        assert await existing_thumbnails(runtime, seeded.name) == seeded.survivors


async def test_a_dry_run_counts_the_garbage_and_deletes_nothing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    first = await seeded_project(client, runtime, garbage=4)
    second = await seeded_project(client, runtime, garbage=2)

    result = await clean_thumbnails(runtime, dry_run=True)

    assert result["deleted"] == 6
    assert result["bytes"] == first.garbage_bytes + second.garbage_bytes
    for seeded in (first, second):
        assert await existing_thumbnails(runtime, seeded.name) == seeded.garbage | seeded.survivors


async def test_the_grace_period_follows_the_configuration(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await save_config(runtime, {"thumbnailGraceHours": 72})
    seeded = await seeded_project(client, runtime, garbage=3)

    result = await clean_thumbnails(runtime)

    assert result["deleted"] == 0
    assert await existing_thumbnails(runtime, seeded.name) == seeded.garbage | seeded.survivors


async def test_a_thumbnail_replaced_over_rest_is_cleaned_once_past_the_grace_period(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    project = await new_project(client, runtime)
    folder_id = (await hierarchy(client, project))["folder"]
    url = f"/api/projects/{project.name}/folders/{folder_id}/thumbnail"
    headers = {**project.headers, "Content-Type": "image/png"}
    png = b"\x89PNG\r\n\x1a\n" + bytes(50)
    old = (await client.post(url, content=png, headers=headers)).json()["id"]
    new = (await client.post(url, content=png, headers=headers)).json()["id"]
    await runtime.db.execute(
        f"UPDATE {quoted_schema(project.name)}.thumbnails "
        "SET created_at = now() - interval '2 days'"
    )

    result = await clean_thumbnails(runtime)

    assert result["deleted"] == 1 and result["bytes"] == len(png)
    assert await existing_thumbnails(runtime, project.name) == {new}
    assert old != new


async def test_without_projects_it_finishes_with_nothing_to_do(runtime: Runtime) -> None:
    result = await clean_thumbnails(runtime)

    assert result["deleted"] == 0 and result["bytes"] == 0
    assert result["projects"] == len(await project_names(runtime.db))


async def test_a_thumbnail_a_writer_holds_locked_is_skipped_without_waiting_and_kept(
    client: httpx.AsyncClient, runtime: Runtime, settings: Settings
) -> None:
    await save_config(runtime, {"batchSize": 2})
    seeded = await seeded_project(client, runtime, garbage=5)
    held = sorted(seeded.garbage)[2]
    writer = await asyncpg.connect(settings.postgres_url)
    try:
        async with writer.transaction():
            await writer.execute(
                f"SELECT 1 FROM {quoted_schema(seeded.name)}.thumbnails WHERE id = $1 "
                "FOR KEY SHARE",
                uuid.UUID(held),
            )
            result = await clean_thumbnails(runtime)
    finally:
        await writer.close()

    assert result["deleted"] == 4
    assert await existing_thumbnails(runtime, seeded.name) == seeded.survivors | {held}


async def candidates(runtime: Runtime, project: str) -> set[str]:
    rows = await runtime.db.fetch(
        f"SELECT thumbnail_id FROM {quoted_schema(project)}.thumbnail_candidates"
    )
    return {row["thumbnail_id"].hex for row in rows}


async def test_a_thumbnail_replaced_over_patch_becomes_a_candidate_again_and_is_cleaned(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    project = await new_project(client, runtime)
    folder_url = (
        f"/api/projects/{project.name}/folders/{(await hierarchy(client, project))['folder']}"
    )
    first = await add_thumbnail(runtime, project.name, age_hours=OLD, size=10)
    response = await client.patch(folder_url, json={"thumbnailId": first}, headers=project.headers)
    assert response.status_code == 204, response.text
    assert await clean_thumbnails(runtime) == {
        "deleted": 0,
        "bytes": 0,
        "projects": len(await project_names(runtime.db)),
    }
    assert await candidates(runtime, project.name) == set()
    second = await add_thumbnail(runtime, project.name, age_hours=OLD, size=20)

    response = await client.patch(folder_url, json={"thumbnailId": second}, headers=project.headers)
    assert response.status_code == 204, response.text

    assert await candidates(runtime, project.name) == {first, second}
    result = await clean_thumbnails(runtime)
    assert result["deleted"] == 1 and result["bytes"] == 10
    assert await existing_thumbnails(runtime, project.name) == {second}
    assert await candidates(runtime, project.name) == set()


@pytest.mark.parametrize("dry_run", [False, True])
async def test_a_run_without_candidates_does_not_read_the_thumbnails(
    client: httpx.AsyncClient, runtime: Runtime, dry_run: bool
) -> None:
    seeded = await seeded_project(client, runtime, garbage=3)
    # Past the grace period, every candidate is settled by one run.
    await runtime.db.execute(
        f"UPDATE {quoted_schema(seeded.name)}.thumbnails SET created_at = now() - interval '3 days'"
    )
    await clean_thumbnails(runtime)
    assert await candidates(runtime, seeded.name) == set()
    referenced = await existing_thumbnails(runtime, seeded.name)
    schema = quoted_schema(seeded.name)
    # Renamed away, the thumbnails table fails any statement that would read it.
    await runtime.db.execute(f"ALTER TABLE {schema}.thumbnails RENAME TO thumbnails_away")
    try:
        result = await clean_thumbnails(runtime, dry_run=dry_run)
    finally:
        await runtime.db.execute(f"ALTER TABLE {schema}.thumbnails_away RENAME TO thumbnails")

    assert result["deleted"] == 0
    assert await existing_thumbnails(runtime, seeded.name) == referenced
