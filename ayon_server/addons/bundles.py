"""Bundle rules (AYON's): which addon versions, installer version and dependency package per
platform make a set, and which set is production, staging or a developer's.

* A bundle names only stored addon versions (a `null` version leaves the addon out).
* A dev bundle is never production or staging; only dev bundles change their addons, installer
  version, development config or active user after creation. Any bundle may change its flags and
  its dependency packages (per platform; `null` removes one).
* One bundle is production and one staging: taking a flag takes it from the other bundle.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import asyncpg

from ayon_server.addons import store
from ayon_server.exceptions import BadRequestException, NotFoundException

# Fields only a dev bundle may change after creation.
DEV_ONLY_FIELDS = ("addons", "installerVersion", "addonDevelopment", "activeUser")


async def check_addons_exist(conn: asyncpg.Connection, addons: dict[str, str | None]) -> None:
    """400 naming the first addon version that is not stored. The versions found stay locked
    (FOR SHARE) until the transaction ends, so they cannot be deleted under the new bundle."""
    wanted = sorted((name, version) for name, version in addons.items() if version is not None)
    if not wanted:
        return
    rows = await conn.fetch(
        "SELECT name, version FROM public.addons "
        "WHERE (name, version) IN (SELECT * FROM unnest($1::text[], $2::text[])) FOR SHARE",
        [name for name, _ in wanted],
        [version for _, version in wanted],
    )
    found = {(row["name"], row["version"]) for row in rows}
    for name, version in wanted:
        if (name, version) not in found:
            raise BadRequestException(f"Addon {name} {version} is not installed")


def _check_flags(is_production: bool, is_staging: bool, is_dev: bool) -> None:
    if is_dev and (is_production or is_staging):
        raise BadRequestException("A dev bundle cannot be production or staging")


async def create(
    conn: asyncpg.Connection,
    *,
    name: str,
    data: dict[str, Any],
    is_production: bool,
    is_staging: bool,
    is_dev: bool,
    active_user: str | None,
) -> store.BundleRecord:
    _check_flags(is_production, is_staging, is_dev)
    if active_user is not None and not is_dev:
        raise BadRequestException("Only a dev bundle has an active user")
    await check_addons_exist(conn, data.get("addons", {}))
    return await store.create_bundle(
        conn,
        name=name,
        data=data,
        is_production=is_production,
        is_staging=is_staging,
        is_dev=is_dev,
        active_user=active_user,
    )


async def patch(conn: asyncpg.Connection, name: str, changes: dict[str, Any]) -> store.BundleRecord:
    """Apply the given fields (AYON's camelCase names; absent ones stay as they are)."""
    bundle = await store.get_bundle(conn, name, lock=True)
    if bundle is None:
        raise NotFoundException(f"Bundle {name} not found")
    is_dev = changes.get("isDev", bundle.is_dev)
    if not bundle.is_dev and not is_dev:
        changed = [f for f in DEV_ONLY_FIELDS if f in changes and changes[f] != _current(bundle, f)]
        if changed:
            raise BadRequestException(
                f"Only a dev bundle can change {', '.join(changed)} after creation"
            )
    data = dict(bundle.data)
    for field in ("addons", "installerVersion", "addonDevelopment"):
        if field in changes:
            data[field] = changes[field]
    if "addons" in changes:
        await check_addons_exist(conn, data["addons"])
    if "dependencyPackages" in changes:
        packages = dict(data.get("dependencyPackages", {}))
        for platform, filename in changes["dependencyPackages"].items():
            if filename is None:
                packages.pop(platform, None)
            else:
                packages[platform] = filename
        data["dependencyPackages"] = packages
    updated = replace(
        bundle,
        data=data,
        is_production=changes.get("isProduction", bundle.is_production),
        is_staging=changes.get("isStaging", bundle.is_staging),
        is_dev=is_dev,
        active_user=changes.get("activeUser", bundle.active_user) if is_dev else None,
    )
    _check_flags(updated.is_production, updated.is_staging, updated.is_dev)
    return await store.update_bundle(conn, updated)


def _current(bundle: store.BundleRecord, field: str) -> Any:
    return bundle.active_user if field == "activeUser" else bundle.data.get(field)
