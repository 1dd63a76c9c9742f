"""Bundles, dependency packages and installers through the official ayon-python-api client
against a real server process."""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ayon_api.exceptions import HTTPRequestError
from ayon_api.server_api import ServerAPI
from requests import HTTPError

from ayon_server.config import Settings
from ayon_server.runtime import Runtime
from tests.helpers.addons import empty_addon_store
from tests.helpers.ayon_client import in_thread, logged_in
from tests.helpers.server import server_process

# Uploads raise requests' HTTPError, the other calls the client's own; both carry the response.
REFUSED = (HTTPError, HTTPRequestError)
PACKAGE = os.urandom(3 * 1024 * 1024 + 123)  # more than one 1 MiB chunk, not a multiple of it


@pytest.fixture(scope="module")
async def server_url(settings: Settings) -> AsyncIterator[str]:
    async with server_process(settings) as url:
        yield url


@pytest.fixture(autouse=True)
async def empty_store(runtime: Runtime) -> None:
    await empty_addon_store(runtime.db)


@pytest.fixture(scope="module")
async def admin(server_url: str, settings: Settings) -> AsyncIterator[ServerAPI]:
    """One admin session for the module (logging in costs a password hash)."""
    own = Runtime.create(settings)
    try:
        api, _ = await logged_in(server_url, own, isAdmin=True)
        yield api
    finally:
        await own.close()


async def large_objects(runtime: Runtime) -> int:
    return await runtime.db.fetchval("SELECT count(*) FROM pg_largeobject_metadata")


async def upload_addon(api: ServerAPI, tmp_path: Path, name: str, version: str) -> None:
    path = tmp_path / f"{name}-{version}.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("package.py", f'name = "{name}"\nversion = "{version}"\n')
        archive.writestr("addon/__init__.py", "")
    await in_thread(api.upload_addon_zip, str(path))


async def test_bundles_are_created_listed_flagged_and_deleted(
    server_url: str, runtime: Runtime, admin: ServerAPI, tmp_path: Path
) -> None:
    await upload_addon(admin, tmp_path, "core", "1.0.0")
    await upload_addon(admin, tmp_path, "core", "1.1.0")

    await in_thread(
        admin.create_bundle,
        "first",
        {"core": "1.0.0"},
        "1.2.0",
        dependency_packages={"linux": "deps-linux.zip"},
        is_production=True,
    )
    await in_thread(admin.create_bundle, "second", {"core": "1.1.0"}, None, is_staging=True)
    bundles = await in_thread(admin.get_bundles)
    assert (bundles["productionBundle"], bundles["stagingBundle"]) == ("first", "second")
    first = next(b for b in bundles["bundles"] if b["name"] == "first")
    assert (first["addons"], first["installerVersion"], first["dependencyPackages"]) == (
        {"core": "1.0.0"},
        "1.2.0",
        {"linux": "deps-linux.zip"},
    )
    second = next(b for b in bundles["bundles"] if b["name"] == "second")
    assert second["installerVersion"] is None

    # Production moves to the bundle that takes it; dependency packages change per platform.
    await in_thread(
        admin.update_bundle,
        "second",
        is_production=True,
        dependency_packages={"windows": "deps-win.zip"},
    )
    await in_thread(admin.update_bundle, "first", dependency_packages={"linux": None})
    bundles = await in_thread(admin.get_bundles)
    assert (bundles["productionBundle"], bundles["stagingBundle"]) == ("second", "second")
    by_name = {b["name"]: b for b in bundles["bundles"]}
    assert by_name["first"]["dependencyPackages"] == {}
    assert by_name["second"]["dependencyPackages"] == {"windows": "deps-win.zip"}
    info = {a["name"]: a for a in (await in_thread(admin.get_addons_info))["addons"]}
    assert (info["core"]["productionVersion"], info["core"]["stagingVersion"]) == (
        "1.1.0",
        "1.1.0",
    )

    await in_thread(admin.delete_bundle, "first")
    assert [b["name"] for b in (await in_thread(admin.get_bundles))["bundles"]] == ["second"]


