"""Per-entity REST for the six entity types, its tree rules and its events."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from ayon_server.entities import store
from ayon_server.entities.models import POST_MODELS
from ayon_server.entities.registry import ENTITY_TYPES
from ayon_server.projects.changes import Actor
from ayon_server.projects.store import load_project_ref
from ayon_server.runtime import Runtime
from tests.helpers.events import project_events, published_topics, subscribe_events
from tests.helpers.projects import Project, count, create, hierarchy
from tests.helpers.users import login, make_user

THUMBNAIL_TYPES = {"folder", "task", "version", "workfile"}


async def read(
    client: httpx.AsyncClient, project: Project, entity_type: str, entity_id: str
) -> httpx.Response:
    return await client.get(
        f"/api/projects/{project.name}/{entity_type}s/{entity_id}", headers=project.headers
    )


async def entity_events(runtime: Runtime, project: Project, entity_id: str) -> list[dict[str, Any]]:
    rows = await runtime.db.fetch(
        "SELECT topic, user_name, summary, payload FROM public.events "
        "WHERE project_name = $1 AND summary->>'entityId' = $2 ORDER BY created_at",
        project.name,
        entity_id,
    )
    return [dict(row) for row in rows]


# For each type: (body of a new entity under `ids`, its parent reference key, its expected path).
NEW_ENTITY: dict[str, Callable[[dict[str, str]], tuple[dict[str, Any], str, str]]] = {
    "folder": lambda ids: (
        {"name": "chair", "folderType": "Asset", "parentId": ids["folder"]},
        "parentId",
        "/assets/chair",
    ),
    "task": lambda ids: (
        {"name": "rigging", "taskType": "Rigging", "folderId": ids["folder"], "assignees": ["a"]},
        "folderId",
        "/assets/rigging",
    ),
    "product": lambda ids: (
        {"name": "rigMain", "productType": "rig", "folderId": ids["folder"]},
        "folderId",
        "/assets/rigMain",
    ),
    "version": lambda ids: (
        {"version": 2, "productId": ids["product"], "taskId": ids["task"]},
        "productId",
        "/assets/modelMain/v002",
    ),
    "representation": lambda ids: (
        {
            "name": "ma",
            "versionId": ids["version"],
            "files": [{"id": uuid.uuid4().hex, "name": "a.ma", "path": "/p/a.ma", "size": 1}],
            "traits": {"Image": {"width": 10}},
        },
        "versionId",
        "/assets/modelMain/v001/ma",
    ),
    "workfile": lambda ids: (
        {"path": "/work/assets/rigging_v001.ma", "taskId": ids["task"]},
        "taskId",
        "/work/assets/rigging_v001.ma",
    ),
}


@pytest.mark.parametrize("entity_type", list(NEW_ENTITY))
async def test_every_entity_type_is_created_read_patched_and_deleted_the_same_way(
    client: httpx.AsyncClient, runtime: Runtime, project: Project, entity_type: str
) -> None:
    ids = await hierarchy(client, project)
    body, parent_key, path = NEW_ENTITY[entity_type](ids)
    entity_id = uuid.uuid4().hex
    url = f"/api/projects/{project.name}/{entity_type}s"

    created = await client.post(
        url,
        json={
            "id": entity_id,
            "attrib": {"a": 1, "b": 2},
            "data": {"key": "value"},
            "tags": ["first"],
            **body,
        },
        headers=project.headers,
    )

    assert created.status_code == 201 and created.json() == {"id": entity_id}
    entity = (await read(client, project, entity_type, entity_id)).json()
    assert entity["id"] == entity_id
    assert entity[parent_key] == body[parent_key]
    assert entity["path"] == path
    assert entity["attrib"] == {"a": 1, "b": 2} and entity["ownAttrib"] == ["a", "b"]
    assert entity["data"] == {"key": "value"} and entity["tags"] == ["first"]
    assert entity["active"] is True and entity["status"]
    assert entity["createdBy"] == entity["updatedBy"] == project.user
    assert {"name", "label", "createdAt", "updatedAt"} <= set(entity)
    assert ("thumbnailId" in entity) == (entity_type in THUMBNAIL_TYPES)
    for key, value in body.items():
        assert entity[key] == value, key

    patched = await client.patch(
        f"{url}/{entity_id}",
        json={
            "attrib": {"a": None, "c": 3},
            "tags": ["second"],
            "status": "Approved",
            "active": False,
            "label": "Labelled",
        },
        headers=project.headers,
    )

    assert patched.status_code == 204
    entity = (await read(client, project, entity_type, entity_id)).json()
    assert entity["attrib"] == {"b": 2, "c": 3} and entity["tags"] == ["second"]
    assert entity["status"] == "Approved" and entity["active"] is False
    assert entity["label"] == "Labelled"

    deleted = await client.delete(f"{url}/{entity_id}", headers=project.headers)

    assert deleted.status_code == 204
    assert (await read(client, project, entity_type, entity_id)).status_code == 404
    events = await entity_events(runtime, project, entity_id)
    assert [event["topic"] for event in events] == [
        f"entity.{entity_type}.{action}" for action in ("created", "updated", "deleted")
    ]
    for event in events:
        assert event["summary"] == {"entityId": entity_id, "parentId": body[parent_key]}
        assert event["user_name"] == project.user
    assert set(events[1]["payload"]["changes"]) == {"attrib", "tags", "status", "active", "label"}


async def test_the_id_is_generated_when_the_client_sends_none(
    client: httpx.AsyncClient, project: Project
) -> None:
    folder_id = await create(client, project, "folder", name="shots")

    folder = (await read(client, project, "folder", folder_id)).json()
    assert len(folder_id) == 32 and int(folder_id, 16) >= 0
    # Without a folderType or status the project's first ones apply, as in AYON.
    assert folder["folderType"] == "Folder" and folder["status"] == "Not ready"
    assert folder["parentId"] is None and folder["path"] == "/shots"


async def test_a_patch_that_changes_nothing_writes_no_event(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    folder_id = await create(client, project, "folder", name="same", label="L")

    response = await client.patch(
        f"/api/projects/{project.name}/folders/{folder_id}",
        json={"name": "same", "label": "L"},
        headers=project.headers,
    )

    assert response.status_code == 204
    assert await project_events(runtime, "entity.folder.updated", project.name) == []


async def test_folder_paths_follow_renames_and_moves_of_their_ancestors(
    client: httpx.AsyncClient, project: Project
) -> None:
    top = await create(client, project, "folder", name="top")
    middle = await create(client, project, "folder", name="middle", parentId=top)
    leaf = await create(client, project, "folder", name="leaf", parentId=middle)
    task = await create(client, project, "task", name="anim", taskType="Animation", folderId=leaf)
    folders = f"/api/projects/{project.name}/folders"

    renamed = await client.patch(
        f"{folders}/{middle}", json={"name": "center"}, headers=project.headers
    )
    assert renamed.status_code == 204
    assert (await read(client, project, "folder", leaf)).json()["path"] == "/top/center/leaf"
    assert (await read(client, project, "task", task)).json()["path"] == "/top/center/leaf/anim"

    moved = await client.patch(
        f"{folders}/{middle}", json={"parentId": None}, headers=project.headers
    )
    assert moved.status_code == 204
    assert (await read(client, project, "folder", leaf)).json()["path"] == "/center/leaf"
    assert (await read(client, project, "folder", top)).json()["path"] == "/top"


@pytest.mark.parametrize("target", ["itself", "child", "grandchild"])
async def test_a_folder_cannot_move_under_itself_or_its_descendants(
    client: httpx.AsyncClient, project: Project, target: str
) -> None:
    top = await create(client, project, "folder", name="top")
    child = await create(client, project, "folder", name="child", parentId=top)
    grandchild = await create(client, project, "folder", name="grandchild", parentId=child)
    parent = {"itself": top, "child": child, "grandchild": grandchild}[target]

    response = await client.patch(
        f"/api/projects/{project.name}/folders/{top}",
        json={"parentId": parent},
        headers=project.headers,
    )

    assert response.status_code == 400
    assert "under itself" in response.json()["detail"]
    assert (await read(client, project, "folder", grandchild)).json()["path"] == (
        "/top/child/grandchild"
    )


async def test_deleting_a_folder_removes_its_subtree_and_publishes_one_deleted_event(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    top = await create(client, project, "folder", name="top")
    child = await create(client, project, "folder", name="child", parentId=top)
    task = await create(client, project, "task", name="lay", taskType="Layout", folderId=child)
    await create(client, project, "workfile", path="/w/lay_v001.ma", taskId=task)
    pubsub = await subscribe_events(runtime)

    response = await client.delete(
        f"/api/projects/{project.name}/folders/{top}", headers=project.headers
    )

    assert response.status_code == 204
    for table in ("folders", "tasks", "workfiles"):
        assert await count(runtime, project, table) == 0, table
    (event,) = await project_events(runtime, "entity.folder.deleted", project.name)
    assert event["summary"] == {"entityId": top, "parentId": None}
    published = await published_topics(pubsub, "entity.folder.deleted")
    assert published[-1]["summary"]["entityId"] == top
    assert await project_events(runtime, "entity.task.deleted", project.name) == []


async def test_a_folder_holding_products_is_deleted_only_with_force_by_a_manager(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    ids = await hierarchy(client, project)
    url = f"/api/projects/{project.name}/folders/{ids['folder']}"
    artist = await login(client, await make_user(runtime))

    refused = await client.delete(url, headers=project.headers)
    not_a_manager = await client.delete(f"{url}?force=true", headers=artist)

    assert refused.status_code == 409 and "force=true" in refused.json()["detail"]
    assert not_a_manager.status_code == 403
    assert await count(runtime, project, "representations") == 1
    forced = await client.delete(f"{url}?force=true", headers=project.headers)
    assert forced.status_code == 204
    for table in ("folders", "tasks", "products", "versions", "representations", "workfiles"):
        assert await count(runtime, project, table) == 0, table


async def test_a_folder_with_published_versions_keeps_its_name_type_and_place(
    client: httpx.AsyncClient, project: Project
) -> None:
    ids = await hierarchy(client, project)
    other = await create(client, project, "folder", name="other")
    url = f"/api/projects/{project.name}/folders/{ids['folder']}"

    for change in ({"name": "renamed"}, {"folderType": "Shot"}, {"parentId": other}):
        response = await client.patch(url, json=change, headers=project.headers)
        assert response.status_code == 409, change
    assert (
        await client.patch(url, json={"label": "Assets"}, headers=project.headers)
    ).status_code == 204


async def test_deleting_a_task_keeps_its_versions_and_deleting_a_product_removes_them(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    ids = await hierarchy(client, project)
    base = f"/api/projects/{project.name}"

    assert (
        await client.delete(f"{base}/tasks/{ids['task']}", headers=project.headers)
    ).status_code == 204
    version = (await read(client, project, "version", ids["version"])).json()
    assert version["taskId"] is None
    assert await count(runtime, project, "workfiles") == 0

    assert (
        await client.delete(f"{base}/products/{ids['product']}", headers=project.headers)
    ).status_code == 204
    assert await count(runtime, project, "versions") == 0
    assert await count(runtime, project, "representations") == 0


BAD_CREATES = [
    ("folder", {"name": "a/b"}),
    ("folder", {"name": ""}),
    ("folder", {"label": "no name"}),
    ("folder", {"name": "x", "folderType": "Planet"}),
    ("folder", {"name": "x", "status": "Unheard of"}),
    ("folder", {"name": "x", "id": "not-an-id"}),
    ("folder", {"name": "x", "parentId": "123"}),
    ("folder", {"name": "x", "attrib": ["not", "a", "dict"]}),
    ("task", {"name": "x", "taskType": "Dancing", "folderId": "@folder"}),
    ("task", {"name": "x", "taskType": "Modeling"}),
    ("version", {"version": "one", "productId": "@product"}),
    ("version", {"version": 2**40, "productId": "@product"}),
    ("representation", {"name": "x", "versionId": "@version", "files": "nope"}),
    ("representation", {"name": "x\u0000y", "versionId": "@version"}),
    ("workfile", {"path": "", "taskId": "@task"}),
]


@pytest.mark.parametrize(("entity_type", "body"), BAD_CREATES)
async def test_bad_entity_input_is_400_and_writes_nothing(
    client: httpx.AsyncClient,
    runtime: Runtime,
    project: Project,
    entity_type: str,
    body: dict[str, Any],
) -> None:
    ids = await hierarchy(client, project)
    body = {
        k: ids[v[1:]] if isinstance(v, str) and v.startswith("@") else v for k, v in body.items()
    }
    before = await count(runtime, project, f"{entity_type}s")

    response = await client.post(
        f"/api/projects/{project.name}/{entity_type}s", json=body, headers=project.headers
    )

    assert response.status_code == 400, response.text
    assert response.json()["code"] == 400 and response.json()["detail"]
    assert await count(runtime, project, f"{entity_type}s") == before


async def test_bad_ids_and_nulls_in_patches_are_400(
    client: httpx.AsyncClient, project: Project
) -> None:
    folder_id = await create(client, project, "folder", name="x")
    base = f"/api/projects/{project.name}/folders"

    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(
            method,
            f"{base}/not-hex",
            json={} if method == "PATCH" else None,
            headers=project.headers,
        )
        assert response.status_code == 400, method
    for body in ({"name": None}, {"active": None}, {"status": None}, {"tags": "x"}):
        response = await client.patch(f"{base}/{folder_id}", json=body, headers=project.headers)
        assert response.status_code == 400, body
    cleared = await client.patch(
        f"{base}/{folder_id}", json={"label": None, "thumbnailId": None}, headers=project.headers
    )
    assert cleared.status_code == 204


async def test_unknown_projects_entities_and_parents_are_404(
    client: httpx.AsyncClient, project: Project
) -> None:
    missing = uuid.uuid4().hex
    base = f"/api/projects/{project.name}"

    no_project = await client.post(
        "/api/projects/nowhere_at_all/folders", json={"name": "x"}, headers=project.headers
    )
    assert no_project.status_code == 404
    assert no_project.json() == {"code": 404, "detail": "Project nowhere_at_all not found"}
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(
            method,
            f"{base}/tasks/{missing}",
            json={} if method == "PATCH" else None,
            headers=project.headers,
        )
        assert response.status_code == 404, method
    orphan = await client.post(
        f"{base}/tasks",
        json={"name": "x", "taskType": "Modeling", "folderId": missing},
        headers=project.headers,
    )
    assert orphan.status_code == 404 and missing in orphan.json()["detail"]


async def test_duplicate_ids_names_and_version_numbers_are_409(
    client: httpx.AsyncClient, project: Project
) -> None:
    ids = await hierarchy(client, project)
    base = f"/api/projects/{project.name}"

    for url, body in [
        (f"{base}/folders", {"id": ids["folder"], "name": "elsewhere"}),
        (f"{base}/folders", {"name": "assets"}),
        (f"{base}/tasks", {"name": "modeling", "taskType": "Generic", "folderId": ids["folder"]}),
        (f"{base}/versions", {"version": 1, "productId": ids["product"]}),
    ]:
        response = await client.post(url, json=body, headers=project.headers)
        assert response.status_code == 409, (url, body, response.text)


async def test_anonymous_callers_get_401_and_guests_cannot_write(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    folder_id = await create(client, project, "folder", name="x")
    url = f"/api/projects/{project.name}/folders"
    guest = await login(client, await make_user(runtime, isGuest=True))

    assert (await client.get(f"{url}/{folder_id}")).status_code == 401
    assert (await client.post(url, json={"name": "y"})).status_code == 401
    assert (await client.get(f"{url}/{folder_id}", headers=guest)).status_code == 200
    assert (await client.post(url, json={"name": "y"}, headers=guest)).status_code == 403
    assert (await client.delete(f"{url}/{folder_id}", headers=guest)).status_code == 403


async def test_a_versions_author_is_the_caller_unless_an_admin_says_otherwise(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    ids = await hierarchy(client, project)
    artist_name = await make_user(runtime)
    artist = await login(client, artist_name)
    admin = await login(client, await make_user(runtime, isAdmin=True))
    url = f"/api/projects/{project.name}/versions"

    own = await client.post(url, json={"version": 5, "productId": ids["product"]}, headers=artist)
    for_someone = await client.post(
        url, json={"version": 6, "productId": ids["product"], "author": "someone"}, headers=artist
    )
    by_admin = await client.post(
        url, json={"version": 7, "productId": ids["product"], "author": "someone"}, headers=admin
    )

    assert own.status_code == 201
    assert (await read(client, project, "version", own.json()["id"])).json()[
        "author"
    ] == artist_name
    assert for_someone.status_code == 403
    assert by_admin.status_code == 201
    assert (await read(client, project, "version", by_admin.json()["id"])).json()["author"] == (
        "someone"
    )


async def test_names_are_unique_per_parent_not_per_project(
    client: httpx.AsyncClient, project: Project
) -> None:
    first = await create(client, project, "folder", name=f"f{secrets.token_hex(2)}")
    second = await create(client, project, "folder", name="second")

    for parent in (first, second):
        await create(client, project, "folder", name="same", parentId=parent)
        await create(client, project, "task", name="same", taskType="Generic", folderId=parent)


async def wait_until_a_query_waits_for_a_lock(runtime: Runtime) -> None:
    async with asyncio.timeout(10):
        while True:
            if await runtime.db.fetchval(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock')"
            ):
                return
            await asyncio.sleep(0.02)


async def test_a_folder_created_while_its_ancestor_moves_gets_the_moved_path(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    top = await create(client, project, "folder", name="top")
    middle = await create(client, project, "folder", name="middle", parentId=top)
    other = await create(client, project, "folder", name="other")
    actor = Actor(user=project.user, is_manager=True)

    async with runtime.db.transaction() as creating:
        ref = await load_project_ref(creating, project.name, lock=True)
        body = POST_MODELS["folder"](name="new", parentId=middle)
        change = await store.create_entity(creating, ref, ENTITY_TYPES["folder"], body, actor)
        move = asyncio.create_task(
            client.patch(
                f"/api/projects/{project.name}/folders/{top}",
                json={"parentId": other},
                headers=project.headers,
            )
        )
        await wait_until_a_query_waits_for_a_lock(runtime)

    assert (await move).status_code == 204
    new = (await read(client, project, "folder", change.entity_id.hex)).json()
    assert new["path"] == "/other/top/middle/new"
