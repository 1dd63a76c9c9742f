"""Addons through the official ayon-python-api client against a real server process: upload,
list, private files, delete, install from a URL; bad archives are refused with nothing stored.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import json
import os
import stat
import threading
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from ayon_api.exceptions import HTTPRequestError
from ayon_api.server_api import ServerAPI
from requests import HTTPError

from ayon_server.config import Settings
from ayon_server.runtime import Runtime
from tests.helpers.addons import empty_addon_store
from tests.helpers.ayon_client import in_thread, logged_in
from tests.helpers.server import server_process
from tests.helpers.waiting import wait_until

# Uploads raise requests' HTTPError, the other calls the client's own; both carry the response.
REFUSED = (HTTPError, HTTPRequestError)
MAX_PACKAGE_BYTES = 4 * 1024 * 1024
CLIENT_ZIP = os.urandom(1_500_000)  # incompressible, so the zip is as big as the file


@pytest.fixture(scope="module")
async def server_url(settings: Settings) -> AsyncIterator[str]:
    async with server_process(settings, AYON_MAX_PACKAGE_BYTES=str(MAX_PACKAGE_BYTES)) as url:
        yield url


@pytest.fixture(autouse=True)
async def no_addons(runtime: Runtime) -> None:
    await empty_addon_store(runtime.db)
    await runtime.db.execute("DELETE FROM public.events WHERE topic = 'addon.install'")


@pytest.fixture(scope="module")
async def admin(server_url: str, settings: Settings) -> AsyncIterator[ServerAPI]:
    """One admin session for the module (logging in costs a password hash)."""
    own = Runtime.create(settings)
    try:
        api, _ = await logged_in(server_url, own, isAdmin=True)
        yield api
    finally:
        await own.close()


def addon_zip(
    path: Path,
    *,
    manifest: tuple[str, str] | None = (
        "manifest.json",
        '{"addon_name": "demo", "addon_version": "1.0.0"}',
    ),
    entries: dict[str, bytes] | None = None,
    symlink: str | None = None,
) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        if manifest is not None:
            archive.writestr(*manifest)
        for name, data in (entries or {"addon/private/client.zip": CLIENT_ZIP}).items():
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return path


async def stored_counts(runtime: Runtime) -> tuple[int, int]:
    """(addon rows, large objects)."""
    return (
        await runtime.db.fetchval("SELECT count(*) FROM public.addons"),
        await runtime.db.fetchval("SELECT count(*) FROM pg_largeobject_metadata"),
    )


async def test_an_uploaded_addon_is_listed_and_serves_its_private_files(
    server_url: str, runtime: Runtime, admin: ServerAPI, tmp_path: Path
) -> None:
    answer = await in_thread(admin.upload_addon_zip, str(addon_zip(tmp_path / "demo.zip")))
    event = await in_thread(admin.get_event, answer["eventId"])
    assert (event["topic"], event["status"]) == ("addon.install", "finished")
    assert event["summary"]["name"] == "demo" and event["summary"]["version"] == "1.0.0"

    artist, _ = await logged_in(server_url, runtime)
    info = await in_thread(artist.get_addons_info, details=True)
    [demo] = info["addons"]
    assert (demo["name"], list(demo["versions"])) == ("demo", ["1.0.0"])
    assert demo["versions"]["1.0.0"]["clientSourceInfo"] == [
        {"type": "server", "filename": "client.zip"}
    ]

    target = await in_thread(
        artist.download_addon_private_file, "demo", "1.0.0", "client.zip", str(tmp_path / "dl")
    )
    assert await in_thread(Path(target).read_bytes) == CLIENT_ZIP
    under_api = await in_thread(artist.get, "addons/demo/1.0.0/private/client.zip")
    assert under_api.status_code == 200
    missing = await in_thread(artist.get, "addons/demo/1.0.0/private/other.zip")
    assert missing.status_code == 404

    installs = (await in_thread(admin.get, "addons/install")).data["items"]
    assert [(i["addonName"], i["addonVersion"], i["status"]) for i in installs] == [
        ("demo", "1.0.0", "finished")
    ]


async def test_package_py_manifests_are_read_without_running_them(
    server_url: str, runtime: Runtime, admin: ServerAPI, tmp_path: Path
) -> None:
    package_py = 'import os\nos.system("touch /tmp/pwned")\nname = "other"\nversion = "2.1.0"\n'
    source = addon_zip(
        tmp_path / "other.zip",
        manifest=("package.py", package_py),
        entries={"addon/__init__.py": b""},
    )
    await in_thread(admin.upload_addon_zip, str(source))
    info = await in_thread(admin.get_addons_info)
    assert [(a["name"], list(a["versions"])) for a in info["addons"]] == [("other", ["2.1.0"])]


@pytest.mark.parametrize(
    ("kind", "status", "reason"),
    [
        ("not a zip", 400, "not a valid zip"),
        ("empty", 400, "body is empty"),
        ("damaged manifest", 400, "damaged"),
        ("no manifest", 400, "no manifest"),
        ("bad name", 400, "Invalid addon name"),
        ("bad version", 400, "Invalid addon version"),
        ("no addon dir", 400, "no addon/ directory"),
        ("zip slip", 400, "escapes"),
        ("symlink", 400, "symlink"),
        ("too large", 413, "larger than the limit"),
    ],
)
async def test_bad_archives_are_refused_and_nothing_is_stored(
    server_url: str,
    runtime: Runtime,
    admin: ServerAPI,
    tmp_path: Path,
    kind: str,
    status: int,
    reason: str,
) -> None:
    path = tmp_path / "bad.zip"
    if kind == "not a zip":
        path.write_bytes(b'{"json": "pretending to be a zip"}')
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "damaged manifest":
        addon_zip(path, manifest=("manifest.json", "{" + '"x": 1, ' * 1000 + "}"))
        data = bytearray(path.read_bytes())
        start = data.index(b"manifest.json") + len("manifest.json")
        data[start + 10 : start + 60] = b"\xff" * 50  # inside its deflated bytes
        path.write_bytes(bytes(data))
    elif kind == "no manifest":
        addon_zip(path, manifest=None)
    elif kind == "bad name":
        addon_zip(
            path, manifest=("manifest.json", '{"addon_name": "../x", "addon_version": "1.0.0"}')
        )
    elif kind == "bad version":
        addon_zip(
            path, manifest=("manifest.json", '{"addon_name": "demo", "addon_version": "one"}')
        )
    elif kind == "no addon dir":
        addon_zip(path, entries={"readme.txt": b"x"})
    elif kind == "zip slip":
        addon_zip(path, entries={"addon/../../evil.py": b"x"})
    elif kind == "symlink":
        addon_zip(path, entries={"addon/a.py": b""}, symlink="addon/link")
    else:
        addon_zip(path, entries={"addon/big.bin": os.urandom(MAX_PACKAGE_BYTES + 1)})
    before = await stored_counts(runtime)

    with pytest.raises(REFUSED) as refused:
        await in_thread(admin.upload_addon_zip, str(path))

    assert refused.value.response.status_code == status
    assert reason in refused.value.response.json()["detail"]
    assert await stored_counts(runtime) == before
    assert (await in_thread(admin.get, "addons/install")).data["items"] == []


async def test_only_admins_install_and_delete_addons_and_only_users_read_private_files(
    server_url: str, runtime: Runtime, admin: ServerAPI, tmp_path: Path
) -> None:
    source = addon_zip(tmp_path / "demo.zip")
    artist, _ = await logged_in(server_url, runtime)
    before = await stored_counts(runtime)
    with pytest.raises(REFUSED) as refused:
        await in_thread(artist.upload_addon_zip, str(source))
    assert refused.value.response.status_code == 403
    assert await stored_counts(runtime) == before

    await in_thread(admin.upload_addon_zip, str(source))
    for call in (
        functools.partial(artist.delete_addon, "demo"),
        functools.partial(artist.delete_addon_version, "demo", "1.0.0"),
    ):
        with pytest.raises(REFUSED) as refused:
            await in_thread(call)
        assert refused.value.response.status_code == 403

    anonymous = ServerAPI(server_url)
    response = await in_thread(anonymous.raw_get, "addons/demo/1.0.0/private/client.zip")
    assert response.status_code == 401


async def test_deleting_addons_removes_rows_and_archives_but_not_what_a_bundle_uses(
    server_url: str, runtime: Runtime, admin: ServerAPI, tmp_path: Path
) -> None:
    _, objects_before = await stored_counts(runtime)
    for version in ("1.0.0", "1.1.0"):
        manifest = json.dumps({"addon_name": "demo", "addon_version": version})
        await in_thread(
            admin.upload_addon_zip,
            str(addon_zip(tmp_path / f"{version}.zip", manifest=("manifest.json", manifest))),
        )
    assert await stored_counts(runtime) == (2, objects_before + 2)
    await in_thread(admin.create_bundle, "prod", {"demo": "1.1.0"}, None, is_production=True)

    with pytest.raises(REFUSED) as refused:
        await in_thread(admin.delete_addon, "demo")
    assert refused.value.response.status_code == 409
    assert "bundle prod" in refused.value.response.json()["detail"]

    await in_thread(admin.delete_addon_version, "demo", "1.0.0")
    assert await stored_counts(runtime) == (1, objects_before + 1)
    [demo] = (await in_thread(admin.get_addons_info))["addons"]
    assert (list(demo["versions"]), demo["productionVersion"]) == (["1.1.0"], "1.1.0")

    await in_thread(admin.delete_bundle, "prod")
    await in_thread(admin.delete_addon, "demo", purge=True)
    assert await stored_counts(runtime) == (0, objects_before)
    missing = await in_thread(admin.delete, "addons/demo")
    assert missing.status_code == 404


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[str]:
    """A local HTTP server for tmp_path/www; its base URL."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def wait_for_event_end(api: ServerAPI, event_id: str) -> dict[str, Any]:
    """The event once it is finished or failed (the URL install runs after the answer)."""

    async def ended() -> dict[str, Any] | None:
        event = await in_thread(api.get_event, event_id)
        return event if event["status"] in ("finished", "failed") else None

    return await wait_until(ended, what=f"event {event_id} to end")


