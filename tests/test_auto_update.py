"""auto_update against catalogs served by a real HTTP server on 127.0.0.1, run through the real
MaintenanceRunner; what it stores is read back from the database and installed by a real
background installer.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import zipfile
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ayon_server.addons.installer import BackgroundInstaller
from ayon_server.addons.store import DEPENDENCY_PACKAGES, INSTALLERS, get_package, list_addons
from ayon_server.config import Settings
from ayon_server.lib.embedded import free_port
from ayon_server.maintenance.config import save_config
from ayon_server.replicas.identity import ReplicaIdentity
from ayon_server.runtime import Runtime
from maintenance.runner import MaintenanceRunner, TaskOutcome
from tests.helpers.addons import empty_addon_store

pytestmark = pytest.mark.usefixtures("clean_tables", "nothing_stored")


@pytest.fixture
async def nothing_stored(runtime: Runtime) -> None:
    await empty_addon_store(runtime.db)


class FileServer:
    """Serves `files` (path -> bytes) on 127.0.0.1; anything else is 404."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = server.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def add(self, path: str, body: bytes) -> tuple[str, str]:
        """Serve `body` at `path`; (its URL, its sha256)."""
        self.files[path] = body
        return self.base + path, hashlib.sha256(body).hexdigest()

    def catalog(self, document: Any) -> str:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        return self.add("/catalog.json", body)[0]


