"""The official ayon-python-api client against a real server: a project, a folder, a thumbnail,
a link type and a link (issue #4's end-to-end check)."""

from __future__ import annotations

import secrets
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ayon_api.server_api import ServerAPI

from ayon_server.config import Settings
from ayon_server.runtime import Runtime
from tests.helpers.ayon_client import in_thread, logged_in
from tests.helpers.server import server_process


@pytest.fixture(scope="module")
async def server_url(settings: Settings) -> AsyncIterator[str]:
    async with server_process(settings) as url:
        yield url


def tiny_png() -> bytes:
    """A valid 1x1 PNG, made here so the test needs no fixture file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x80\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@pytest.fixture
async def manager_api(server_url: str, runtime: Runtime) -> AsyncIterator[ServerAPI]:
    api, _ = await logged_in(server_url, runtime, isManager=True)
    yield api


async def test_the_client_creates_a_project_folder_thumbnail_link_type_and_link(
    manager_api: ServerAPI, tmp_path: Path
) -> None:
    api = manager_api
    project = f"client_{secrets.token_hex(3)}"
    await in_thread(api.create_project, project, project[-6:])
    try:
        assert (await in_thread(api.get_project, project))["name"] == project

        parent = await in_thread(api.create_folder, project, "assets", folder_type="Folder")
        child = await in_thread(
            api.create_folder, project, "hero", folder_type="Folder", parent_id=parent
        )
        assert (await in_thread(api.get_rest_folder, project, child))["parentId"] == parent

        image = tmp_path / "thumb.png"
        image.write_bytes(tiny_png())
        thumbnail_id = await in_thread(api.create_thumbnail, project, str(image))
        await in_thread(api.update_folder, project, child, thumbnail_id=thumbnail_id)
        content = await in_thread(api.get_folder_thumbnail, project, child)
        assert content.thumbnail_id == thumbnail_id
        assert content.content == image.read_bytes()

        await in_thread(api.create_link_type, project, "reference", "folder", "folder")
        types = await in_thread(api.get_link_types, project)
        assert "reference|folder|folder" in {t["name"] for t in types}

        link = await in_thread(
            api.create_link, project, "reference", parent, "folder", child, "folder"
        )
        assert len(link["id"]) == 32
    finally:
        await in_thread(api.delete_project, project)
    assert await in_thread(api.get_project, project) is None
