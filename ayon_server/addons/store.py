"""The rows that declare addons, bundles, dependency packages and installers.

Each stored addon version, dependency package and installer points at one archive (a large
object, archives.py). Whoever replaces or deletes a row unlinks its archive in the same
transaction, so no archive outlives its row and no row points at a missing archive. Dependency
packages and installers are one concept (a file with a manifest, uploaded after it) and share
one implementation, parameterized by `PackageKind`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

from ayon_server.addons.archives import Executor, StoredArchive, delete_archive
from ayon_server.exceptions import ConflictException, NotFoundException

# ---------------------------------------------------------------------------------------------
# Addons


@dataclass(frozen=True)
class AddonRecord:
    name: str
    version: str
    title: str | None
    description: str | None
    manifest: dict[str, Any]
    archive: StoredArchive
    created_by: str | None
    created_at: datetime


_ADDON_COLUMNS = (
    "name, version, title, description, manifest, archive_oid, sha256, size, created_by, created_at"
)


def _addon(row: asyncpg.Record) -> AddonRecord:
    return AddonRecord(
        name=row["name"],
        version=row["version"],
        title=row["title"],
        description=row["description"],
        manifest=row["manifest"],
        archive=StoredArchive(oid=row["archive_oid"], sha256=row["sha256"], size=row["size"]),
        created_by=row["created_by"],
        created_at=row["created_at"],
    )


async def list_addons(db: Executor, name: str | None = None) -> list[AddonRecord]:
    """Every stored addon version (of `name` only, when given), by name and creation."""
    rows = await db.fetch(
        f"SELECT {_ADDON_COLUMNS} FROM public.addons WHERE $1::text IS NULL OR name = $1 "
        "ORDER BY name, created_at",
        name,
    )
    return [_addon(row) for row in rows]


async def get_addon(db: Executor, name: str, version: str) -> AddonRecord | None:
    row = await db.fetchrow(
        f"SELECT {_ADDON_COLUMNS} FROM public.addons WHERE name = $1 AND version = $2",
        name,
        version,
    )
    return _addon(row) if row else None


async def save_addon(
    conn: asyncpg.Connection,
    *,
    name: str,
    version: str,
    title: str | None,
    description: str | None,
    manifest: dict[str, Any],
    archive: StoredArchive,
    created_by: str | None,
) -> AddonRecord:
    """Declare this addon version with its archive; an upload of the same version replaces the
    previous one (whose archive is unlinked). `conn` is inside the archive's transaction."""
    # Two uploads of one version at once: the second waits here, then replaces the first and
    # unlinks its archive (a row lock cannot do this while the row does not exist yet).
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('public.addons:' || $1 || '/' || $2, 0))",
        name,
        version,
    )
    previous = await conn.fetchval(
        "SELECT archive_oid FROM public.addons WHERE name = $1 AND version = $2 FOR UPDATE",
        name,
        version,
    )
    row = await conn.fetchrow(
        f"""
        INSERT INTO public.addons
            (name, version, title, description, manifest, archive_oid, sha256, size, created_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (name, version) DO UPDATE SET
            title = EXCLUDED.title, description = EXCLUDED.description,
            manifest = EXCLUDED.manifest, archive_oid = EXCLUDED.archive_oid,
            sha256 = EXCLUDED.sha256, size = EXCLUDED.size, created_by = EXCLUDED.created_by,
            created_at = now()
        RETURNING {_ADDON_COLUMNS}
        """,
        name,
        version,
        title,
        description,
        manifest,
        archive.oid,
        archive.sha256,
        archive.size,
        created_by,
    )
    if previous is not None and previous != archive.oid:
        await delete_archive(conn, previous)
    assert row is not None
    return _addon(row)


async def delete_addons(
    conn: asyncpg.Connection, name: str, version: str | None = None
) -> list[AddonRecord]:
    """Delete every version of the addon (or one) and their archives; 404 when none matched,
    409 naming a bundle that uses one of them."""
    rows = await conn.fetch(
        f"SELECT {_ADDON_COLUMNS} FROM public.addons "
        "WHERE name = $1 AND ($2::text IS NULL OR version = $2) FOR UPDATE",
        name,
        version,
    )
    if not rows:
        what = f"Addon {name} {version}" if version else f"Addon {name}"
        raise NotFoundException(f"{what} not found")
    versions = [row["version"] for row in rows]
    users = await conn.fetch(
        "SELECT name, data->'addons'->>$1 AS version FROM public.bundles "
        "WHERE data->'addons'->>$1 = ANY($2::text[]) ORDER BY name",
        name,
        versions,
    )
    if users:
        used = users[0]
        raise ConflictException(
            f"Addon {name} {used['version']} is used by bundle {used['name']}",
            bundle=used["name"],
        )
    await conn.execute(
        "DELETE FROM public.addons WHERE name = $1 AND version = ANY($2::text[])", name, versions
    )
    for row in rows:
        await delete_archive(conn, row["archive_oid"])
    return [_addon(row) for row in rows]