@pytest.fixture
def files() -> Iterator[FileServer]:
    server = FileServer()
    thread = threading.Thread(target=server.httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def addon_zip(name: str, version: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "manifest.json", json.dumps({"addon_name": name, "addon_version": version})
        )
        archive.writestr("addon/private/client.zip", os.urandom(50_000))
    return buffer.getvalue()


def addon_entry(files: FileServer, name: str, version: str, **extra: Any) -> dict[str, Any]:
    url, sha = files.add(f"/{name}-{version}.zip", addon_zip(name, version))
    return {"name": name, "version": version, "url": url, "sha256": sha, **extra}


async def run_auto_update(runtime: Runtime, url: str, *, dry_run: bool = False) -> TaskOutcome:
    await save_config(runtime, {"updateCatalogUrl": url})
    (outcome,) = (await MaintenanceRunner(runtime).run(["auto_update"], dry_run=dry_run)).tasks
    return outcome


async def stored(runtime: Runtime) -> tuple[list[tuple[str, str]], int]:
    """(addon versions stored, large objects)."""
    addons = [(a.name, a.version) for a in await list_addons(runtime.db)]
    objects = await runtime.db.fetchval("SELECT count(*) FROM pg_largeobject_metadata")
    return addons, objects


@pytest.fixture
async def replica_runtime(settings: Settings, tmp_path: Path) -> AsyncIterator[Runtime]:
    local = settings.model_copy(
        update={"addons_dir": str(tmp_path / "addons"), "storage_dir": str(tmp_path / "storage")}
    )
    runtime = Runtime.create(local)
    yield runtime
    await runtime.close()


async def test_the_wanted_entries_are_downloaded_stored_and_installed_by_the_replicas(
    runtime: Runtime, replica_runtime: Runtime, files: FileServer, tmp_path: Path
) -> None:
    package_url, package_sha = files.add("/deps.zip", b"dependency package bytes")
    installer_url, installer_sha = files.add("/AYON-1.2.0-linux.sh", b"installer bytes")
    catalog = {
        "addons": [
            addon_entry(files, "core", "1.0.0", required=True),
            addon_entry(files, "extra", "0.1.0", required=False),
        ],
        "dependencyPackages": [
            {
                "filename": "deps.zip",
                "platform": "linux",
                "url": package_url,
                "sha256": package_sha,
                "sourceAddons": {"core": "1.0.0"},
                "pythonModules": {"requests": "2.31.0"},
            }
        ],
        "installers": [
            {
                "filename": "AYON-1.2.0-linux.sh",
                "version": "1.2.0",
                "platform": "linux",
                "url": installer_url,
                "sha256": installer_sha,
                "size": len(b"installer bytes"),
            }
        ],
    }

    outcome = await run_auto_update(runtime, files.catalog(catalog))

    assert outcome.status == "finished", outcome.error
    assert outcome.result == {"downloaded": 3, "alreadyStored": 0, "notRequired": 1, "failed": 0}
    assert (await stored(runtime))[0] == [("core", "1.0.0")]
    package = await get_package(runtime.db, DEPENDENCY_PACKAGES, "deps.zip")
    assert package.archive.sha256 == package_sha
    assert package.data["sourceAddons"] == {"core": "1.0.0"}
    assert package.data["checksum"] == package_sha
    installer = await get_package(runtime.db, INSTALLERS, "AYON-1.2.0-linux.sh")
    assert (installer.version, installer.archive.sha256) == ("1.2.0", installer_sha)

    await BackgroundInstaller(replica_runtime, ReplicaIdentity.new()).reconcile()
    assert (tmp_path / "addons" / "core" / "1.0.0" / "private" / "client.zip").is_file()
    assert (tmp_path / "storage" / "installers" / "AYON-1.2.0-linux.sh").read_bytes() == (
        b"installer bytes"
    )

    again = await run_auto_update(runtime, files.base + "/catalog.json")
    assert again.result == {"downloaded": 0, "alreadyStored": 3, "notRequired": 1, "failed": 0}


async def test_a_checksum_mismatch_fails_the_task_and_stores_nothing_of_that_entry(
    runtime: Runtime, files: FileServer
) -> None:
    bad = addon_entry(files, "tampered", "1.0.0")
    bad["sha256"] = hashlib.sha256(b"something else").hexdigest()
    missing = addon_entry(files, "missing", "1.0.0")
    missing["url"] = files.base + "/not-there.zip"
    catalog = {"addons": [bad, addon_entry(files, "fine", "2.0.0"), missing]}
    _, objects_before = await stored(runtime)

    outcome = await run_auto_update(runtime, files.catalog(catalog))

    assert outcome.status == "failed"
    assert outcome.error.startswith("AutoUpdateFailed: 2 of 3 catalog entries could not be stored")
    assert outcome.result["downloaded"] == 1 and outcome.result["failed"] == 2
    errors = {error["name"]: error["error"] for error in outcome.result["errors"]}
    assert errors.keys() == {"tampered 1.0.0", "missing 1.0.0"}
    assert errors["tampered 1.0.0"].startswith("checksum mismatch")
    assert "HTTP 404" in errors["missing 1.0.0"]
    assert await stored(runtime) == ([("fine", "2.0.0")], objects_before + 1)


async def test_an_archive_that_is_not_the_announced_addon_is_refused(
    runtime: Runtime, files: FileServer
) -> None:
    url, sha = files.add("/impostor.zip", addon_zip("impostor", "6.6.6"))
    catalog = {"addons": [{"name": "core", "version": "1.0.0", "url": url, "sha256": sha}]}

    outcome = await run_auto_update(runtime, files.catalog(catalog))

    assert outcome.status == "failed"
    assert "not the announced" in outcome.result["errors"][0]["error"]
    assert (await stored(runtime))[0] == []


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (b"{not json", "the update catalog is not valid"),
        ({"addons": [{"name": "x", "version": "1.0.0", "url": "ftp://x"}]}, "addons.0"),
        (
            {"addons": [{"name": "../x", "version": "1", "url": "http://x", "sha256": "0" * 64}]},
            "addons.0.name",
        ),
        ({"installers": "all of them"}, "installers"),
    ],
)
async def test_a_bad_catalog_fails_the_task_with_the_reason(
    runtime: Runtime, files: FileServer, document: Any, reason: str
) -> None:
    outcome = await run_auto_update(runtime, files.catalog(document))

    assert outcome.status == "failed"
    assert reason in outcome.error
    assert (await stored(runtime))[0] == []


async def test_a_catalog_url_that_answers_an_error_fails_the_task(
    runtime: Runtime, files: FileServer
) -> None:
    outcome = await run_auto_update(runtime, files.base + "/nothing-here.json")

    assert outcome.status == "failed"
    assert "answered HTTP 404" in outcome.error


async def test_an_unreachable_catalog_is_one_clear_failure(runtime: Runtime) -> None:
    closed_port = free_port()  # nothing listens there

    outcome = await run_auto_update(runtime, f"http://127.0.0.1:{closed_port}/catalog.json")

    assert outcome.status == "failed"
    assert "could not read the update catalog" in outcome.error
    assert "ConnectError" in outcome.error


async def test_a_dry_run_counts_what_it_would_download_and_stores_nothing(
    runtime: Runtime, files: FileServer
) -> None:
    catalog = {"addons": [addon_entry(files, "core", "1.0.0")]}

    outcome = await run_auto_update(runtime, files.catalog(catalog), dry_run=True)

    assert outcome.status == "finished"
    assert outcome.result["downloaded"] == 1
    assert (await stored(runtime))[0] == []
