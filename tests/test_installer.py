"""The background installer of one replica, against the run's real database and Redis.

Archives are stored through the addons store (large objects), so the installer reads exactly
what an upload would have left; hostile and corrupted archives are written the same way,
bypassing the upload's checks, to prove the installer does not trust the store.
"""

from __future__ import annotations

import io
import os
import time
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ayon_server.addons.archives import StoredArchive, write_archive
from ayon_server.addons.installer import (
    INSTALL_TOPIC,
    BackgroundInstaller,
    notify_packages_changed,
)
from ayon_server.addons.store import (
    DEPENDENCY_PACKAGES,
    INSTALLERS,
    attach_archive,
    create_package,
    delete_addons,
    delete_package,
    save_addon,
)
from ayon_server.config import Settings
from ayon_server.lib.embedded import free_port
from ayon_server.lib.safe_zip import ZipLimits
from ayon_server.replicas.identity import ReplicaIdentity
from ayon_server.replicas.store import heartbeat
from ayon_server.runtime import Runtime
from tests.helpers.addons import empty_addon_store
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.usefixtures("nothing_stored")


@pytest.fixture
async def nothing_stored(runtime: Runtime) -> None:
    """No addons, packages, installers or replicas from earlier tests (nor their archives)."""
    await empty_addon_store(runtime.db)
    await runtime.db.execute("DELETE FROM public.replicas")
    await runtime.db.execute("DELETE FROM public.events WHERE topic = $1", INSTALL_TOPIC)


@pytest.fixture
async def replica_runtime(settings: Settings, tmp_path: Path) -> AsyncIterator[Runtime]:
    """A runtime on the run's database with this replica's own addons and storage dirs."""
    local = settings.model_copy(
        update={"addons_dir": str(tmp_path / "addons"), "storage_dir": str(tmp_path / "storage")}
    )
    runtime = Runtime.create(local)
    yield runtime
    await runtime.close()


def addon_zip(name: str, version: str, files: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "manifest.json", f'{{"addon_name": "{name}", "addon_version": "{version}"}}'
        )
        for path, data in (files or {"addon/private/client.zip": b"client bytes"}).items():
            archive.writestr(path, data)
    return buffer.getvalue()


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 64 * 1024):
        yield data[start : start + 64 * 1024]


async def store_addon(runtime: Runtime, name: str, version: str, data: bytes) -> StoredArchive:
    async with runtime.db.transaction() as conn:
        archive = await write_archive(conn, _chunks(data), max_size=len(data) + 1)
        await save_addon(
            conn,
            name=name,
            version=version,
            title=None,
            description=None,
            manifest={},
            archive=archive,
            created_by=None,
        )
    return archive


async def store_package(runtime: Runtime, kind, filename: str, data: bytes) -> None:
    async with runtime.db.transaction() as conn:
        await create_package(
            conn,
            kind,
            filename=filename,
            platform="linux",
            version="1.0.0" if kind is INSTALLERS else None,
            data={},
        )
        archive = await write_archive(conn, _chunks(data), max_size=len(data) + 1)
        await attach_archive(conn, kind, filename, archive)


async def statuses(runtime: Runtime, replica: ReplicaIdentity) -> dict[tuple[str, str], tuple]:
    rows = await runtime.db.fetch(
        "SELECT kind, name, version, status, error, attempts FROM public.replica_packages "
        "WHERE replica_id = $1",
        replica.id,
    )
    return {
        (row["kind"], f"{row['name']} {row['version']}".strip()): (
            row["status"],
            row["error"],
            row["attempts"],
        )
        for row in rows
    }


def files_under(root: Path) -> list[str]:
    """Every path below root, hidden work files included, relative to root."""
    if not root.exists():
        return []
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