# ---------------------------------------------------------------------------------------------
# Bundles

BundleFlag = Literal["is_production", "is_staging", "is_dev"]


@dataclass(frozen=True)
class BundleRecord:
    name: str
    # AYON's bundle fields other than the flags (addons, installerVersion, dependencyPackages,
    # addonDevelopment, ...), camelCase as on the wire.
    data: dict[str, Any]
    is_production: bool
    is_staging: bool
    is_dev: bool
    active_user: str | None
    created_at: datetime
    updated_at: datetime


_BUNDLE_COLUMNS = (
    "name, data, is_production, is_staging, is_dev, active_user, created_at, updated_at"
)


def _bundle(row: asyncpg.Record) -> BundleRecord:
    return BundleRecord(**dict(row.items()))


async def list_bundles(db: Executor) -> list[BundleRecord]:
    rows = await db.fetch(f"SELECT {_BUNDLE_COLUMNS} FROM public.bundles ORDER BY created_at")
    return [_bundle(row) for row in rows]


async def get_bundle(db: Executor, name: str, *, lock: bool = False) -> BundleRecord | None:
    row = await db.fetchrow(
        f"SELECT {_BUNDLE_COLUMNS} FROM public.bundles WHERE name = $1"
        + (" FOR UPDATE" if lock else ""),
        name,
    )
    return _bundle(row) if row else None


async def _take_flags(conn: asyncpg.Connection, name: str, production: bool, staging: bool) -> None:
    """Only one bundle is production and one staging: the one named takes the flag."""
    if production:
        await conn.execute(
            "UPDATE public.bundles SET is_production = FALSE, updated_at = now() "
            "WHERE is_production AND name <> $1",
            name,
        )
    if staging:
        await conn.execute(
            "UPDATE public.bundles SET is_staging = FALSE, updated_at = now() "
            "WHERE is_staging AND name <> $1",
            name,
        )


def _flag_race() -> ConflictException:
    return ConflictException(
        "Another bundle took the production or staging flag at the same time; retry"
    )


async def create_bundle(
    conn: asyncpg.Connection,
    *,
    name: str,
    data: dict[str, Any],
    is_production: bool = False,
    is_staging: bool = False,
    is_dev: bool = False,
    active_user: str | None = None,
) -> BundleRecord:
    """409 when a bundle of this name exists."""
    await _take_flags(conn, name, is_production, is_staging)
    try:
        row = await conn.fetchrow(
            f"""
            INSERT INTO public.bundles (name, data, is_production, is_staging, is_dev, active_user)
            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING
            RETURNING {_BUNDLE_COLUMNS}
            """,
            name,
            data,
            is_production,
            is_staging,
            is_dev,
            active_user,
        )
    except asyncpg.UniqueViolationError:
        raise _flag_race() from None
    if row is None:
        raise ConflictException(f"Bundle {name} already exists")
    return _bundle(row)


async def update_bundle(conn: asyncpg.Connection, bundle: BundleRecord) -> BundleRecord:
    """Write the bundle's new state (read with get_bundle(lock=True) in this transaction)."""
    await _take_flags(conn, bundle.name, bundle.is_production, bundle.is_staging)
    try:
        row = await conn.fetchrow(
            f"""
            UPDATE public.bundles SET data = $2, is_production = $3, is_staging = $4,
                is_dev = $5, active_user = $6, updated_at = now()
            WHERE name = $1 RETURNING {_BUNDLE_COLUMNS}
            """,
            bundle.name,
            bundle.data,
            bundle.is_production,
            bundle.is_staging,
            bundle.is_dev,
            bundle.active_user,
        )
    except asyncpg.UniqueViolationError:
        raise _flag_race() from None
    if row is None:
        raise NotFoundException(f"Bundle {bundle.name} not found")
    return _bundle(row)


async def delete_bundle(db: Executor, name: str) -> None:
    status = await db.execute("DELETE FROM public.bundles WHERE name = $1", name)
    if status == "DELETE 0":
        raise NotFoundException(f"Bundle {name} not found")


# ---------------------------------------------------------------------------------------------
# Dependency packages and installers


@dataclass(frozen=True)
class PackageKind:
    """What differs between dependency packages and installers."""

    kind: Literal["dependencyPackage", "installer"]
    title: str  # for messages
    table: str  # a constant, never user input
    has_version: bool


DEPENDENCY_PACKAGES = PackageKind(
    "dependencyPackage", "Dependency package", "public.dependency_packages", False
)
INSTALLERS = PackageKind("installer", "Installer", "public.installers", True)


@dataclass(frozen=True)
class PackageRecord:
    kind: PackageKind
    filename: str
    platform: str
    version: str | None  # installers only
    # The manifest's other fields (checksum, pythonModules, sources, ...), camelCase.
    data: dict[str, Any]
    archive: StoredArchive | None  # None until the file is uploaded
    created_at: datetime
    updated_at: datetime


