"""Project files: raw streamed uploads, ranged downloads, deletes."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from ayon_api.server_api import ServerAPI

from ayon_server.config import Settings
from ayon_server.runtime import Runtime
from tests.helpers.projects import Project, create_project
from tests.helpers.server import server_app, server_process, serving
from tests.helpers.users import login, make_user


def stored_files(settings: Settings) -> set[Path]:
    """Every file under the storage directory, temporary uploads included."""
    root = Path(settings.storage_dir)
    return {path for path in root.rglob("*") if path.is_file()} if root.exists() else set()


async def upload(
    client: httpx.AsyncClient,
    project: str,
    headers: dict[str, str],
    content: bytes = b"hello world",
    name: str = "notes.txt",
    **extra: str,
) -> httpx.Response:
    return await client.post(
        f"/api/projects/{project}/files",
        content=content,
        headers={**headers, "x-file-name": name, "Content-Type": "text/plain", **extra},
    )


async def test_an_uploaded_file_downloads_whole_with_its_length_name_and_type(
    client: httpx.AsyncClient, project: Project, settings: Settings
) -> None:
    content = secrets.token_bytes(200_000)
    response = await upload(
        client, project.name, project.headers, content, name='plate 01 "final".exr'
    )
    assert response.status_code == 201, response.text
    file_id = response.json()["id"]
    path = Path(settings.storage_dir) / "projects" / project.name / "files" / file_id[:2] / file_id
    assert path.read_bytes() == content

    download = await client.get(
        f"/api/projects/{project.name}/files/{file_id}", headers=project.headers
    )
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["content-length"] == str(len(content))
    assert download.headers["content-type"].startswith("text/plain")
    assert download.headers["content-disposition"] == (
        "attachment; filename*=utf-8''plate%2001%20%22final%22.exr"
    )

    info = await client.get(
        f"/api/projects/{project.name}/files/{file_id}/info", headers=project.headers
    )
    assert info.status_code == 200
    assert info.json() | {"createdAt": None, "updatedAt": None, "author": None} == {
        "id": file_id,
        "name": 'plate 01 "final".exr',
        "size": len(content),
        "mime": "text/plain",
        "author": None,
        "activityId": None,
        "createdAt": None,
        "updatedAt": None,
    }


async def test_a_streamed_chunked_upload_with_a_given_id_is_stored_under_that_id(
    client: httpx.AsyncClient, project: Project
) -> None:
    file_id = secrets.token_hex(16)

    async def chunks() -> AsyncIterator[bytes]:
        for index in range(5):
            yield bytes([index]) * 10_000

    response = await client.post(
        f"/api/projects/{project.name}/files",
        content=chunks(),
        headers={**project.headers, "x-file-name": "chunks.bin", "x-file-id": file_id},
    )
    assert response.status_code == 201, response.text
    assert response.json() == {"id": file_id}
    download = await client.get(
        f"/api/projects/{project.name}/files/{file_id}", headers=project.headers
    )
    assert download.content == b"".join(bytes([i]) * 10_000 for i in range(5))

    again = await upload(
        client, project.name, project.headers, name="again.bin", **{"x-file-id": file_id}
    )
    assert again.status_code == 409


async def test_range_requests_get_206_with_content_range_and_416_past_the_end(
    client: httpx.AsyncClient, project: Project
) -> None:
    content = bytes(range(256)) * 4
    file_id = (await upload(client, project.name, project.headers, content)).json()["id"]
    url = f"/api/projects/{project.name}/files/{file_id}"

    partial = await client.get(url, headers={**project.headers, "Range": "bytes=100-199"})
    assert partial.status_code == 206
    assert partial.content == content[100:200]
    assert partial.headers["content-range"] == f"bytes 100-199/{len(content)}"
    assert partial.headers["content-length"] == "100"

    # What the client sends to resume a download.
    resumed = await client.get(url, headers={**project.headers, "Range": "bytes=1000-"})
    assert resumed.status_code == 206 and resumed.content == content[1000:]

    beyond = await client.get(url, headers={**project.headers, "Range": f"bytes={len(content)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(content)}"


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "a/b", "a\\b", "nul\x00byte", "", "   ", "x" * 300, "..", "tab\tname"],
    ids=["traversal", "slash", "backslash", "nul", "empty", "blank", "300-chars", "dots", "ctrl"],
)
async def test_a_file_name_that_is_a_path_or_malformed_is_400_and_nothing_is_written(
    client: httpx.AsyncClient,
    project: Project,
    settings: Settings,
    runtime: Runtime,
    name: str,
) -> None:
    before = stored_files(settings)
    # httpx refuses NUL and other control characters in header values: send them raw.
    response = await client.post(
        f"/api/projects/{project.name}/files",
        content=b"payload",
        headers=httpx.Headers([*project.headers.items(), (b"x-file-name", name.encode())]),
    )
    assert response.status_code == 400, response.text
    assert set(response.json()) >= {"code", "detail"}
    assert stored_files(settings) == before
    assert (
        await runtime.db.fetchval(f"SELECT count(*) FROM project_{project.name.lower()}.files") == 0
    )


async def test_a_missing_file_name_header_or_a_bad_id_header_is_400(
    client: httpx.AsyncClient, project: Project
) -> None:
    no_name = await client.post(
        f"/api/projects/{project.name}/files", content=b"x", headers=project.headers
    )
    assert no_name.status_code == 400
    bad_id = await upload(client, project.name, project.headers, **{"x-file-id": "../../x"})
    assert bad_id.status_code == 400 and "x-file-id" in bad_id.json()["detail"]
    unknown_activity = await upload(
        client, project.name, project.headers, **{"x-activity-id": secrets.token_hex(16)}
    )
    assert unknown_activity.status_code == 404


async def test_an_oversize_upload_is_413_and_leaves_no_temporary_file(
    settings: Settings, runtime: Runtime
) -> None:
    small = settings.model_copy(update={"max_upload_bytes": 1000})
    async with serving(server_app(small)) as client:
        headers = await login(client, await make_user(runtime, isManager=True))
        project = await create_project(client, headers)
        before = stored_files(settings)

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"z" * 500

        streamed = await client.post(
            f"/api/projects/{project}/files",
            content=chunks(),
            headers={**headers, "x-file-name": "big.bin"},
        )
        assert streamed.status_code == 413, streamed.text
        assert streamed.json()["code"] == 413
        declared = await upload(client, project, headers, b"z" * 1001)
        assert declared.status_code == 413
        assert stored_files(settings) == before
        assert (
            await runtime.db.fetchval(f"SELECT count(*) FROM project_{project.lower()}.files") == 0
        )
        at_limit = await upload(client, project, headers, b"z" * 1000)
        assert at_limit.status_code == 201


async def test_deleting_a_file_removes_its_record_and_bytes(
    client: httpx.AsyncClient, project: Project, settings: Settings
) -> None:
    file_id = (await upload(client, project.name, project.headers)).json()["id"]
    path = Path(settings.storage_dir) / "projects" / project.name / "files" / file_id[:2] / file_id
    assert path.exists()
    response = await client.delete(
        f"/api/projects/{project.name}/files/{file_id}", headers=project.headers
    )
    assert response.status_code == 204
    assert not path.exists()
    gone = await client.get(
        f"/api/projects/{project.name}/files/{file_id}/info", headers=project.headers
    )
    assert gone.status_code == 404


async def test_only_the_author_or_a_manager_deletes_a_file(
    client: httpx.AsyncClient, project: Project, runtime: Runtime
) -> None:
    author = await login(client, await make_user(runtime))
    other = await login(client, await make_user(runtime))
    file_id = (await upload(client, project.name, author)).json()["id"]
    url = f"/api/projects/{project.name}/files/{file_id}"
    assert (await client.delete(url, headers=other)).status_code == 403
    assert (await client.delete(url, headers=author)).status_code == 204


async def test_unknown_files_and_projects_are_404_and_anonymous_callers_401(
    client: httpx.AsyncClient, project: Project
) -> None:
    missing = secrets.token_hex(16)
    for url in (
        f"/api/projects/{project.name}/files/{missing}",
        f"/api/projects/{project.name}/files/{missing}/info",
    ):
        response = await client.get(url, headers=project.headers)
        assert response.status_code == 404
        assert response.json()["detail"] == f"File {missing} not found"
    deleted = await client.delete(
        f"/api/projects/{project.name}/files/{missing}", headers=project.headers
    )
    assert deleted.status_code == 404
    no_project = await upload(client, "no_such_project", project.headers)
    assert no_project.status_code == 404
    anonymous = await client.get(f"/api/projects/{project.name}/files/{missing}")
    assert anonymous.status_code == 401
    assert (await upload(client, project.name, {})).status_code == 401


async def test_the_official_client_uploads_comments_with_downloads_and_deletes_a_file(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    name = await make_user(runtime, isManager=True)
    source = tmp_path / "review.mov"
    source.write_bytes(secrets.token_bytes(300_000))
    async with server_process(settings) as url:
        api = ServerAPI(url)
        await asyncio.to_thread(api.login, name, "correct horse battery")
        async with serving(server_app(settings)) as client:
            project = await create_project(client, await login(client, name))
        folder = await asyncio.to_thread(api.create_folder, project, "shots")

        response = await asyncio.to_thread(api.upload_project_file, project, str(source))
        file_id = response.json()["id"]
        activity_id = await asyncio.to_thread(
            api.create_activity, project, folder, "folder", "comment", body="v1", file_ids=[file_id]
        )
        await asyncio.to_thread(api.update_activity, project, activity_id, body="v2")
        target = tmp_path / "downloaded.mov"
        await asyncio.to_thread(api.download_project_file, project, file_id, str(target))
        assert target.read_bytes() == source.read_bytes()
        await asyncio.to_thread(api.delete_project_file, project, file_id)
        await asyncio.to_thread(api.delete_activity, project, activity_id)
    assert await runtime.db.fetchval(f"SELECT count(*) FROM project_{project.lower()}.files") == 0