async def test_an_addon_is_installed_from_a_url_and_a_bad_download_fails_its_event(
    server_url: str, runtime: Runtime, admin: ServerAPI, tmp_path: Path, file_server: str
) -> None:
    addon_zip(tmp_path / "www" / "demo.zip")
    (tmp_path / "www" / "junk.zip").write_bytes(b"junk")

    good = await in_thread(admin.post, f"addons/install?url={file_server}/demo.zip")
    event = await wait_for_event_end(admin, good.data["eventId"])
    assert event["status"] == "finished", event
    assert [a["name"] for a in (await in_thread(admin.get_addons_info))["addons"]] == ["demo"]
    before = await stored_counts(runtime)

    for url, reason in (
        (f"{file_server}/missing.zip", "HTTP 404"),
        (f"{file_server}/junk.zip", "not a valid zip"),
        (f"{file_server}/demo.zip&addonName=other", "not the announced"),
    ):
        answer = await in_thread(admin.post, f"addons/install?url={url}")
        event = await wait_for_event_end(admin, answer.data["eventId"])
        assert event["status"] == "failed" and reason in event["description"], event
    assert await stored_counts(runtime) == before

    bad_scheme = await in_thread(admin.post, "addons/install?url=file:///etc/passwd")
    assert bad_scheme.status_code == 400


async def test_an_upload_cut_off_midway_stores_nothing(
    server_url: str, runtime: Runtime, admin: ServerAPI
) -> None:
    before = await stored_counts(runtime)
    host, port = server_url.removeprefix("http://").split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /api/addons/install HTTP/1.1\r\nHost: test\r\n"
        + f"Authorization: Bearer {admin.access_token}\r\n".encode()
        + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = os.urandom(1_500_000)  # past the first 1 MiB written into the large object
    writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    await writer.drain()

    async def writing_backend() -> int | None:
        return await runtime.db.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND query LIKE 'SELECT lo_put%' AND xact_start IS NOT NULL"
        )

    pid = await wait_until(writing_backend, what="the server to write the upload")
    writer.close()

    async def transaction_ended() -> bool:
        return await runtime.db.fetchval(
            "SELECT xact_start IS NULL FROM pg_stat_activity WHERE pid = $1", pid
        ) in (True, None)

    await wait_until(transaction_ended, what="the server to end the upload's transaction")
    assert await stored_counts(runtime) == before