def _columns(kind: PackageKind) -> str:
    version = "version" if kind.has_version else "NULL::text AS version"
    return f"filename, platform, {version}, data, archive_oid, sha256, size, created_at, updated_at"


def _package(kind: PackageKind, row: asyncpg.Record) -> PackageRecord:
    archive = None
    if row["archive_oid"] is not None:
        archive = StoredArchive(oid=row["archive_oid"], sha256=row["sha256"], size=row["size"])
    return PackageRecord(
        kind=kind,
        filename=row["filename"],
        platform=row["platform"],
        version=row["version"],
        data=row["data"],
        archive=archive,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def package_not_found(kind: PackageKind, filename: str) -> NotFoundException:
    return NotFoundException(f"{kind.title} {filename} not found")


async def list_packages(
    db: Executor,
    kind: PackageKind,
    *,
    version: str | None = None,
    platform: str | None = None,
) -> list[PackageRecord]:
    conditions = ["($1::text IS NULL OR platform = $1)"]
    args: list[Any] = [platform]
    if kind.has_version:
        conditions.append("($2::text IS NULL OR version = $2)")
        args.append(version)
    rows = await db.fetch(
        f"SELECT {_columns(kind)} FROM {kind.table} WHERE {' AND '.join(conditions)} "
        "ORDER BY filename",
        *args,
    )
    return [_package(kind, row) for row in rows]


async def get_package(
    db: Executor, kind: PackageKind, filename: str, *, lock: bool = False
) -> PackageRecord | None:
    row = await db.fetchrow(
        f"SELECT {_columns(kind)} FROM {kind.table} WHERE filename = $1"
        + (" FOR UPDATE" if lock else ""),
        filename,
    )
    return _package(kind, row) if row else None


async def create_package(
    conn: asyncpg.Connection,
    kind: PackageKind,
    *,
    filename: str,
    platform: str,
    version: str | None,
    data: dict[str, Any],
    force: bool = False,
) -> PackageRecord:
    """Declare a package from its manifest (the file comes later, attach_archive). 409 when it
    exists, unless `force`, which replaces it and drops its uploaded file."""
    existing = await get_package(conn, kind, filename, lock=True)
    if existing is not None:
        if not force:
            raise ConflictException(f"{kind.title} {filename} already exists")
        await delete_package(conn, kind, filename)
    names = ["filename", "platform", "data"] + (["version"] if kind.has_version else [])
    values: list[Any] = [filename, platform, data] + ([version] if kind.has_version else [])
    placeholders = ", ".join(f"${n}" for n in range(1, len(values) + 1))
    try:
        row = await conn.fetchrow(
            f"INSERT INTO {kind.table} ({', '.join(names)}) VALUES ({placeholders}) "
            f"RETURNING {_columns(kind)}",
            *values,
        )
    except asyncpg.UniqueViolationError:  # created by a concurrent request meanwhile
        raise ConflictException(f"{kind.title} {filename} already exists") from None
    assert row is not None
    return _package(kind, row)


async def attach_archive(
    conn: asyncpg.Connection, kind: PackageKind, filename: str, archive: StoredArchive
) -> PackageRecord:
    """The uploaded file of a declared package (a re-upload replaces the previous file)."""
    existing = await get_package(conn, kind, filename, lock=True)
    if existing is None:
        raise package_not_found(kind, filename)
    row = await conn.fetchrow(
        f"UPDATE {kind.table} SET archive_oid = $2, sha256 = $3, size = $4, updated_at = now() "
        f"WHERE filename = $1 RETURNING {_columns(kind)}",
        filename,
        archive.oid,
        archive.sha256,
        archive.size,
    )
    if existing.archive is not None and existing.archive.oid != archive.oid:
        await delete_archive(conn, existing.archive.oid)
    assert row is not None
    return _package(kind, row)


async def update_package_data(
    conn: asyncpg.Connection, kind: PackageKind, filename: str, changes: dict[str, Any]
) -> PackageRecord:
    """Merge `changes` into the manifest fields (e.g. a new `sources` list); 404 when unknown."""
    row = await conn.fetchrow(
        f"UPDATE {kind.table} SET data = data || $2::jsonb, updated_at = now() "
        f"WHERE filename = $1 RETURNING {_columns(kind)}",
        filename,
        changes,
    )
    if row is None:
        raise package_not_found(kind, filename)
    return _package(kind, row)


async def delete_package(conn: asyncpg.Connection, kind: PackageKind, filename: str) -> None:
    """Delete the package and its file; 404 when unknown."""
    oid = await conn.fetchrow(
        f"DELETE FROM {kind.table} WHERE filename = $1 RETURNING archive_oid", filename
    )
    if oid is None:
        raise package_not_found(kind, filename)
    await delete_archive(conn, oid["archive_oid"])
