"""The background installer: every server replica makes its local copies match what the
database declares (addons, dependency packages, installers), and says how far it got.

The database is the one source of truth and each replica's disk only a cache, so replicas need
no shared volume and a replica started later catches up by itself. A reconcile runs at start,
whenever `notify_packages_changed` announces a change over Redis, and every
AYON_INSTALLER_INTERVAL seconds as a fallback (a lost notification costs a minute, not a copy).

For each declared archive whose local copy is missing or comes from another archive, the
installer streams it from its large object to a temporary file (1 MiB at a time, never whole in
memory), verifies its sha256 and size, then unpacks it safely (addons, see lib/safe_zip) or moves
it into place with one atomic rename. Copies the database no longer declares are removed. A
failure is recorded `failed` with its reason and retried with an exponential backoff; a new
upload of the same package is tried at once. Every step is written to public.replica_packages
(`pending`, `installed`, `failed` + error) for GET /api/system/replicas.

An `addon.install` event names the replica that received the upload; that replica's installer
ends it `finished` once it has unpacked the addon (the summary lists every replica that has),
or `failed` with the reason, never both. When that replica is gone, any replica that has the
addon ends the event.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg
from redis.exceptions import RedisError

from ayon_server.addons.archives import read_archive
from ayon_server.addons.local import ChecksumMismatch, HashingWriter, LocalKey, LocalPackages
from ayon_server.addons.store import DEPENDENCY_PACKAGES, INSTALLERS, list_addons, list_packages
from ayon_server.exceptions import AyonException
from ayon_server.lib.redis import Redis
from ayon_server.lib.safe_zip import ZipLimits
from ayon_server.lib.timestamps import isoformat_or_none
from ayon_server.lib.workers import BackgroundWorker
from ayon_server.replicas.identity import ReplicaIdentity
from ayon_server.replicas.store import (
    LIVE_WITHIN,
    PackageStatus,
    PackageStatusRow,
    delete_package_status,
    heartbeat,
    package_statuses,
    replicas_with_installed,
    set_package_status,
)
from ayon_server.runtime import Runtime

log = logging.getLogger(__name__)

# Redis channel (prefixed by the Redis wrapper) on which any replica announces a change.
PACKAGES_CHANNEL = "addons.packages_changed"
INSTALL_TOPIC = "addon.install"
SENDER = "background-installer"
# Backoff before retry n of a failed package: RETRY_INITIAL * 2**(n-1), capped.
RETRY_INITIAL = 5.0
RETRY_MAX = 600.0
# What zipfile raises for archives it cannot unpack (besides BadZipFile, which safe_zip turns
# into a 400): unsupported compression, encryption, truncated or corrupt data.
UNPACK_ERRORS = (ValueError, NotImplementedError, RuntimeError, EOFError, zlib.error)
# How long a stopping installer waits for its notification listener (it never blocks for long).
LISTENER_STOP_TIMEOUT = 2.0
# An install event fails once its receiving replica failed this many times in a row (a bad
# archive fails it at once: retrying cannot make its bytes right).
EVENT_FAILS_AFTER = 3


async def notify_packages_changed(redis: Redis) -> None:
    """Tell every replica's installer that what the database declares changed.

    Call it after the change committed. Without Redis the installers still find the change
    within AYON_INSTALLER_INTERVAL, so a failed announcement is only logged.
    """
    try:
        await redis.publish(PACKAGES_CHANNEL, "changed")
    except (RedisError, OSError) as exc:
        log.warning(
            "could not announce a package change on Redis (%s); replicas will "
            "find it on their next periodic reconcile",
            exc,
        )


@dataclass(frozen=True)
class DeclaredPackage:
    key: LocalKey
    oid: int
    sha256: str
    size: int


async def declared_packages(runtime: Runtime) -> dict[LocalKey, DeclaredPackage]:
    """What the database says every replica should have (packages without a file yet: not)."""
    declared: dict[LocalKey, DeclaredPackage] = {}
    for addon in await list_addons(runtime.db):
        key = LocalKey("addon", addon.name, addon.version)
        declared[key] = DeclaredPackage(
            key, addon.archive.oid, addon.archive.sha256, addon.archive.size
        )
    for kind in (DEPENDENCY_PACKAGES, INSTALLERS):
        for package in await list_packages(runtime.db, kind):
            if package.archive is None:
                continue
            key = LocalKey(kind.kind, package.filename)
            declared[key] = DeclaredPackage(
                key, package.archive.oid, package.archive.sha256, package.archive.size
            )
    return declared


@dataclass
class Failure:
    sha256: str
    attempts: int
    error: str
    # Bad bytes (checksum, unsafe or broken zip): no retry can fix that archive.
    permanent: bool
    retry_at: float


class BackgroundInstaller(BackgroundWorker):
    name = "background_installer"

    def __init__(
        self,
        runtime: Runtime,
        replica: ReplicaIdentity,
        *,
        interval: float | None = None,
        limits: ZipLimits | None = None,
        retry_initial: float = RETRY_INITIAL,
    ) -> None:
        super().__init__()
        self.runtime = runtime
        self.replica = replica
        self.interval = interval or runtime.settings.installer_interval
        self.limits = limits or ZipLimits()
        self.retry_initial = retry_initial
        self.local = LocalPackages(runtime.settings.addons_dir, runtime.settings.storage_dir)
        self.failures: dict[LocalKey, Failure] = {}
        self.passes = 0
        self.installed_total = 0
        self.removed_total = 0
        self.last_reconcile_at: datetime | None = None
        # Set while the Redis subscription is up, so a notification would be heard.
        self.subscribed = asyncio.Event()
        self._wake = asyncio.Event()
        # Reconciles begun and ended (a failed one ends too), for wait_for_next_pass.
        self._passes_started = 0
        self._passes_ended = 0
        self._pass_done = asyncio.Condition()

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        listener = asyncio.create_task(self._listen(), name="installer-notifications")
        try:
            while True:
                self._wake.clear()
                await self.reconcile()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self._next_wait())
                except TimeoutError:
                    pass
        finally:
            listener.cancel()
            await asyncio.wait({listener}, timeout=LISTENER_STOP_TIMEOUT)
            self.subscribed.clear()

    def wake(self) -> None:
        """Reconcile now (what a notification does)."""
        self._wake.set()

    def _next_wait(self) -> float:
        loop = asyncio.get_running_loop()
        retries = [f.retry_at - loop.time() for f in self.failures.values()]
        return max(min([self.interval, *retries]), 0.05)

    async def _listen(self) -> None:
        """Wake the loop on every notification; reconnect with backoff when Redis goes away."""
        task = asyncio.current_task()
        delay = 1.0
        while True:
            pubsub = self.runtime.redis.pubsub()
            try:
                await self.runtime.redis.subscribe(pubsub, PACKAGES_CHANNEL)
                self.subscribed.set()
                delay = 1.0
                while True:
                    _raise_if_cancel_was_lost(task)
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                    if message is not None and message["type"] == "message":
                        self._wake.set()
            except (RedisError, OSError) as exc:
                log.warning("installer notifications unavailable (%s); retrying", exc)
            finally:
                self.subscribed.clear()
                await pubsub.aclose()
            _raise_if_cancel_was_lost(task)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
            self._wake.set()  # a change may have been announced while we were away

    # -- one reconcile ----------------------------------------------------------------------

    async def reconcile(self) -> None:
        """Install what is missing or different, remove what is no longer declared, record it."""
        self._passes_started += 1
        try:
            await self._reconcile()
        finally:
            self._passes_ended += 1
            async with self._pass_done:
                self._pass_done.notify_all()

    async def wait_for_next_pass(self, timeout: float) -> bool:
        """Wake the loop and wait until a reconcile that started after this call has ended
        (False after `timeout`, or at once when the worker is not running or waits to restart)."""
        if not self.running or self.state != "running":
            return False
        target = self._passes_started + 1
        self.wake()
        try:
            async with asyncio.timeout(timeout), self._pass_done:
                await self._pass_done.wait_for(lambda: self._passes_ended >= target)
        except TimeoutError:
            return False
        return True

    async def _reconcile(self) -> None:
        db = self.runtime.db
        # The status rows hang off this replica's row; the heartbeat may not have run yet.
        await heartbeat(db, self.replica)
        removed = await asyncio.to_thread(self.local.remove_litter)
        if removed:
            log.info("removed %d leftovers of interrupted installs", removed)
        declared = await declared_packages(self.runtime)
        statuses = {
            LocalKey(row.kind, row.name, row.version): row
            for row in await package_statuses(db, self.replica.id)
        }
        local = set(await asyncio.to_thread(self.local.installed))
        loop = asyncio.get_running_loop()

        for key in sorted(local - set(declared), key=str):
            await asyncio.to_thread(self.local.remove, key)
            self.removed_total += 1
            log.info("removed %s: no longer declared", key)
        for key in set(statuses) - set(declared):
            await delete_package_status(db, self.replica.id, key.kind, key.name, key.version)
        for key in set(self.failures) - set(declared):
            del self.failures[key]

        for key, package in sorted(declared.items(), key=lambda item: str(item[0])):
            have = await asyncio.to_thread(self.local.installed_sha256, key)
            if have == package.sha256:
                self.failures.pop(key, None)
                await self._record(statuses.get(key), package, "installed", None, 0)
                continue
            failure = self.failures.get(key)
            if failure and failure.sha256 == package.sha256 and failure.retry_at > loop.time():
                continue
            await self._install(package, statuses.get(key), failure)

        await self._settle_install_events(declared)
        self.passes += 1
        self.last_reconcile_at = datetime.now(UTC)

    async def _record(
        self,
        current: PackageStatusRow | None,
        package: DeclaredPackage,
        status: PackageStatus,
        error: str | None,
        attempts: int,
    ) -> None:
        """Write the status row unless it already says exactly this."""
        if current is not None and (
            current.status,
            current.sha256,
            current.error,
            current.attempts,
        ) == (status, package.sha256, error, attempts):
            return
        key = package.key
        await set_package_status(
            self.runtime.db,
            self.replica.id,
            key.kind,
            key.name,
            key.version,
            status,
            sha256=package.sha256,
            error=error,
            attempts=attempts,
        )

    async def _install(
        self, package: DeclaredPackage, current: PackageStatusRow | None, failure: Failure | None
    ) -> None:
        key = package.key
        attempts = failure.attempts if failure and failure.sha256 == package.sha256 else 0
        await self._record(current, package, "pending", None, attempts)
        try:
            await self._materialize(package)
        except (
            ChecksumMismatch,
            AyonException,
            OSError,
            asyncpg.UndefinedObjectError,
            *UNPACK_ERRORS,
        ) as exc:
            permanent = not isinstance(exc, OSError | asyncpg.UndefinedObjectError)
            error = _reason(exc)
            if isinstance(exc, asyncpg.UndefinedObjectError):
                self.wake()  # deleted or replaced while being read: look again at once
            attempts += 1
            delay = min(self.retry_initial * 2 ** (attempts - 1), RETRY_MAX)
            self.failures[key] = Failure(
                package.sha256,
                attempts,
                error,
                permanent,
                asyncio.get_running_loop().time() + delay,
            )
            await set_package_status(
                self.runtime.db,
                self.replica.id,
                key.kind,
                key.name,
                key.version,
                "failed",
                sha256=package.sha256,
                error=error,
                attempts=attempts,
            )
            log.warning(
                "could not install %s (attempt %d, retrying in %.0f s): %s",
                key,
                attempts,
                delay,
                error,
            )
            return
        self.failures.pop(key, None)
        self.installed_total += 1
        await set_package_status(
            self.runtime.db,
            self.replica.id,
            key.kind,
            key.name,
            key.version,
            "installed",
            sha256=package.sha256,
        )
        log.info("installed %s (%d bytes)", key, package.size)

    async def _materialize(self, package: DeclaredPackage) -> None:
        """Stream the archive to a temporary file, verify it, then unpack or move it."""
        key = package.key
        download = await asyncio.to_thread(self.local.download_path, key)
        writer = await asyncio.to_thread(HashingWriter, download)
        try:
            try:
                async for chunk in read_archive(self.runtime.db, package.oid):
                    await asyncio.to_thread(writer.write, chunk)
            finally:
                writer.close()
            writer.verify(package.sha256, package.size)
            if key.kind == "addon":
                await asyncio.to_thread(
                    self.local.put_addon, key, download, package.sha256, self.limits
                )
            else:
                await asyncio.to_thread(self.local.put_file, key, download, package.sha256)
        finally:
            await asyncio.to_thread(self.local.discard, download, key)

    # -- install events ---------------------------------------------------------------------

    async def _settle_install_events(self, declared: dict[LocalKey, DeclaredPackage]) -> None:
        """End the addon.install events this replica received (or whose receiver is gone)."""
        rows = await self.runtime.db.fetch(
            """
            SELECT e.id, e.summary FROM public.events e
            WHERE e.topic = $1 AND e.status IN ('pending', 'in_progress')
              AND e.summary ? 'replicaId'
              AND (e.summary->>'replicaId' = $2 OR NOT EXISTS (
                  SELECT 1 FROM public.replicas r
                  WHERE r.id = e.summary->>'replicaId' AND r.last_seen >= now() - $3::interval))
            """,
            INSTALL_TOPIC,
            self.replica.id,
            LIVE_WITHIN,
        )
        for row in rows:
            summary: dict[str, Any] = row["summary"]
            name, version = summary.get("name"), summary.get("version")
            mine = summary.get("replicaId") == self.replica.id
            key = LocalKey("addon", str(name), str(version))
            package = declared.get(key)
            if package is None:
                await self._end_event(
                    row["id"], "failed", f"Addon {name} {version} is no longer stored", summary
                )
                continue
            if summary.get("sha256") not in (None, package.sha256):
                continue  # a newer upload of this version replaced it; its event follows
            have = await asyncio.to_thread(self.local.installed_sha256, key)
            failure = self.failures.get(key)
            if have == package.sha256:
                replicas = await replicas_with_installed(
                    self.runtime.db, "addon", key.name, key.version, package.sha256
                )
                await self._end_event(
                    row["id"],
                    "finished",
                    f"Addon {name} {version} installed",
                    {**summary, "replicas": replicas},
                )
            elif (
                mine
                and failure
                and failure.sha256 == package.sha256
                and (failure.permanent or failure.attempts >= EVENT_FAILS_AFTER)
            ):
                await self._end_event(
                    row["id"], "failed", f"Error while unpacking addon: {failure.error}", summary
                )

    async def _end_event(
        self,
        event_id: Any,
        status: Literal["finished", "failed"],
        description: str,
        summary: dict[str, Any],
    ) -> None:
        await self.runtime.events.update(
            event_id,
            status=status,
            description=description,
            summary=summary,
            sender=SENDER,
            sender_type="system",
            only_if_status=("pending", "in_progress"),
        )

    def health(self) -> dict[str, Any]:
        return {
            **super().health(),
            "replicaId": self.replica.id,
            "interval": self.interval,
            "subscribed": self.subscribed.is_set(),
            "passes": self.passes,
            "installed": self.installed_total,
            "removed": self.removed_total,
            "failing": sorted(str(key) for key in self.failures),
            "lastReconcileAt": isoformat_or_none(self.last_reconcile_at),
        }


def _raise_if_cancel_was_lost(task: asyncio.Task[Any] | None) -> None:
    """On Python 3.11 redis-py's connect (asyncio.wait_for, CPython gh-86296) can swallow a
    cancellation that arrives as it completes; the request stays counted in `cancelling()`."""
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncpg.UndefinedObjectError):
        return "the stored archive is gone (deleted or replaced while it was read)"
    if isinstance(exc, AyonException):
        return str(exc.detail)
    if isinstance(exc, ChecksumMismatch):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{exc.__class__.__name__}: {exc}"
    return f"The archive cannot be unpacked: {exc.__class__.__name__}: {exc}"
