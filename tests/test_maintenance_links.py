"""clean_links and clean_dead_links: garbage goes, valid links stay, in every project."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from ayon_server.entities.registry import ENTITY_TYPES
from ayon_server.maintenance.config import save_config
from ayon_server.projects.names import quoted_schema
from ayon_server.runtime import Runtime
from maintenance.runner import MaintenanceRunner
from tests.helpers.projects import Project, create, hierarchy, new_project

pytestmark = pytest.mark.usefixtures("clean_tables")

TYPES = list(ENTITY_TYPES)
# One kept link type per entity type as input, each to the next type as output, so every
# entity table is checked on both ends.
KEPT_TYPES = [f"keep|{t}|{TYPES[(i + 1) % len(TYPES)]}" for i, t in enumerate(TYPES)]


@dataclass
class Seeded:
    """A project with valid links (`kept`) and two kinds of garbage."""

    project: Project
    kept: set[str] = field(default_factory=set)
    of_missing_types: set[str] = field(default_factory=set)
    dead: set[str] = field(default_factory=set)


async def api_link(
    client: httpx.AsyncClient, project: Project, link_type: str, input_id: str, output_id: str
) -> str:
    response = await client.post(
        f"/api/projects/{project.name}/links",
        json={"input": input_id, "output": output_id, "linkType": link_type},
        headers=project.headers,
    )
    assert response.status_code == 200, response.text
    return response.json()["id"]


async def put_link_type(client: httpx.AsyncClient, project: Project, name: str) -> None:
    response = await client.put(
        f"/api/projects/{project.name}/links/types/{name}", json={}, headers=project.headers
    )
    assert response.status_code == 204, response.text


async def sql_link(runtime: Runtime, project: Project, link_type: str, inp: str, out: str) -> str:
    """A link written behind the API's back, as an old server or a script would leave it."""
    link_id = uuid.uuid4()
    await runtime.db.execute(
        f"INSERT INTO {quoted_schema(project.name)}.links (id, link_type, input_id, output_id) "
        "VALUES ($1, $2, $3, $4)",
        link_id,
        link_type,
        uuid.UUID(hex=inp),
        uuid.UUID(hex=out),
    )
    return link_id.hex


async def seed(client: httpx.AsyncClient, runtime: Runtime) -> Seeded:
    project = await new_project(client, runtime)
    seeded = Seeded(project)
    ids = await hierarchy(client, project)
    second = await create(client, project, "version", version=2, productId=ids["product"])
    for name in KEPT_TYPES:
        await put_link_type(client, project, name)
        _, input_type, output_type = name.split("|")
        seeded.kept.add(await api_link(client, project, name, ids[input_type], ids[output_type]))
        # Dead on either end: an entity id nothing has.
        missing = uuid.uuid4().hex
        seeded.dead.add(await sql_link(runtime, project, name, missing, ids[output_type]))
        seeded.dead.add(await sql_link(runtime, project, name, ids[input_type], missing))
    seeded.kept.add(await api_link(client, project, "reference", ids["version"], second))

    # Dead because its entity was deleted through the API.
    doomed = await create(client, project, "workfile", path="/work/doomed.ma", taskId=ids["task"])
    seeded.dead.add(await api_link(client, project, KEPT_TYPES[-2], ids["representation"], doomed))
    response = await client.delete(
        f"/api/projects/{project.name}/workfiles/{doomed}", headers=project.headers
    )
    assert response.status_code == 204

    # Of a link type deleted after its links were made, and of one that never existed; one
    # of them is also dead, which is clean_links' business, not clean_dead_links'.
    await put_link_type(client, project, "old|task|folder")
    seeded.of_missing_types.add(await api_link(client, project, "old", ids["task"], ids["folder"]))
    response = await client.delete(
        f"/api/projects/{project.name}/links/types/old|task|folder", headers=project.headers
    )
    assert response.status_code == 204
    seeded.of_missing_types.add(
        await sql_link(runtime, project, "never|folder|task", ids["folder"], ids["task"])
    )
    seeded.of_missing_types.add(
        await sql_link(runtime, project, "old|task|folder", uuid.uuid4().hex, ids["folder"])
    )
    return seeded


async def link_ids(runtime: Runtime, project: Project) -> set[str]:
    rows = await runtime.db.fetch(f"SELECT id FROM {quoted_schema(project.name)}.links")
    return {row["id"].hex for row in rows}


async def run_task(runtime: Runtime, name: str, *, dry_run: bool = False) -> dict[str, Any]:
    result = await MaintenanceRunner(runtime).run([name], dry_run=dry_run)
    (task,) = result.tasks
    assert task.status == "finished", task.error
    return task.result


async def project_count(runtime: Runtime) -> int:
    return await runtime.db.fetchval("SELECT count(*) FROM public.projects")