async def test_bundle_rules_refuse_what_ayon_refuses(
    server_url: str, runtime: Runtime, admin: ServerAPI, tmp_path: Path
) -> None:
    await upload_addon(admin, tmp_path, "core", "1.0.0")
    await in_thread(admin.create_bundle, "prod", {"core": "1.0.0"}, None)

    cases = [
        (admin.create_bundle, ("prod", {"core": "1.0.0"}, None), {}, 409, "already exists"),
        (admin.create_bundle, ("b", {"core": "9.9.9"}, None), {}, 400, "not installed"),
        (admin.create_bundle, ("b", {"../x": "1.0.0"}, None), {}, 400, "validation"),
        (
            admin.create_bundle,
            ("b", {}, None),
            {"is_dev": True, "is_production": True},
            400,
            "dev bundle cannot be production",
        ),
        (admin.update_bundle, ("prod",), {"addon_versions": {"core": None}}, 400, "dev bundle"),
        (admin.update_bundle, ("missing",), {"is_staging": True}, 404, "not found"),
        (admin.delete_bundle, ("missing",), {}, 404, "not found"),
    ]
    for call, args, kwargs, status, detail in cases:
        with pytest.raises(REFUSED) as refused:
            await in_thread(call, *args, **kwargs)
        assert refused.value.response.status_code == status, (args, kwargs)
        assert detail in refused.value.response.json()["detail"], refused.value.response.json()

    # A dev bundle may change its addons.
    await in_thread(admin.create_bundle, "mine", {"core": "1.0.0"}, None, is_dev=True)
    await in_thread(admin.update_bundle, "mine", addon_versions={"core": None})
    mine = next(b for b in (await in_thread(admin.get_bundles))["bundles"] if b["name"] == "mine")
    assert (mine["isDev"], mine["addons"]) == (True, {"core": None})

    artist, _ = await logged_in(server_url, runtime)
    assert [b["name"] for b in (await in_thread(artist.get_bundles))["bundles"]] == [
        "prod",
        "mine",
    ]
    with pytest.raises(REFUSED) as refused:
        await in_thread(artist.create_bundle, "b", {}, None)
    assert refused.value.response.status_code == 403


async def write_package(tmp_path: Path) -> Path:
    path = tmp_path / "package.zip"
    await in_thread(path.write_bytes, PACKAGE)
    return path


async def test_a_dependency_package_is_declared_uploaded_downloaded_updated_and_deleted(
    server_url: str, runtime: Runtime, admin: ServerAPI, tmp_path: Path
) -> None:
    source = await write_package(tmp_path)
    objects_before = await large_objects(runtime)
    await in_thread(
        admin.create_dependency_package,
        "deps-linux.zip",
        {"requests": "2.31.0"},
        {"core": "1.0.0"},
        "1.2.0",
        hashlib.md5(PACKAGE).hexdigest(),
        "md5",
        len(PACKAGE),
        platform_name="linux",
    )
    [declared] = (await in_thread(admin.get_dependency_packages))["packages"]
    assert (declared["filename"], declared["platform"], declared["sources"]) == (
        "deps-linux.zip",
        "linux",
        [],
    )
    await in_thread(admin.upload_dependency_package, str(source), "deps-linux.zip")
    assert await large_objects(runtime) == objects_before + 1

    artist, _ = await logged_in(server_url, runtime)
    [listed] = (await in_thread(artist.get_dependency_packages))["packages"]
    assert listed["sources"] == [{"type": "server", "filename": "deps-linux.zip"}]
    assert (listed["size"], listed["pythonModules"], listed["sourceAddons"]) == (
        len(PACKAGE),
        {"requests": "2.31.0"},
        {"core": "1.0.0"},
    )
    target = await in_thread(
        artist.download_dependency_package, "deps-linux.zip", str(tmp_path / "dl"), "got.zip"
    )
    assert await in_thread(Path(target).read_bytes) == PACKAGE

    await in_thread(
        admin.update_dependency_package,
        "deps-linux.zip",
        [{"type": "http", "url": "https://example.com/deps-linux.zip"}],
    )
    [listed] = (await in_thread(artist.get_dependency_packages))["packages"]
    assert [s["type"] for s in listed["sources"]] == ["http", "server"]

    with pytest.raises(REFUSED) as refused:
        await in_thread(artist.delete_dependency_package, "deps-linux.zip")
    assert refused.value.response.status_code == 403
    await in_thread(admin.delete_dependency_package, "deps-linux.zip")
    assert (await in_thread(admin.get_dependency_packages))["packages"] == []
    assert await large_objects(runtime) == objects_before


