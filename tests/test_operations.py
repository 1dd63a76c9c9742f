"""Batched operations: all or nothing, or each on its own."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from ayon_server.runtime import Runtime
from tests.helpers.events import project_events
from tests.helpers.projects import Project, count, create, hierarchy
from tests.helpers.users import login, make_user


def op(kind: str, entity_type: str, entity_id: str | None = None, **data: Any) -> dict[str, Any]:
    """An operation as ayon_api's OperationsSession sends it (create: entityId == data.id)."""
    operation: dict[str, Any] = {"id": str(uuid.uuid4()), "type": kind, "entityType": entity_type}
    if kind == "create":
        entity_id = entity_id or uuid.uuid4().hex
        data = {"id": entity_id, **data}
    if entity_id:
        operation["entityId"] = entity_id
    if data:
        operation["data"] = data
    return operation


async def send(
    client: httpx.AsyncClient,
    project: Project,
    operations: list[dict[str, Any]],
    headers: dict[str, str] | None = None,
    **options: Any,
) -> httpx.Response:
    return await client.post(
        f"/api/projects/{project.name}/operations",
        json={"operations": operations, **options},
        headers=headers or project.headers,
    )


def tree_operations() -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Creates of a whole branch, each referring to the one before: (operations, ids)."""
    ids = {t: uuid.uuid4().hex for t in ("folder", "task", "product", "version", "repre", "wf")}
    operations = [
        op("create", "folder", ids["folder"], name="sh010", folderType="Shot"),
        op(
            "create",
            "task",
            ids["task"],
            name="comp",
            taskType="Compositing",
            folderId=ids["folder"],
        ),
        op(
            "create",
            "product",
            ids["product"],
            name="renderMain",
            productType="render",
            folderId=ids["folder"],
        ),
        op(
            "create",
            "version",
            ids["version"],
            version=1,
            productId=ids["product"],
            taskId=ids["task"],
        ),
        op("create", "representation", ids["repre"], name="exr", versionId=ids["version"]),
        op("create", "workfile", ids["wf"], path="/w/sh010_comp_v001.nk", taskId=ids["task"]),
    ]
    return operations, ids


async def test_a_batch_creates_a_whole_branch_and_reports_each_operation(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    operations, ids = tree_operations()

    response = await send(client, project, operations)

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert [r["id"] for r in body["operations"]] == [o["id"] for o in operations]
    for result, operation in zip(body["operations"], operations, strict=True):
        assert result["success"] is True and result["status"] == 201
        assert result["type"] == "create" and result["entityType"] == operation["entityType"]
        assert result["entityId"] == operation["entityId"]
    path = f"/api/projects/{project.name}/representations/{ids['repre']}"
    assert (await client.get(path, headers=project.headers)).json()["path"] == (
        "/sh010/renderMain/v001/exr"
    )
    assert len(await project_events(runtime, "entity.version.created", project.name)) == 1


async def test_without_can_fail_one_failure_rolls_back_the_whole_batch(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    operations, _ = tree_operations()
    operations[3]["data"]["version"] = "not a number"

    response = await send(client, project, operations, canFail=False)

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is False
    assert [r["success"] for r in body["operations"]] == [True, True, True, False]
    failed = body["operations"][-1]
    assert failed["id"] == operations[3]["id"] and failed["status"] == 400
    assert "version" in failed["detail"]
    for table in ("folders", "tasks", "products", "versions"):
        assert await count(runtime, project, table) == 0, table
    assert await project_events(runtime, "entity.folder.created", project.name) == []


async def test_a_failure_the_database_reports_also_rolls_back_everything(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    operations = [
        op("create", "folder", name="twin"),
        op("create", "folder", name="twin"),
    ]

    body = (await send(client, project, operations)).json()

    assert body["success"] is False
    assert body["operations"][1]["status"] == 409
    assert await count(runtime, project, "folders") == 0


async def test_with_can_fail_the_other_operations_are_committed(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    operations = [
        op("create", "folder", name="kept"),
        op("create", "task", name="orphan", taskType="Generic", folderId=uuid.uuid4().hex),
        op("create", "folder", name="kept"),
        op("create", "folder", name="also_kept"),
    ]

    body = (await send(client, project, operations, canFail=True)).json()

    assert body["success"] is False
    assert [(r["success"], r["status"]) for r in body["operations"]] == [
        (True, 201),
        (False, 404),
        (False, 409),
        (True, 201),
    ]
    assert await count(runtime, project, "folders") == 2
    assert len(await project_events(runtime, "entity.folder.created", project.name)) == 2


async def test_raise_on_error_answers_with_the_failing_operations_error(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    operations = [
        op("create", "folder", name="gone"),
        op("update", "folder", uuid.uuid4().hex, label="x"),
    ]

    response = await send(client, project, operations, raiseOnError=True)

    assert response.status_code == 404
    assert response.json()["code"] == 404
    assert await count(runtime, project, "folders") == 0


async def test_updates_and_deletes_run_in_order_in_one_batch(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    ids = await hierarchy(client, project)
    operations = [
        op("update", "task", ids["task"], assignees=["someone"], status="In progress"),
        op("update", "version", ids["version"], attrib={"comment": "ok"}),
        op("delete", "representation", ids["representation"]),
        op("delete", "folder", ids["folder"]),
    ]
    operations[-1]["force"] = True

    body = (await send(client, project, operations)).json()

    assert body["success"] is True
    assert [r["status"] for r in body["operations"]] == [204, 204, 204, 204]
    assert await count(runtime, project, "folders") == 0
    (deleted,) = await project_events(runtime, "entity.folder.deleted", project.name)
    assert deleted["summary"]["entityId"] == ids["folder"]


async def test_a_batch_wrong_as_a_whole_is_400_and_an_unknown_project_404(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    folder_id = await create(client, project, "folder", name="x")
    bad_batches = [
        [{"type": "update", "entityType": "folder", "data": {"label": "x"}}],
        [op("update", "folder", folder_id, label="a"), op("delete", "folder", folder_id)],
        [{"type": "create", "entityType": "user", "data": {"name": "x"}}],
        [{"type": "rename", "entityType": "folder", "entityId": folder_id}],
        [{"type": "delete", "entityType": "folder", "entityId": "xyz"}],
    ]
    for operations in bad_batches:
        response = await send(client, project, operations)
        assert response.status_code == 400, (operations, response.text)
        assert response.json()["code"] == 400
    assert (await read_label(client, project, folder_id)) is None

    missing = await client.post(
        "/api/projects/no_such_project/operations",
        json={"operations": [op("create", "folder", name="x")]},
        headers=project.headers,
    )
    assert missing.status_code == 404


async def read_label(client: httpx.AsyncClient, project: Project, folder_id: str) -> str | None:
    url = f"/api/projects/{project.name}/folders/{folder_id}"
    return (await client.get(url, headers=project.headers)).json()["label"]


async def test_only_service_users_run_operations_as_someone_else(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    artist = await make_user(runtime)
    service = await login(client, await make_user(runtime, isService=True))
    operation = {**op("create", "folder", name="by_service"), "asUser": artist}

    other = {**op("create", "folder", name="not_mine"), "asUser": project.user}
    refused = await send(client, project, [other], headers=await login(client, artist))
    allowed = await send(client, project, [operation], headers=service)

    assert refused.status_code == 403
    assert allowed.status_code == 200 and allowed.json()["success"] is True
    folder_id = operation["entityId"]
    url = f"/api/projects/{project.name}/folders/{folder_id}"
    assert (await client.get(url, headers=project.headers)).json()["createdBy"] == artist


async def test_operations_need_a_logged_in_user(
    client: httpx.AsyncClient, project: Project
) -> None:
    response = await client.post(
        f"/api/projects/{project.name}/operations",
        json={"operations": [op("create", "folder", name="x")]},
    )
    assert response.status_code == 401


async def background_result(
    client: httpx.AsyncClient, project: Project, task_id: str
) -> dict[str, Any]:
    """Poll the task as ayon_api does until it is completed."""
    url = f"/api/projects/{project.name}/operations/background/{task_id}"
    async with asyncio.timeout(10):
        while True:
            response = await client.get(url, headers=project.headers)
            assert response.status_code == 200, response.text
            if response.json()["status"] == "completed":
                return response.json()
            await asyncio.sleep(0.05)


async def test_a_background_batch_completes_with_the_result_of_a_direct_one(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    operations, _ = tree_operations()
    url = f"/api/projects/{project.name}/operations/background"

    started = await client.post(
        url, json={"operations": operations, "canFail": False}, headers=project.headers
    )

    assert started.status_code == 200 and started.json()["status"] == "pending"
    task = await background_result(client, project, started.json()["id"])
    assert task["id"] == started.json()["id"]
    assert task["result"]["success"] is True
    assert [r["entityId"] for r in task["result"]["operations"]] == [
        o["entityId"] for o in operations
    ]
    assert await count(runtime, project, "workfiles") == 1


async def test_a_failing_background_batch_reports_the_failure_and_rolls_back(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    operations = [op("create", "folder", name="twin"), op("create", "folder", name="twin")]
    url = f"/api/projects/{project.name}/operations/background"

    started = await client.post(url, json={"operations": operations}, headers=project.headers)
    task = await background_result(client, project, started.json()["id"])

    assert task["result"]["success"] is False
    assert task["result"]["operations"][-1]["status"] == 409
    assert await count(runtime, project, "folders") == 0


async def test_background_batches_are_checked_before_they_are_accepted(
    client: httpx.AsyncClient, project: Project
) -> None:
    base = f"/api/projects/{project.name}/operations/background"
    no_id = [{"type": "delete", "entityType": "folder"}]

    bad = await client.post(base, json={"operations": no_id}, headers=project.headers)
    missing_project = await client.post(
        "/api/projects/not_there/operations/background",
        json={"operations": [op("create", "folder", name="x")]},
        headers=project.headers,
    )
    unknown_task = await client.get(f"{base}/{uuid.uuid4().hex}", headers=project.headers)

    assert bad.status_code == 400
    assert missing_project.status_code == 404
    assert unknown_task.status_code == 404