async def test_clean_links_deletes_links_of_missing_link_types_in_every_project_only(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await save_config(runtime, {"batchSize": 2})
    first, second = await seed(client, runtime), await seed(client, runtime)

    result = await run_task(runtime, "clean_links")

    assert result == {
        "deleted": len(first.of_missing_types) + len(second.of_missing_types),
        "projects": await project_count(runtime),
    }
    for seeded in (first, second):
        assert await link_ids(runtime, seeded.project) == seeded.kept | seeded.dead
    assert await run_task(runtime, "clean_links") == {
        "deleted": 0,
        "projects": await project_count(runtime),
    }


async def test_clean_dead_links_deletes_links_to_missing_entities_of_every_type_only(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await save_config(runtime, {"batchSize": 2})
    first, second = await seed(client, runtime), await seed(client, runtime)

    result = await run_task(runtime, "clean_dead_links")

    assert result == {
        "deleted": len(first.dead) + len(second.dead),
        "projects": await project_count(runtime),
    }
    for seeded in (first, second):
        assert await link_ids(runtime, seeded.project) == seeded.kept | seeded.of_missing_types
    assert (await run_task(runtime, "clean_dead_links"))["deleted"] == 0


async def test_a_batch_size_of_one_walks_past_every_surviving_link(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await save_config(runtime, {"batchSize": 1})
    seeded = await seed(client, runtime)

    dead = await run_task(runtime, "clean_dead_links")
    missing_types = await run_task(runtime, "clean_links")

    assert dead["deleted"] == len(seeded.dead)
    assert missing_types["deleted"] == len(seeded.of_missing_types)
    assert await link_ids(runtime, seeded.project) == seeded.kept


@pytest.mark.parametrize("task", ["clean_links", "clean_dead_links"])
async def test_a_dry_run_counts_the_garbage_and_deletes_nothing(
    client: httpx.AsyncClient, runtime: Runtime, task: str
) -> None:
    first, second = await seed(client, runtime), await seed(client, runtime)
    before = {s.project.name: await link_ids(runtime, s.project) for s in (first, second)}

    result = await run_task(runtime, task, dry_run=True)

    garbage = "of_missing_types" if task == "clean_links" else "dead"
    expected = len(getattr(first, garbage)) + len(getattr(second, garbage))
    assert result == {"deleted": expected, "projects": await project_count(runtime)}
    for seeded in (first, second):
        assert await link_ids(runtime, seeded.project) == before[seeded.project.name]


@pytest.mark.parametrize("task", ["clean_links", "clean_dead_links"])
async def test_a_project_without_garbage_keeps_all_its_links(
    client: httpx.AsyncClient, runtime: Runtime, task: str
) -> None:
    project = await new_project(client, runtime)
    ids = await hierarchy(client, project)
    chair = await create(client, project, "folder", name="chair", folderType="Asset")
    kept = {await api_link(client, project, "breakdown", ids["folder"], chair)}

    result = await run_task(runtime, task)

    assert result["deleted"] == 0
    assert await link_ids(runtime, project) == kept


async def test_links_of_versions_deleted_by_a_cascade_from_their_product_are_dead(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    project = await new_project(client, runtime)
    ids = await hierarchy(client, project)
    chair = await create(client, project, "folder", name="chair", folderType="Asset")
    kept = {await api_link(client, project, "breakdown", ids["folder"], chair)}
    await put_link_type(client, project, "uses|version|folder")
    await put_link_type(client, project, "uses|representation|folder")
    doomed = {
        await api_link(client, project, "uses|version|folder", ids["version"], chair),
        await api_link(client, project, "uses|representation|folder", ids["representation"], chair),
    }
    response = await client.delete(
        f"/api/projects/{project.name}/products/{ids['product']}", headers=project.headers
    )
    assert response.status_code == 204
    assert await link_ids(runtime, project) == kept | doomed

    dry = await run_task(runtime, "clean_dead_links", dry_run=True)
    result = await run_task(runtime, "clean_dead_links")

    assert dry["deleted"] == result["deleted"] == len(doomed)
    assert await link_ids(runtime, project) == kept


async def test_a_link_written_before_its_entity_is_kept(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    project = await new_project(client, runtime)
    ids = await hierarchy(client, project)
    await put_link_type(client, project, "keep|folder|folder")
    later = uuid.uuid4()
    link = await sql_link(runtime, project, "keep|folder|folder", ids["folder"], later.hex)
    await runtime.db.execute(
        f"INSERT INTO {quoted_schema(project.name)}.folders (id, name, folder_type, path, status) "
        "VALUES ($1, 'later', 'Asset', 'later', 'Not ready')",
        later,
    )

    result = await run_task(runtime, "clean_dead_links")

    assert result["deleted"] == 0
    assert link in await link_ids(runtime, project)


@pytest.mark.parametrize("dry_run", [False, True])
async def test_a_run_with_no_entity_deleted_does_not_read_the_links(
    client: httpx.AsyncClient, runtime: Runtime, dry_run: bool
) -> None:
    seeded = await seed(client, runtime)
    await run_task(runtime, "clean_dead_links")
    schema = quoted_schema(seeded.project.name)
    # Renamed away, the links table fails any statement that would read it.
    await runtime.db.execute(f"ALTER TABLE {schema}.links RENAME TO links_away")
    try:
        result = await run_task(runtime, "clean_dead_links", dry_run=dry_run)
    finally:
        await runtime.db.execute(f"ALTER TABLE {schema}.links_away RENAME TO links")

    assert result["deleted"] == 0
    assert await link_ids(runtime, seeded.project) == seeded.kept | seeded.of_missing_types
