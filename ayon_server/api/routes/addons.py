"""Addons, in AYON's wire format:

    POST   /api/addons/install            raw zip body, or ?url=[&addonName=&addonVersion=]
                                          → {"eventId"} of its addon.install event (admins)
    GET    /api/addons/install            the recent install events (admins)
    GET    /api/addons[?details=1]        the stored addons, in AYON's shape
    DELETE /api/addons/{name}             every version (admins); 409 when a bundle uses one
    DELETE /api/addons/{name}/{version}   one version (admins)
    GET    /addons/{name}/{version}/private/{file}   (and under /api/) a private file

The zip is streamed from request.stream() into the database, never held whole in memory, and
refused with 413 past AYON_MAX_PACKAGE_BYTES. We never execute addon server code: an addon is a
package we store, unpack on every replica, list and serve.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Path, Query, Request, Response
from starlette.responses import StreamingResponse

from ayon_server.addons import install, store
from ayon_server.addons.archives import ArchiveTooLarge
from ayon_server.addons.installer import BackgroundInstaller
from ayon_server.addons.names import ADDON_NAME_PATTERN, SEMVER_PATTERN, VERSION_MAX_LENGTH
from ayon_server.addons.private_files import open_private_file
from ayon_server.api.archive_response import content_disposition
from ayon_server.api.auth import AdminUser, CurrentUser
from ayon_server.api.dependencies import RuntimeDep, ServerStateDep
from ayon_server.api.models.addons import AddonInstallList, AddonList, EventIdResponse
from ayon_server.api.openapi import error_responses, sends_bytes, takes_bytes
from ayon_server.exceptions import NotFoundException

router = APIRouter(tags=["Addons"])
# How long an upload's answer waits for this replica to unpack the addon (seconds).
INSTALL_ANSWER_WAIT = 30.0

AddonName = Annotated[str, Path(pattern=ADDON_NAME_PATTERN)]
AddonVersion = Annotated[str, Path(pattern=SEMVER_PATTERN, max_length=VERSION_MAX_LENGTH)]


@router.post(
    "/api/addons/install",
    response_model=EventIdResponse,
    responses=error_responses(413),
    # The zip, unless ?url= names where to fetch it.
    openapi_extra=takes_bytes(required=False),
)
async def install_addon(
    request: Request,
    caller: AdminUser,
    runtime: RuntimeDep,
    state: ServerStateDep,
    background: BackgroundTasks,
    url: Annotated[str | None, Query(max_length=install.MAX_URL_LENGTH)] = None,
    addon_name: Annotated[str | None, Query(alias="addonName", pattern=ADDON_NAME_PATTERN)] = None,
    addon_version: Annotated[
        str | None,
        Query(alias="addonVersion", pattern=SEMVER_PATTERN, max_length=VERSION_MAX_LENGTH),
    ] = None,
) -> dict[str, str]:
    if url is not None:
        install.check_url(url)
        event_id = await install.begin_url_install(
            runtime, url, user=caller.name, name=addon_name, version=addon_version
        )
        background.add_task(
            install.install_from_url,
            runtime,
            event_id,
            url,
            user=caller.name,
            replica_id=state.replica.id,
            expected=(addon_name, addon_version),
        )
        return {"eventId": event_id}
    limit = runtime.settings.max_package_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ArchiveTooLarge(limit)
    event_id = await install.install_uploaded_addon(
        runtime, request.stream(), user=caller.name, replica_id=state.replica.id
    )
    # Most addons unpack in moments: answer once this replica has, so the event a client reads
    # next is final; a big one goes on after the answer and its event ends when it is done.
    installer = state.workers.get(BackgroundInstaller.name)
    if isinstance(installer, BackgroundInstaller):
        await installer.wait_for_next_pass(INSTALL_ANSWER_WAIT)
    return {"eventId": event_id}


@router.get("/api/addons/install", response_model=AddonInstallList)
async def list_addon_installs(_caller: AdminUser, runtime: RuntimeDep) -> dict[str, Any]:
    events = await install.recent_installs(runtime)
    return {
        "items": [
            {
                "id": event.id,
                "topic": event.topic,
                "description": event.description,
                "addonName": event.summary.get("name"),
                "addonVersion": event.summary.get("version"),
                "user": event.user,
                "status": event.status,
                "createdAt": event.created_at,
                "updatedAt": event.updated_at,
            }
            for event in events
        ],
    }


def _version_info(addon: store.AddonRecord, details: bool) -> dict[str, Any]:
    info: dict[str, Any] = {
        "hasSettings": False,
        "hasSiteSettings": False,
        "frontendScopes": {},
        "isBroken": False,
        "projectCanOverrideAddonVersion": False,
    }
    if details:
        private = addon.manifest.get("privateFiles", [])
        info["clientSourceInfo"] = (
            [{"type": "server", "filename": "client.zip"}] if "client.zip" in private else []
        )
    return info


@router.get("/api/addons", response_model=AddonList, response_model_exclude_none=True)
async def list_addons(
    _caller: CurrentUser,
    runtime: RuntimeDep,
    details: Annotated[bool, Query()] = False,
) -> dict[str, list[dict[str, Any]]]:
    addons = await store.list_addons(runtime.db)
    bundles = await store.list_bundles(runtime.db)
    production = next((b.data.get("addons", {}) for b in bundles if b.is_production), {})
    staging = next((b.data.get("addons", {}) for b in bundles if b.is_staging), {})
    by_name: dict[str, dict[str, Any]] = {}
    for addon in addons:
        entry = by_name.setdefault(
            addon.name,
            {
                "name": addon.name,
                "title": addon.title or addon.name,
                "description": addon.description or "",
                "versions": {},
                "addonType": "pipeline",
                "system": False,
                "projectCanOverrideAddonVersion": False,
            },
        )
        # The newest upload names the addon.
        entry["title"] = addon.title or addon.name
        entry["description"] = addon.description or ""
        entry["versions"][addon.version] = _version_info(addon, details)
    for name, entry in by_name.items():
        if production.get(name):
            entry["productionVersion"] = production[name]
        if staging.get(name):
            entry["stagingVersion"] = staging[name]
    return {"addons": list(by_name.values())}


@router.delete(
    "/api/addons/{addon_name}",
    status_code=204,
    response_class=Response,
    responses=error_responses(404, 409),
)
async def delete_addon(
    addon_name: AddonName,
    _caller: AdminUser,
    runtime: RuntimeDep,
    purge: Annotated[bool, Query()] = False,
) -> Response:
    """`purge` is accepted for AYON's client; there are no addon settings to purge."""
    async with runtime.db.transaction() as conn:
        await store.delete_addons(conn, addon_name)
    await install.packages_changed(runtime)
    return Response(status_code=204)


