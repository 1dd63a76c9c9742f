"""Bundles: named sets of addon versions, an installer version and one
dependency package per platform; one is production, one staging, any number dev.

    GET    /api/bundles          {"bundles", "productionBundle", "stagingBundle", "devBundles"}
    POST   /api/bundles          201 (admins)
    PATCH  /api/bundles/{name}   204 (admins): flags, dependency packages; anything for dev ones
    DELETE /api/bundles/{name}   204 (admins)
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from ayon_server.addons import bundles, store
from ayon_server.addons.names import (
    BUNDLE_NAME_PATTERN,
    PLATFORMS,
    is_addon_name,
    is_filename,
    is_version,
)
from ayon_server.api.auth import AdminUser, CurrentUser
from ayon_server.api.dependencies import RuntimeDep
from ayon_server.api.models.addons import BundleList
from ayon_server.api.openapi import error_responses
from ayon_server.events.naming import NAME_MAX_LENGTH, NAME_PATTERN

router = APIRouter(prefix="/api/bundles", tags=["Bundles"])

BundleName = Annotated[str, Path(pattern=BUNDLE_NAME_PATTERN)]
MAX_ADDONS = 1000


def _addons(value: dict[str, str | None] | None) -> dict[str, str | None] | None:
    if value is not None:
        if len(value) > MAX_ADDONS:
            raise ValueError(f"at most {MAX_ADDONS} addons")
        for name, version in value.items():
            if not is_addon_name(name):
                raise ValueError(f"invalid addon name {name!r}")
            if version is not None and not is_version(version):
                raise ValueError(f"invalid version {version!r} of addon {name}")
    return value


def _packages(value: dict[str, str | None] | None) -> dict[str, str | None] | None:
    for platform, filename in (value or {}).items():
        if platform not in PLATFORMS:
            raise ValueError(f"unknown platform {platform!r}, expected one of {PLATFORMS}")
        if filename is not None and not is_filename(filename):
            raise ValueError(f"invalid dependency package file name {filename!r}")
    return value


class _BundleFields(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    installer_version: str | None = Field(default=None, max_length=64)
    dependency_packages: dict[str, str | None] | None = None
    addon_development: dict[str, Any] | None = None
    is_production: bool | None = None
    is_staging: bool | None = None
    is_dev: bool | None = None
    active_user: str | None = Field(default=None, pattern=NAME_PATTERN, max_length=NAME_MAX_LENGTH)

    _check_packages = field_validator("dependency_packages")(_packages)


class NewBundle(_BundleFields):
    name: str = Field(pattern=BUNDLE_NAME_PATTERN)
    addons: dict[str, str | None] = {}

    _check_addons = field_validator("addons")(_addons)


class BundlePatch(_BundleFields):
    addons: dict[str, str | None] | None = None

    _check_addons = field_validator("addons")(_addons)


def bundle_json(bundle: store.BundleRecord) -> dict[str, Any]:
    return {
        "name": bundle.name,
        "createdAt": bundle.created_at,
        "updatedAt": bundle.updated_at,
        "installerVersion": bundle.data.get("installerVersion"),
        "addons": bundle.data.get("addons", {}),
        "dependencyPackages": bundle.data.get("dependencyPackages", {}),
        "addonDevelopment": bundle.data.get("addonDevelopment", {}),
        "isProduction": bundle.is_production,
        "isStaging": bundle.is_staging,
        "isDev": bundle.is_dev,
        "isArchived": False,
        "activeUser": bundle.active_user,
    }


@router.get("", response_model=BundleList)
async def list_bundles(_caller: CurrentUser, runtime: RuntimeDep) -> dict[str, Any]:
    records = await store.list_bundles(runtime.db)
    return {
        "bundles": [bundle_json(b) for b in records],
        "productionBundle": next((b.name for b in records if b.is_production), None),
        "stagingBundle": next((b.name for b in records if b.is_staging), None),
        "devBundles": [b.name for b in records if b.is_dev],
    }


@router.post("", status_code=201, response_class=Response, responses=error_responses(409))
async def create_bundle(body: NewBundle, _caller: AdminUser, runtime: RuntimeDep) -> Response:
    data = {
        "addons": body.addons,
        "installerVersion": body.installer_version,
        "dependencyPackages": {
            platform: filename
            for platform, filename in (body.dependency_packages or {}).items()
            if filename is not None
        },
        "addonDevelopment": body.addon_development or {},
    }
    async with runtime.db.transaction() as conn:
        await bundles.create(
            conn,
            name=body.name,
            data=data,
            is_production=bool(body.is_production),
            is_staging=bool(body.is_staging),
            is_dev=bool(body.is_dev),
            active_user=body.active_user,
        )
    return Response(status_code=201)


@router.patch(
    "/{bundle_name}",
    status_code=204,
    response_class=Response,
    responses=error_responses(404, 409),
)
async def update_bundle(
    bundle_name: BundleName, body: BundlePatch, _caller: AdminUser, runtime: RuntimeDep
) -> Response:
    changes = body.model_dump(by_alias=True, exclude_unset=True)
    # None means "leave as it is" for the flags and the package map (the client sends only
    # what it changes).
    for field in ("isProduction", "isStaging", "isDev", "dependencyPackages"):
        if changes.get(field) is None:
            changes.pop(field, None)
    async with runtime.db.transaction() as conn:
        await bundles.patch(conn, bundle_name, changes)
    return Response(status_code=204)


@router.delete(
    "/{bundle_name}", status_code=204, response_class=Response, responses=error_responses(404)
)
async def delete_bundle(
    bundle_name: BundleName, _caller: AdminUser, runtime: RuntimeDep
) -> Response:
    await store.delete_bundle(runtime.db, bundle_name)
    return Response(status_code=204)