async def test_reconcile_installs_what_is_declared_and_removes_what_no_longer_is(
    runtime: Runtime, replica_runtime: Runtime, tmp_path: Path
) -> None:
    replica = ReplicaIdentity.new()
    installer = BackgroundInstaller(replica_runtime, replica)
    payload = os.urandom(300_000)
    await store_addon(
        runtime,
        "myaddon",
        "1.2.3",
        addon_zip("myaddon", "1.2.3", {"addon/private/client.zip": payload, "addon/x.py": b"x"}),
    )
    await store_package(runtime, DEPENDENCY_PACKAGES, "deps-linux.zip", b"dependency bytes")
    await store_package(runtime, INSTALLERS, "AYON-1.0.0-linux.sh", b"installer bytes")
    hand_placed = tmp_path / "addons" / "manual" / "0.1.0"
    hand_placed.mkdir(parents=True)

    await installer.reconcile()

    version_dir = tmp_path / "addons" / "myaddon" / "1.2.3"
    assert (version_dir / "private" / "client.zip").read_bytes() == payload
    assert (version_dir / "x.py").read_bytes() == b"x"
    storage = tmp_path / "storage"
    assert (storage / "dependency_packages" / "deps-linux.zip").read_bytes() == b"dependency bytes"
    assert (storage / "installers" / "AYON-1.0.0-linux.sh").read_bytes() == b"installer bytes"
    assert await statuses(runtime, replica) == {
        ("addon", "myaddon 1.2.3"): ("installed", None, 0),
        ("dependencyPackage", "deps-linux.zip"): ("installed", None, 0),
        ("installer", "AYON-1.0.0-linux.sh"): ("installed", None, 0),
    }

    async with runtime.db.transaction() as conn:
        await delete_addons(conn, "myaddon")
        await delete_package(conn, DEPENDENCY_PACKAGES, "deps-linux.zip")
    await installer.reconcile()

    assert not (tmp_path / "addons" / "myaddon").exists()
    assert not (storage / "dependency_packages" / "deps-linux.zip").exists()
    assert files_under(storage / "dependency_packages") == []
    assert (storage / "installers" / "AYON-1.0.0-linux.sh").exists()
    assert hand_placed.is_dir(), "a directory the installer did not make is left alone"
    assert list(await statuses(runtime, replica)) == [("installer", "AYON-1.0.0-linux.sh")]


async def test_a_new_upload_of_the_same_version_replaces_the_local_copy(
    runtime: Runtime, replica_runtime: Runtime, tmp_path: Path
) -> None:
    installer = BackgroundInstaller(replica_runtime, ReplicaIdentity.new())
    await store_addon(runtime, "myaddon", "1.0.0", addon_zip("myaddon", "1.0.0", {"addon/a": b"1"}))
    await installer.reconcile()
    await store_addon(runtime, "myaddon", "1.0.0", addon_zip("myaddon", "1.0.0", {"addon/b": b"2"}))

    await installer.reconcile()

    assert files_under(tmp_path / "addons") == [
        "myaddon",
        "myaddon/1.0.0",
        "myaddon/1.0.0/.ayon-sha256",
        "myaddon/1.0.0/b",
    ]


async def test_a_corrupted_stored_archive_is_failed_with_the_reason_and_nothing_is_written(
    runtime: Runtime, replica_runtime: Runtime, tmp_path: Path
) -> None:
    replica = ReplicaIdentity.new()
    installer = BackgroundInstaller(replica_runtime, replica)
    archive = await store_addon(runtime, "broken", "1.0.0", addon_zip("broken", "1.0.0"))
    await runtime.db.execute("SELECT lo_put($1, 10, '\\xdeadbeef'::bytea)", archive.oid)

    await installer.reconcile()

    status, error, attempts = (await statuses(runtime, replica))[("addon", "broken 1.0.0")]
    assert (status, attempts) == ("failed", 1)
    assert "checksum mismatch" in error and archive.sha256 in error
    assert files_under(tmp_path / "addons") == []

    await installer.reconcile()  # within the backoff: not tried again
    assert (await statuses(runtime, replica))[("addon", "broken 1.0.0")][2] == 1


