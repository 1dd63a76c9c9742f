"""Several server processes on one database, each with its own AYON_ADDONS_DIR and storage and
no shared volume: what one replica receives, every replica installs; what is deleted through one
is removed from all; a replica started later catches up by itself.

The uploads go through the official ayon-python-api client; every wait polls the replicas'
directories or public.replica_packages with a deadline.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import zipfile
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from ayon_api.server_api import ServerAPI

from ayon_server.config import Settings
from ayon_server.runtime import Runtime
from tests.helpers.addons import empty_addon_store
from tests.helpers.ayon_client import in_thread, logged_in
from tests.helpers.server import server_process
from tests.helpers.waiting import wait_until

CLIENT_ZIP = os.urandom(400_000)
PACKAGE = os.urandom(200_000)


@pytest.fixture(autouse=True)
async def nothing_stored(runtime: Runtime) -> None:
    await empty_addon_store(runtime.db)
    await runtime.db.execute("DELETE FROM public.replicas")


def replica(settings: Settings, root: Path) -> AbstractAsyncContextManager[str]:
    """A server process (server role only) with its own addons and storage directories under
    `root`; its base URL."""
    return server_process(
        settings, AYON_ADDONS_DIR=str(root / "addons"), AYON_STORAGE_DIR=str(root / "storage")
    )


async def admin_client(url: str, runtime: Runtime) -> ServerAPI:
    api, _ = await logged_in(url, runtime, isAdmin=True)
    return api


def addon_zip(path: Path, name: str, version: str) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "manifest.json", f'{{"addon_name": "{name}", "addon_version": "{version}"}}'
        )
        archive.writestr("addon/private/client.zip", CLIENT_ZIP)
        archive.writestr("addon/server/__init__.py", b"# never executed by the server\n")
    return path


def client_zip(root: Path, name: str, version: str) -> Path:
    return root / "addons" / name / version / "private" / "client.zip"


def has_file(path: Path, data: bytes) -> Any:
    def check() -> bool:
        return path.is_file() and path.read_bytes() == data

    return lambda: asyncio.to_thread(check)


def is_gone(path: Path) -> Any:
    return lambda: asyncio.to_thread(lambda: not path.exists())


async def installed_on(runtime: Runtime, kind: str, name: str, version: str = "") -> set[str]:
    rows = await runtime.db.fetch(
        "SELECT replica_id FROM public.replica_packages "
        "WHERE kind = $1 AND name = $2 AND version = $3 AND status = 'installed'",
        kind,
        name,
        version,
    )
    return {row["replica_id"] for row in rows}


async def test_every_replica_installs_what_one_received_removes_what_is_deleted_and_catches_up(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    roots = [tmp_path / name for name in ("a", "b", "c")]
    async with replica(settings, roots[0]) as url_a, replica(settings, roots[1]) as url_b:
        api_a = await admin_client(url_a, runtime)
        api_b = await admin_client(url_b, runtime)

        # An addon uploaded to A: its event ends once A unpacked it; B installs it too.
        answer = await in_thread(
            api_a.upload_addon_zip, str(addon_zip(tmp_path / "one.zip", "one", "1.0.0"))
        )
        event = await in_thread(api_a.get_event, answer["eventId"])
        assert event["status"] == "finished", event
        receiver = event["summary"]["replicaId"]
        assert receiver in event["summary"]["replicas"]
        assert client_zip(roots[0], "one", "1.0.0").read_bytes() == CLIENT_ZIP
        await wait_until(has_file(client_zip(roots[1], "one", "1.0.0"), CLIENT_ZIP), 15, "B")

        # A dependency package uploaded to B lands in both replicas' storage.
        await in_thread(
            api_b.create_dependency_package,
            filename="deps-linux.zip",
            python_modules={},
            source_addons={"one": "1.0.0"},
            installer_version="1.0.0",
            checksum=hashlib.sha256(PACKAGE).hexdigest(),
            checksum_algorithm="sha256",
            file_size=len(PACKAGE),
            platform_name="linux",
        )
        (tmp_path / "deps-linux.zip").write_bytes(PACKAGE)
        await in_thread(
            api_b.upload_dependency_package, str(tmp_path / "deps-linux.zip"), "deps-linux.zip"
        )
        for root in roots[:2]:
            stored = root / "storage" / "dependency_packages" / "deps-linux.zip"
            await wait_until(has_file(stored, PACKAGE), 15, f"the package on {root.name}")
        other = (await installed_on(runtime, "addon", "one", "1.0.0")) - {receiver}
        assert len(other) == 1

        # A second addon, then the first deleted through B: gone from both.
        await in_thread(
            api_a.upload_addon_zip, str(addon_zip(tmp_path / "two.zip", "two", "2.0.0"))
        )
        await in_thread(api_b.delete_addon, "one")
        for root in roots[:2]:
            await wait_until(is_gone(root / "addons" / "one"), 15, f"removal on {root.name}")
        assert await installed_on(runtime, "addon", "one", "1.0.0") == set()

        # C starts now and catches up with no notification to hear.
        async with replica(settings, roots[2]) as url_c:
            await wait_until(has_file(client_zip(roots[2], "two", "2.0.0"), CLIENT_ZIP), 15, "C")
            stored = roots[2] / "storage" / "dependency_packages" / "deps-linux.zip"
            await wait_until(has_file(stored, PACKAGE), 15, "the package on C")
            assert not (roots[2] / "addons" / "one").exists()

            api_c = await admin_client(url_c, runtime)
            listing = (await in_thread(api_c.get, "system/replicas")).data["replicas"]

    assert len(listing) == 3 and all(item["live"] for item in listing)
    for item in listing:
        installed = {(p["kind"], p["name"], p["version"], p["status"]) for p in item["packages"]}
        assert installed == {
            ("addon", "two", "2.0.0", "installed"),
            ("dependencyPackage", "deps-linux.zip", "", "installed"),
        }
    # Nothing half-written is left in any replica's directories.
    for root in roots:
        assert not [p for p in root.rglob(".download-*")] + [p for p in root.rglob(".unpack-*")]