async def test_downloads_answer_range_requests(
    server_url: str, runtime: Runtime, admin: ServerAPI, tmp_path: Path
) -> None:
    await in_thread(
        admin.create_installer,
        "AYON-1.2.0-linux.AppImage",
        "1.2.0",
        "3.11.9",
        "linux",
        {},
        {},
        hashlib.sha256(PACKAGE).hexdigest(),
        "sha256",
        len(PACKAGE),
    )
    await in_thread(
        admin.upload_installer, str(await write_package(tmp_path)), "AYON-1.2.0-linux.AppImage"
    )
    url = "desktop/installers/AYON-1.2.0-linux.AppImage"

    start = 1024 * 1024 + 7
    tail = await in_thread(admin.raw_get, url, headers={"Range": f"bytes={start}-"})
    assert tail.status_code == 206
    assert tail.headers["Content-Range"] == f"bytes {start}-{len(PACKAGE) - 1}/{len(PACKAGE)}"
    assert int(tail.headers["Content-Length"]) == len(PACKAGE) - start
    assert tail.content == PACKAGE[start:]

    middle = await in_thread(admin.raw_get, url, headers={"Range": "bytes=10-19"})
    assert (middle.status_code, middle.content) == (206, PACKAGE[10:20])
    last = await in_thread(admin.raw_get, url, headers={"Range": "bytes=-5"})
    assert (last.status_code, last.content) == (206, PACKAGE[-5:])
    past_end = await in_thread(admin.raw_get, url, headers={"Range": f"bytes={len(PACKAGE)}-"})
    assert past_end.status_code == 416
    whole = await in_thread(admin.raw_get, url)
    assert (whole.status_code, whole.headers["Content-Length"]) == (200, str(len(PACKAGE)))
    assert whole.content == PACKAGE


async def test_installers_are_listed_by_version_and_platform_and_downloaded(
    server_url: str, runtime: Runtime, admin: ServerAPI, tmp_path: Path
) -> None:
    for version, platform in (("1.2.0", "linux"), ("1.2.0", "windows"), ("1.3.0", "linux")):
        await in_thread(
            admin.create_installer,
            f"AYON-{version}-{platform}.zip",
            version,
            "3.11.9",
            platform,
            {"PySide6": "6.7.0"},
            {"certifi": "2024.1.1"},
            "",
            "md5",
            0,
        )
    listed = await in_thread(admin.get_installers, version="1.2.0", platform_name="linux")
    [installer] = listed["installers"]
    assert (installer["filename"], installer["version"], installer["platform"]) == (
        "AYON-1.2.0-linux.zip",
        "1.2.0",
        "linux",
    )
    assert installer["runtimePythonModules"] == {"certifi": "2024.1.1"}
    assert len((await in_thread(admin.get_installers))["installers"]) == 3

    source = await write_package(tmp_path)
    await in_thread(admin.upload_installer, str(source), "AYON-1.3.0-linux.zip")
    destination = tmp_path / "AYON.zip"
    await in_thread(admin.download_installer, "AYON-1.3.0-linux.zip", str(destination))
    assert await in_thread(destination.read_bytes) == PACKAGE

    not_uploaded = await in_thread(admin.raw_get, "desktop/installers/AYON-1.2.0-linux.zip")
    assert not_uploaded.status_code == 404
    await in_thread(
        admin.update_installer,
        "AYON-1.2.0-linux.zip",
        [{"type": "http", "url": "https://example.com/a.zip"}],
    )
    await in_thread(admin.delete_installer, "AYON-1.2.0-linux.zip")
    assert len((await in_thread(admin.get_installers))["installers"]) == 2


async def test_bad_package_uploads_are_refused_and_store_nothing(
    server_url: str, runtime: Runtime, admin: ServerAPI, tmp_path: Path
) -> None:
    source = await write_package(tmp_path)
    await in_thread(
        admin.create_dependency_package,
        "deps.zip",
        {},
        {},
        "1.2.0",
        "0" * 32,
        "md5",
        len(PACKAGE),
        platform_name="linux",
    )
    objects_before = await large_objects(runtime)
    cases = [
        ("deps.zip", 400, "the manifest declares"),
        ("undeclared.zip", 404, "not found"),
    ]
    for filename, status, detail in cases:
        with pytest.raises(REFUSED) as refused:
            await in_thread(admin.upload_dependency_package, str(source), filename)
        assert refused.value.response.status_code == status
        assert detail in refused.value.response.json()["detail"]
    assert await large_objects(runtime) == objects_before
    [listed] = (await in_thread(admin.get_dependency_packages))["packages"]
    assert listed["sources"] == []

    with pytest.raises(REFUSED) as refused:
        await in_thread(
            admin.create_dependency_package,
            "deps.zip",
            {},
            {},
            "1.2.0",
            "",
            "md5",
            0,
            platform_name="linux",
        )
    assert refused.value.response.status_code == 409
    for bad in ("../evil.zip", ".hidden"):
        response = await in_thread(
            admin.post,
            "desktop/dependencyPackages",
            filename=bad,
            platform="linux",
            checksum="",
            checksumAlgorithm="md5",
            size=0,
        )
        assert response.status_code == 400, bad

    artist, _ = await logged_in(server_url, runtime)
    with pytest.raises(REFUSED) as refused:
        await in_thread(artist.upload_dependency_package, str(source), "deps.zip")
    assert refused.value.response.status_code == 403
    assert await large_objects(runtime) == objects_before