async def test_an_archive_gone_while_it_is_read_is_failed_then_forgotten_once_undeclared(
    runtime: Runtime, replica_runtime: Runtime, tmp_path: Path
) -> None:
    replica = ReplicaIdentity.new()
    installer = BackgroundInstaller(replica_runtime, replica)
    archive = await store_addon(runtime, "fleeting", "1.0.0", addon_zip("fleeting", "1.0.0"))
    await runtime.db.execute("SELECT lo_unlink($1)", archive.oid)

    await installer.reconcile()

    status, error, _ = (await statuses(runtime, replica))[("addon", "fleeting 1.0.0")]
    assert status == "failed" and "gone" in error
    await runtime.db.execute("DELETE FROM public.addons WHERE name = 'fleeting'")
    await installer.reconcile()
    assert await statuses(runtime, replica) == {}
    assert files_under(tmp_path / "addons") == []


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ({"addon/../../escaped.txt": b"evil"}, "escapes the target"),
        ({"/etc/absolute.txt": b"evil"}, "absolute path"),
        ({f"addon/f{i}": b"" for i in range(30)}, "more than 20 entries"),
        ({"addon/bomb": b"\0" * 5_000_000}, "compression ratio"),
    ],
)
async def test_a_hostile_archive_stored_with_a_valid_checksum_is_refused_and_writes_nothing(
    runtime: Runtime,
    replica_runtime: Runtime,
    tmp_path: Path,
    entries: dict[str, bytes],
    reason: str,
) -> None:
    replica = ReplicaIdentity.new()
    installer = BackgroundInstaller(replica_runtime, replica, limits=ZipLimits(max_entries=20))
    await store_addon(runtime, "hostile", "1.0.0", addon_zip("hostile", "1.0.0", entries))

    await installer.reconcile()

    status, error, _ = (await statuses(runtime, replica))[("addon", "hostile 1.0.0")]
    assert status == "failed" and reason in error
    assert files_under(tmp_path / "addons") == []
    assert (
        not (tmp_path / "escaped.txt").exists() and not (tmp_path.parent / "escaped.txt").exists()
    )