@router.delete(
    "/api/addons/{addon_name}/{addon_version}",
    status_code=204,
    response_class=Response,
    responses=error_responses(404, 409),
)
async def delete_addon_version(
    addon_name: AddonName,
    addon_version: AddonVersion,
    _caller: AdminUser,
    runtime: RuntimeDep,
    purge: Annotated[bool, Query()] = False,
) -> Response:
    async with runtime.db.transaction() as conn:
        await store.delete_addons(conn, addon_name, addon_version)
    await install.packages_changed(runtime)
    return Response(status_code=204)


async def _private_file(
    addon_name: str, addon_version: str, file_path: str, runtime: RuntimeDep
) -> StreamingResponse:
    addon = await store.get_addon(runtime.db, addon_name, addon_version)
    if addon is None:
        raise NotFoundException(f"Addon {addon_name} {addon_version} not found")
    private = await open_private_file(runtime.db, addon, file_path)
    return StreamingResponse(
        private.chunks,
        media_type="application/octet-stream",
        headers={
            "Content-Length": str(private.size),
            "Content-Disposition": content_disposition(private.name),
        },
    )


@router.get(
    "/addons/{addon_name}/{addon_version}/private/{file_path:path}",
    response_class=StreamingResponse,
    responses={**sends_bytes(), **error_responses(404)},
)
async def get_private_file(
    addon_name: AddonName,
    addon_version: AddonVersion,
    file_path: str,
    _caller: CurrentUser,
    runtime: RuntimeDep,
) -> StreamingResponse:
    return await _private_file(addon_name, addon_version, file_path, runtime)


@router.get(
    "/api/addons/{addon_name}/{addon_version}/private/{file_path:path}",
    response_class=StreamingResponse,
    responses={**sends_bytes(), **error_responses(404)},
)
async def get_private_file_under_api(
    addon_name: AddonName,
    addon_version: AddonVersion,
    file_path: str,
    _caller: CurrentUser,
    runtime: RuntimeDep,
) -> StreamingResponse:
    return await _private_file(addon_name, addon_version, file_path, runtime)
