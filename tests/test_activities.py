"""Activities on entities: comments with mentions, files, edits and deletes."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from ayon_server.activities.store import parse_mentions
from ayon_server.runtime import Runtime
from tests.helpers.projects import Project
from tests.helpers.users import login, make_user


async def create_folder(
    client: httpx.AsyncClient, project: str, headers: dict[str, str], name: str = "shots"
) -> str:
    response = await client.post(
        f"/api/projects/{project}/folders", json={"name": name}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def upload(client: httpx.AsyncClient, project: str, headers: dict[str, str]) -> str:
    response = await client.post(
        f"/api/projects/{project}/files",
        content=b"attachment",
        headers={**headers, "x-file-name": "ref.png", "Content-Type": "image/png"},
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def comment(
    client: httpx.AsyncClient, project: str, folder_id: str, headers: dict[str, str], **body: Any
) -> httpx.Response:
    return await client.post(
        f"/api/projects/{project}/folders/{folder_id}/activities",
        json={"activityType": "comment", **body},
        headers=headers,
    )


async def activities_of(
    client: httpx.AsyncClient, project: str, folder_id: str, headers: dict[str, str]
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/api/projects/{project}/folder/{folder_id}/activities", headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()["activities"]


def test_mentions_are_user_and_entity_links_but_not_images_or_other_links() -> None:
    folder_id = secrets.token_hex(16)
    body = (
        f"[Ann](user:ann) see [shot](folder:{folder_id}) ![pic](user:img) "
        "[web](https://example.com) [bad](task:nothex)"
    )
    mentions = {
        (kind, entity_id.hex if entity_id else name)
        for _, kind, entity_id, name in (parse_mentions(body))
    }
    assert mentions == {("user", "ann"), ("folder", folder_id)}


async def test_a_comment_records_origin_author_mentions_and_attached_files(
    client: httpx.AsyncClient, project: Project, runtime: Runtime
) -> None:
    user = await make_user(runtime)
    user_headers = await login(client, user)
    folder_id = await create_folder(client, project.name, project.headers)
    other_id = await create_folder(client, project.name, project.headers, "assets")
    file_id = await upload(client, project.name, user_headers)
    body = f"Look [@ann](user:ann) and [assets](folder:{other_id})"

    response = await comment(
        client, project.name, folder_id, user_headers, body=body, files=[file_id]
    )
    assert response.status_code == 201, response.text
    activity_id = response.json()["id"]

    (activity,) = await activities_of(client, project.name, folder_id, project.headers)
    assert activity["id"] == activity_id
    assert activity["activityType"] == "comment" and activity["body"] == body
    assert activity["author"] == user
    references = {
        (r["referenceType"], r["entityType"], r["entityId"] or r["entityName"])
        for r in activity["references"]
    }
    assert references == {
        ("origin", "folder", folder_id),
        ("author", "user", user),
        ("mention", "user", "ann"),
        ("mention", "folder", other_id),
    }
    assert [f["id"] for f in activity["files"]] == [file_id]
    info = await client.get(
        f"/api/projects/{project.name}/files/{file_id}/info", headers=project.headers
    )
    assert info.json()["activityId"] == activity_id
    topics = await runtime.db.fetch(
        "SELECT topic FROM public.events WHERE summary->>'activityId' = $1", activity_id
    )
    assert [row["topic"] for row in topics] == ["activity.comment.created"]


async def test_a_file_uploaded_with_an_activity_id_is_attached_to_it(
    client: httpx.AsyncClient, project: Project
) -> None:
    folder_id = await create_folder(client, project.name, project.headers)
    activity_id = (
        await comment(client, project.name, folder_id, project.headers, body="hi")
    ).json()["id"]
    response = await client.post(
        f"/api/projects/{project.name}/files",
        content=b"x",
        headers={**project.headers, "x-file-name": "a.txt", "x-activity-id": activity_id},
    )
    assert response.status_code == 201
    (activity,) = await activities_of(client, project.name, folder_id, project.headers)
    assert [f["id"] for f in activity["files"]] == [response.json()["id"]]


async def test_updating_replaces_body_mentions_and_files_or_appends_files(
    client: httpx.AsyncClient, project: Project
) -> None:
    folder_id = await create_folder(client, project.name, project.headers)
    first, second, third = [await upload(client, project.name, project.headers) for _ in range(3)]
    activity_id = (
        await comment(
            client, project.name, folder_id, project.headers, body="[a](user:ann)", files=[first]
        )
    ).json()["id"]
    url = f"/api/projects/{project.name}/activities/{activity_id}"

    patched = await client.patch(
        url,
        json={"body": "now [b](user:bob)", "files": [second], "tags": ["x"]},
        headers=project.headers,
    )
    assert patched.status_code == 204, patched.text
    (activity,) = await activities_of(client, project.name, folder_id, project.headers)
    assert activity["body"] == "now [b](user:bob)" and activity["tags"] == ["x"]
    mentions = {r["entityName"] for r in activity["references"] if r["referenceType"] == "mention"}
    assert mentions == {"bob"}
    assert [f["id"] for f in activity["files"]] == [second]

    appended = await client.patch(
        url, json={"files": [third], "appendFiles": True}, headers=project.headers
    )
    assert appended.status_code == 204
    (activity,) = await activities_of(client, project.name, folder_id, project.headers)
    assert {f["id"] for f in activity["files"]} == {second, third}
    detached = await client.get(
        f"/api/projects/{project.name}/files/{first}/info", headers=project.headers
    )
    assert detached.json()["activityId"] is None


async def test_deleting_an_activity_leaves_its_files_attached_to_nothing(
    client: httpx.AsyncClient, project: Project
) -> None:
    folder_id = await create_folder(client, project.name, project.headers)
    file_id = await upload(client, project.name, project.headers)
    activity_id = (
        await comment(client, project.name, folder_id, project.headers, body="bye", files=[file_id])
    ).json()["id"]
    url = f"/api/projects/{project.name}/activities/{activity_id}"
    assert (await client.delete(url, headers=project.headers)).status_code == 204
    assert await activities_of(client, project.name, folder_id, project.headers) == []
    info = await client.get(
        f"/api/projects/{project.name}/files/{file_id}/info", headers=project.headers
    )
    assert info.status_code == 200 and info.json()["activityId"] is None
    assert (await client.delete(url, headers=project.headers)).status_code == 404


async def test_only_the_author_or_a_manager_changes_or_deletes_an_activity(
    client: httpx.AsyncClient, project: Project, runtime: Runtime
) -> None:
    author = await login(client, await make_user(runtime))
    other = await login(client, await make_user(runtime))
    folder_id = await create_folder(client, project.name, project.headers)
    activity_id = (await comment(client, project.name, folder_id, author, body="mine")).json()["id"]
    url = f"/api/projects/{project.name}/activities/{activity_id}"
    assert (await client.patch(url, json={"body": "x"}, headers=other)).status_code == 403
    assert (await client.delete(url, headers=other)).status_code == 403
    assert (
        await client.patch(url, json={"body": "ok"}, headers=project.headers)
    ).status_code == 204
    assert (await client.delete(url, headers=author)).status_code == 204


async def test_bad_activity_requests_are_400_unknown_ids_404_and_anonymous_401(
    client: httpx.AsyncClient, project: Project, runtime: Runtime
) -> None:
    user = await login(client, await make_user(runtime))
    folder_id = await create_folder(client, project.name, project.headers)
    missing = secrets.token_hex(16)

    not_a_comment = await client.post(
        f"/api/projects/{project.name}/folders/{folder_id}/activities",
        json={"activityType": "status.change", "body": "x"},
        headers=user,
    )
    assert not_a_comment.status_code == 400
    too_long = await comment(client, project.name, folder_id, project.headers, body="x" * 2001)
    assert too_long.status_code == 400 and set(too_long.json()) >= {"code", "detail"}
    unknown_field = await comment(client, project.name, folder_id, project.headers, colour="red")
    assert unknown_field.status_code == 400
    unknown_type = await client.post(
        f"/api/projects/{project.name}/planets/{folder_id}/activities",
        json={"activityType": "comment"},
        headers=project.headers,
    )
    assert unknown_type.status_code == 400

    assert (
        await comment(client, project.name, missing, project.headers, body="x")
    ).status_code == 404
    unknown_file = await comment(client, project.name, folder_id, project.headers, files=[missing])
    assert unknown_file.status_code == 404
    assert await activities_of(client, project.name, folder_id, project.headers) == []
    activity_url = f"/api/projects/{project.name}/activities/{missing}"
    assert (await client.patch(activity_url, json={}, headers=project.headers)).status_code == 404
    assert (await client.delete(activity_url, headers=project.headers)).status_code == 404
    assert (await comment(client, "no_such_project", folder_id, project.headers)).status_code == 404

    assert (await comment(client, project.name, folder_id, {}, body="x")).status_code == 401
    anonymous = await client.get(f"/api/projects/{project.name}/folders/{folder_id}/activities")
    assert anonymous.status_code == 401
