"""Thumbnails over REST: raw uploads, entity thumbnails, downloads, refusals."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from ayon_server.projects.names import quoted_schema
from ayon_server.runtime import Runtime
from ayon_server.thumbnails.images import MAX_THUMBNAIL_BYTES, PLACEHOLDER_PNG
from tests.helpers.projects import Project, hierarchy
from tests.helpers.users import login, make_user

PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(2000)
JPEG = b"\xff\xd8\xff\xe0" + os.urandom(3000)
THUMBNAIL_TYPES = ("folder", "task", "version", "workfile")


async def stored_thumbnails(runtime: Runtime, project: Project) -> set[str]:
    rows = await runtime.db.fetch(f"SELECT id FROM {quoted_schema(project.name)}.thumbnails")
    return {row["id"].hex for row in rows}


async def upload(
    client: httpx.AsyncClient,
    project: Project,
    content: bytes,
    content_type: str | None = "image/png",
    path: str = "thumbnails",
) -> httpx.Response:
    headers = dict(project.headers)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return await client.post(
        f"/api/projects/{project.name}/{path}", content=content, headers=headers
    )


async def chunks(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_an_uploaded_png_is_served_back_with_its_type_length_and_id(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    created = await upload(client, project, PNG)

    assert created.status_code == 200, created.text
    thumbnail_id = created.json()["id"]
    assert uuid.UUID(hex=thumbnail_id).hex == thumbnail_id
    assert await stored_thumbnails(runtime, project) == {thumbnail_id}
    got = await client.get(
        f"/api/projects/{project.name}/thumbnails/{thumbnail_id}", headers=project.headers
    )
    assert got.status_code == 200
    assert got.content == PNG
    assert got.headers["content-type"] == "image/png"
    assert got.headers["content-length"] == str(len(PNG))
    assert got.headers["x-thumbnail-id"] == thumbnail_id


async def test_a_chunked_upload_is_read_as_a_stream(
    client: httpx.AsyncClient, project: Project
) -> None:
    data = b"\xff\xd8\xff\xe0" + os.urandom(300_000)
    created = await client.post(
        f"/api/projects/{project.name}/thumbnails",
        content=chunks(data),
        headers={**project.headers, "Content-Type": "image/jpeg"},
    )

    assert created.status_code == 200, created.text
    got = await client.get(
        f"/api/projects/{project.name}/thumbnails/{created.json()['id']}",
        headers=project.headers,
    )
    assert got.content == data and got.headers["content-type"] == "image/jpeg"


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
async def test_a_thumbnail_over_the_size_limit_is_refused_with_413_and_nothing_is_stored(
    client: httpx.AsyncClient, runtime: Runtime, project: Project, streamed: bool
) -> None:
    data = PNG + bytes(MAX_THUMBNAIL_BYTES)
    response = await client.post(
        f"/api/projects/{project.name}/thumbnails",
        content=chunks(data) if streamed else data,
        headers={**project.headers, "Content-Type": "image/png"},
    )

    assert response.status_code == 413
    assert response.json()["code"] == 413 and "larger than" in response.json()["detail"]
    assert await stored_thumbnails(runtime, project) == set()


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"<html>not an image</html>", "image/png", 400),
        (PNG, "image/jpeg", 400),
        (b"", "image/png", 400),
        (PNG, "text/plain", 415),
        (PNG, "application/json", 415),
        (PNG, None, 400),
    ],
    ids=["text-as-png", "png-as-jpeg", "empty", "text-type", "json-type", "no-type"],
)
async def test_bytes_that_are_not_the_declared_image_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient,
    runtime: Runtime,
    project: Project,
    content: bytes,
    content_type: str | None,
    status: int,
) -> None:
    folder_id = (await hierarchy(client, project))["folder"]

    for path in ("thumbnails", f"folders/{folder_id}/thumbnail"):
        response = await upload(client, project, content, content_type, path)
        assert response.status_code == status, response.text
        assert set(response.json()) >= {"code", "detail"}

    assert await stored_thumbnails(runtime, project) == set()


async def test_unknown_projects_and_entities_are_404_and_store_nothing(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    missing = uuid.uuid4().hex
    headers = {**project.headers, "Content-Type": "image/png"}

    no_project = await client.post("/api/projects/nope_x1/thumbnails", content=PNG, headers=headers)
    no_folder = await upload(client, project, PNG, path=f"folders/{missing}/thumbnail")
    read_no_folder = await client.get(
        f"/api/projects/{project.name}/folders/{missing}/thumbnail", headers=project.headers
    )
    read_no_project = await client.get(
        f"/api/projects/nope_x1/tasks/{missing}/thumbnail", headers=project.headers
    )

    assert no_project.status_code == 404 and "nope_x1" in no_project.json()["detail"]
    assert no_folder.status_code == 404 and missing in no_folder.json()["detail"]
    assert read_no_folder.status_code == 404
    assert read_no_project.status_code == 404
    assert await stored_thumbnails(runtime, project) == set()


async def test_a_malformed_entity_id_is_a_400(client: httpx.AsyncClient, project: Project) -> None:
    response = await upload(client, project, PNG, path="folders/not-an-id/thumbnail")

    assert response.status_code == 400


@pytest.mark.parametrize("entity_type", ["product", "representation"])
async def test_types_without_thumbnails_answer_400(
    client: httpx.AsyncClient, runtime: Runtime, project: Project, entity_type: str
) -> None:
    entity_id = (await hierarchy(client, project))[entity_type]
    path = f"{entity_type}s/{entity_id}/thumbnail"

    posted = await upload(client, project, PNG, path=path)
    read = await client.get(f"/api/projects/{project.name}/{path}", headers=project.headers)

    assert posted.status_code == 400 and "no thumbnails" in posted.json()["detail"]
    assert read.status_code == 400
    assert await stored_thumbnails(runtime, project) == set()


@pytest.mark.parametrize("entity_type", THUMBNAIL_TYPES)
async def test_replacing_an_entity_thumbnail_assigns_the_new_one_and_leaves_the_old_unreferenced(
    client: httpx.AsyncClient, runtime: Runtime, project: Project, entity_type: str
) -> None:
    entity_id = (await hierarchy(client, project))[entity_type]
    path = f"{entity_type}s/{entity_id}/thumbnail"
    url = f"/api/projects/{project.name}/{path}"

    first = (await upload(client, project, PNG, path=path)).json()["id"]
    shown = await client.get(url, headers=project.headers)
    second_response = await upload(client, project, JPEG, "image/jpeg", path=path)

    assert shown.status_code == 200 and shown.content == PNG
    assert shown.headers["x-thumbnail-id"] == first
    assert second_response.status_code == 200
    second = second_response.json()["id"]
    entity = await client.get(
        f"/api/projects/{project.name}/{entity_type}s/{entity_id}", headers=project.headers
    )
    assert entity.json()["thumbnailId"] == second
    now_shown = await client.get(url, headers=project.headers)
    assert now_shown.content == JPEG and now_shown.headers["x-thumbnail-id"] == second
    assert now_shown.headers["content-length"] == str(len(JPEG))
    # The old thumbnail stays until clean_thumbnails finds it unreferenced.
    assert await stored_thumbnails(runtime, project) == {first, second}
    changes = await runtime.db.fetch(
        "SELECT payload FROM public.events WHERE topic = $1 AND summary->>'entityId' = $2",
        f"entity.{entity_type}.updated",
        entity_id,
    )
    assert [row["payload"]["changes"] for row in changes] == [["thumbnailId"], ["thumbnailId"]]


async def test_an_entity_without_thumbnail_gets_the_placeholder_without_a_thumbnail_id(
    client: httpx.AsyncClient, project: Project
) -> None:
    folder_id = (await hierarchy(client, project))["folder"]
    url = f"/api/projects/{project.name}/folders/{folder_id}/thumbnail"

    empty = await client.get(url, headers=project.headers)
    none = await client.get(url, params={"placeholder": "none"}, headers=project.headers)

    assert empty.status_code == 200 and empty.content == PLACEHOLDER_PNG
    assert empty.headers["content-type"] == "image/png"
    assert "x-thumbnail-id" not in empty.headers
    assert none.status_code == 404


async def test_reading_by_id_is_for_managers_and_an_unknown_id_gets_the_203_placeholder(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    thumbnail_id = (await upload(client, project, PNG)).json()["id"]
    url = f"/api/projects/{project.name}/thumbnails"
    artist = await login(client, await make_user(runtime))

    unknown = await client.get(f"{url}/{uuid.uuid4().hex}", headers=project.headers)
    unknown_none = await client.get(
        f"{url}/{uuid.uuid4().hex}", params={"placeholder": "none"}, headers=project.headers
    )
    as_artist = await client.get(f"{url}/{thumbnail_id}", headers=artist)
    anonymous = await client.get(f"{url}/{thumbnail_id}")

    assert unknown.status_code == 203 and "x-thumbnail-id" not in unknown.headers
    assert unknown.content.startswith(b"\x89PNG")
    assert unknown_none.status_code == 404
    assert as_artist.status_code == 403 and as_artist.json()["code"] == 403
    assert anonymous.status_code == 401


async def test_artists_upload_thumbnails_but_only_managers_replace_one_by_id(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    artist = await login(client, await make_user(runtime))
    created = await client.post(
        f"/api/projects/{project.name}/thumbnails",
        content=PNG,
        headers={**artist, "Content-Type": "image/png"},
    )
    thumbnail_id = created.json()["id"]
    url = f"/api/projects/{project.name}/thumbnails/{thumbnail_id}"

    by_artist = await client.put(
        url, content=JPEG, headers={**artist, "Content-Type": "image/jpeg"}
    )
    by_manager = await client.put(
        url, content=JPEG, headers={**project.headers, "Content-Type": "image/jpeg"}
    )
    anonymous = await client.post(
        f"/api/projects/{project.name}/thumbnails",
        content=PNG,
        headers={"Content-Type": "image/png"},
    )

    assert created.status_code == 200
    assert by_artist.status_code == 403
    assert by_manager.status_code == 200 and by_manager.json() == {"id": thumbnail_id}
    got = await client.get(url, headers=project.headers)
    assert got.content == JPEG and got.headers["content-type"] == "image/jpeg"
    assert anonymous.status_code == 401
    assert await stored_thumbnails(runtime, project) == {thumbnail_id}


def test_the_placeholder_is_a_png() -> None:
    assert PLACEHOLDER_PNG.startswith(b"\x89PNG\r\n\x1a\n") and PLACEHOLDER_PNG.endswith(
        b"IEND\xaeB`\x82"
    )


async def test_an_entity_cannot_point_at_a_thumbnail_that_does_not_exist(
    client: httpx.AsyncClient, project: Project
) -> None:
    folder_id = (await hierarchy(client, project))["folder"]
    url = f"/api/projects/{project.name}/folders/{folder_id}"
    missing = uuid.uuid4().hex
    response = await client.patch(url, json={"thumbnailId": missing}, headers=project.headers)
    assert response.status_code == 404
    assert missing in response.json()["detail"]
    assert (await client.get(url, headers=project.headers)).json()["thumbnailId"] is None