async def test_a_symlink_entry_is_refused(
    runtime: Runtime, replica_runtime: Runtime, tmp_path: Path
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest.json", '{"addon_name": "linky", "addon_version": "1.0.0"}')
        link = zipfile.ZipInfo("addon/passwd")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    replica = ReplicaIdentity.new()
    installer = BackgroundInstaller(replica_runtime, replica)
    await store_addon(runtime, "linky", "1.0.0", buffer.getvalue())

    await installer.reconcile()

    status, error, _ = (await statuses(runtime, replica))[("addon", "linky 1.0.0")]
    assert status == "failed" and "symlink" in error
    assert files_under(tmp_path / "addons") == []


async def install_event(runtime: Runtime, replica: ReplicaIdentity, name: str, sha: str) -> str:
    return await runtime.events.dispatch(
        INSTALL_TOPIC,
        status="in_progress",
        description=f"Unpacking addon {name} 1.0.0",
        summary={"name": name, "version": "1.0.0", "sha256": sha, "replicaId": replica.id},
    )


async def test_the_receiving_replica_ends_the_install_event_once_it_unpacked_the_addon(
    runtime: Runtime, replica_runtime: Runtime
) -> None:
    replica = ReplicaIdentity.new()
    other = BackgroundInstaller(replica_runtime, ReplicaIdentity.new())
    installer = BackgroundInstaller(replica_runtime, replica)
    archive = await store_addon(runtime, "good", "1.0.0", addon_zip("good", "1.0.0"))
    event_id = await install_event(runtime, replica, "good", archive.sha256)
    await heartbeat(runtime.db, replica)  # the receiver is live

    await other.reconcile()  # another live replica unpacking it does not end the event
    assert (await runtime.events.get(event_id)).status == "in_progress"
    await installer.reconcile()

    event = await runtime.events.get(event_id)
    assert (event.status, event.description) == ("finished", "Addon good 1.0.0 installed")
    assert sorted(event.summary["replicas"]) == sorted([replica.id, other.replica.id])
    assert event.sender == "background-installer"


async def test_an_archive_the_receiving_replica_cannot_unpack_fails_its_event_once(
    runtime: Runtime, replica_runtime: Runtime
) -> None:
    replica = ReplicaIdentity.new()
    installer = BackgroundInstaller(replica_runtime, replica)
    archive = await store_addon(
        runtime, "bad", "1.0.0", addon_zip("bad", "1.0.0", {"addon/../x": b"x"})
    )
    event_id = await install_event(runtime, replica, "bad", archive.sha256)

    await installer.reconcile()

    event = await runtime.events.get(event_id)
    assert event.status == "failed"
    assert event.description.startswith("Error while unpacking addon: Unsafe archive")
    await installer.reconcile()
    assert (await runtime.events.get(event_id)).updated_at == event.updated_at


async def test_an_event_whose_receiving_replica_is_gone_is_ended_by_another(
    runtime: Runtime, replica_runtime: Runtime
) -> None:
    gone = ReplicaIdentity.new()
    installer = BackgroundInstaller(replica_runtime, ReplicaIdentity.new())
    archive = await store_addon(runtime, "orphan", "1.0.0", addon_zip("orphan", "1.0.0"))
    event_id = await install_event(runtime, gone, "orphan", archive.sha256)

    await installer.reconcile()

    assert (await runtime.events.get(event_id)).status == "finished"


async def test_a_failure_is_retried_with_backoff_until_it_installs(
    runtime: Runtime, replica_runtime: Runtime, tmp_path: Path
) -> None:
    replica = ReplicaIdentity.new()
    installer = BackgroundInstaller(replica_runtime, replica, interval=3600, retry_initial=0.2)
    await store_package(runtime, DEPENDENCY_PACKAGES, "deps.zip", b"bytes")
    storage = tmp_path / "storage"
    storage.mkdir()
    (storage / "dependency_packages").write_text("a file where the directory should be")

    installer.start()
    try:

        async def status() -> tuple | None:
            return (await statuses(runtime, replica)).get(("dependencyPackage", "deps.zip"))

        async def failed() -> tuple | None:
            current = await status()
            return current if current is not None and current[0] == "failed" else None

        first = await wait_until(failed, what="the first attempt")
        assert "Error" in first[1] and first[2] >= 1
        (storage / "dependency_packages").unlink()

        async def installed() -> bool:
            current = await status()
            return current is not None and current[0] == "installed"

        await wait_until(installed, timeout=15, what="the retry")
    finally:
        await installer.stop(5)
    assert (storage / "dependency_packages" / "deps.zip").read_bytes() == b"bytes"


async def test_a_notification_makes_a_running_installer_reconcile_at_once(
    runtime: Runtime, replica_runtime: Runtime, tmp_path: Path
) -> None:
    replica = ReplicaIdentity.new()
    installer = BackgroundInstaller(replica_runtime, replica, interval=3600)
    installer.start()
    try:
        await wait_until(installer.subscribed.is_set, what="the subscription")
        await wait_until(lambda: installer.passes >= 1, what="the first reconcile")
        await store_package(runtime, INSTALLERS, "AYON-1.0.0.exe", b"exe")
        await notify_packages_changed(runtime.redis)

        async def installed() -> bool:
            return (tmp_path / "storage" / "installers" / "AYON-1.0.0.exe").exists()

        await wait_until(installed, timeout=10, what="the notified install")
    finally:
        await installer.stop(5)
    assert installer.health()["installed"] == 1


async def test_leftovers_of_an_interrupted_install_are_cleared_at_start(
    replica_runtime: Runtime, tmp_path: Path
) -> None:
    addons = tmp_path / "addons"
    old = [addons / "myaddon" / ".unpack-1.0.0-abcd", addons / ".download-myaddon-1.0.0-abcd"]
    old[0].mkdir(parents=True)
    old[1].write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    for path in old:
        os.utime(path, (two_hours_ago, two_hours_ago))
    # Perhaps another replica's install in progress, on a shared volume: kept.
    recent = tmp_path / "storage" / "installers" / ".download-AYON.exe--abcd"
    recent.parent.mkdir(parents=True)
    recent.write_bytes(b"partial")
    installer = BackgroundInstaller(replica_runtime, ReplicaIdentity.new())

    await installer.reconcile()

    assert files_under(addons) == ["myaddon"]
    assert recent.exists()


async def test_without_redis_the_periodic_reconcile_still_installs(
    runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    closed_port = free_port()
    offline = Runtime.create(
        settings.model_copy(
            update={
                "redis_url": f"redis://127.0.0.1:{closed_port}/0",
                "addons_dir": str(tmp_path / "addons"),
                "storage_dir": str(tmp_path / "storage"),
            }
        )
    )
    installer = BackgroundInstaller(offline, ReplicaIdentity.new(), interval=0.2)
    installer.start()
    try:
        await wait_until(lambda: installer.passes >= 1, what="the first reconcile")
        await store_package(runtime, INSTALLERS, "AYON-2.0.0.exe", b"exe")
        await notify_packages_changed(offline.redis)  # nobody hears it; it does not raise

        target = tmp_path / "storage" / "installers" / "AYON-2.0.0.exe"
        await wait_until(target.exists, timeout=10, what="the periodic install")
    finally:
        await installer.stop(5)
        await offline.close()
    assert not installer.subscribed.is_set()
