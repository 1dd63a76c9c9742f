"""Installing an addon: the zip streamed into a large object, its manifest and entries checked
and its row written in one transaction, so a refused archive leaves nothing stored; then the
`addon.install` event says how it went.

A zip sent in the request body is refused at once (4xx) when it is bad. One fetched from a URL
(`?url=`) is installed after the answer, and its event ends `failed` with the reason instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import zipfile
from collections.abc import AsyncIterable
from typing import Any

import asyncpg
import httpx

from ayon_server.addons import store
from ayon_server.addons.archives import LargeObjectFile, StoredArchive, write_archive
from ayon_server.addons.installer import SENDER as INSTALLER_SENDER
from ayon_server.addons.installer import notify_packages_changed
from ayon_server.addons.manifest import AddonManifest, read_manifest
from ayon_server.events.stream import COLUMNS as EVENT_COLUMNS
from ayon_server.events.stream import EventModel
from ayon_server.exceptions import AyonException, BadRequestException
from ayon_server.runtime import Runtime

log = logging.getLogger(__name__)

INSTALL_TOPIC = "addon.install"
DOWNLOAD_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
MAX_URL_LENGTH = 2048


def install_event_hash(name: str, version: str) -> str:
    """AYON's hash of an addon's install event: one event per addon version, reused."""
    return hashlib.sha256(json.dumps([INSTALL_TOPIC, name, version]).encode()).hexdigest()


def check_url(url: str) -> str:
    if len(url) > MAX_URL_LENGTH or not url.startswith(("http://", "https://")):
        raise BadRequestException(
            f"url must be an http:// or https:// URL of at most {MAX_URL_LENGTH} characters"
        )
    return url


async def _stored_manifest(conn: asyncpg.Connection, archive: StoredArchive) -> AddonManifest:
    """Read the manifest from the just written (uncommitted) large object, on `conn`."""
    if archive.size == 0:
        raise BadRequestException("The request body is empty; send the addon zip")
    loop = asyncio.get_running_loop()

    def read() -> AddonManifest:
        try:
            with zipfile.ZipFile(LargeObjectFile(conn, archive.oid, archive.size, loop)) as zf:
                return read_manifest(zf)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
            raise BadRequestException("The archive is not a valid zip file") from exc

    return await asyncio.to_thread(read)


async def store_addon(
    runtime: Runtime,
    chunks: AsyncIterable[bytes],
    *,
    user: str | None,
    expected: tuple[str | None, str | None] = (None, None),
) -> store.AddonRecord:
    """Store the zip and declare its addon version; any error rolls everything back.

    `expected` is the (name, version) the caller announced, if any: a mismatch is refused.
    """
    async with runtime.db.transaction() as conn:
        archive = await write_archive(conn, chunks, max_size=runtime.settings.max_package_bytes)
        manifest = await _stored_manifest(conn, archive)
        announced_name, announced_version = expected
        for what, announced, found in (
            ("name", announced_name, manifest.name),
            ("version", announced_version, manifest.version),
        ):
            if announced is not None and announced != found:
                raise BadRequestException(
                    f"The archive is addon {what} {found!r}, not the announced {announced!r}"
                )
        return await store.save_addon(
            conn,
            name=manifest.name,
            version=manifest.version,
            title=manifest.title,
            description=manifest.description,
            manifest=manifest.as_json(),
            archive=archive,
            created_by=user,
        )


def _summary(addon: store.AddonRecord) -> dict[str, Any]:
    return {
        "name": addon.name,
        "version": addon.version,
        "sha256": addon.archive.sha256,
        "size": addon.archive.size,
    }


async def packages_changed(runtime: Runtime) -> None:
    """The one place that tells every replica's background installer that what the database
    declares changed (an addon, dependency package or installer stored or deleted)."""
    await notify_packages_changed(runtime.redis)


async def finish_install(
    runtime: Runtime, event_id: str, addon: store.AddonRecord, replica_id: str
) -> None:
    """The addon is stored: its event names the replica that received it, whose background
    installer ends it once it has unpacked the addon (or failed to); then tell the replicas."""
    await runtime.events.update(
        event_id,
        status="in_progress",
        description=f"Unpacking addon {addon.name} {addon.version}",
        summary={**_summary(addon), "replicaId": replica_id},
        sender=INSTALLER_SENDER,
        sender_type="system",
    )
    await packages_changed(runtime)


async def install_uploaded_addon(
    runtime: Runtime, chunks: AsyncIterable[bytes], *, user: str, replica_id: str
) -> str:
    """Install the zip of a request body; its event id. A bad archive raises (4xx), and then
    no event is written."""
    addon = await store_addon(runtime, chunks, user=user)
    event_id = await runtime.events.dispatch(
        INSTALL_TOPIC,
        hash=install_event_hash(addon.name, addon.version),
        reuse=True,
        user=user,
        status="in_progress",
        description=f"Installing addon {addon.name} {addon.version}",
        summary=_summary(addon),
    )
    await finish_install(runtime, event_id, addon, replica_id)
    return event_id


async def begin_url_install(
    runtime: Runtime, url: str, *, user: str, name: str | None, version: str | None
) -> str:
    """The pending install event of an addon to fetch from `url` (install_from_url does it)."""
    return await runtime.events.dispatch(
        INSTALL_TOPIC,
        user=user,
        status="pending",
        description=f"Downloading addon from {url}",
        summary={"url": url, "name": name, "version": version},
    )


async def install_from_url(
    runtime: Runtime,
    event_id: str,
    url: str,
    *,
    user: str,
    replica_id: str,
    expected: tuple[str | None, str | None] = (None, None),
) -> None:
    """Fetch and install the zip; the event ends `finished` once this replica unpacked it, or
    `failed` saying why."""
    await runtime.events.update(event_id, status="in_progress")
    try:
        async with (
            httpx.AsyncClient(timeout=DOWNLOAD_TIMEOUT, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise BadRequestException(f"Download failed: HTTP {response.status_code}")
            addon = await store_addon(runtime, response.aiter_bytes(), user=user, expected=expected)
    except AyonException as exc:
        await _fail(runtime, event_id, exc.detail)
        return
    except httpx.HTTPError as exc:
        await _fail(runtime, event_id, f"Download failed: {exc.__class__.__name__}: {exc}")
        return
    except Exception as exc:
        log.error("installing an addon from %s failed", url, exc_info=exc)
        await _fail(runtime, event_id, f"Unexpected error: {exc.__class__.__name__}")
        return
    await finish_install(runtime, event_id, addon, replica_id)


async def _fail(runtime: Runtime, event_id: str, reason: str) -> None:
    await runtime.events.update(
        event_id, status="failed", description=f"Error while installing addon: {reason}"
    )


async def recent_installs(runtime: Runtime, limit: int = 100) -> list[EventModel]:
    """The newest install events, for the install list."""
    rows = await runtime.db.fetch(
        f"SELECT {EVENT_COLUMNS} FROM public.events WHERE topic = $1 "
        "ORDER BY created_at DESC LIMIT $2",
        INSTALL_TOPIC,
        limit,
    )
    return [EventModel.from_row(row) for row in rows]
