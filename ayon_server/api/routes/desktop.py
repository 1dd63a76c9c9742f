"""Dependency packages and installers of the AYON desktop launcher: the
manifest first, then the file, then downloads.

    GET    /api/desktop/dependencyPackages             {"packages": [...]}
    POST   /api/desktop/dependencyPackages[?force=]    201 {"eventId": null}, the manifest (admins)
    PUT    /api/desktop/dependencyPackages/{filename}  204, the raw body, streamed (admins)
    GET    /api/desktop/dependencyPackages/{filename}  the file: Content-Length, Range
    PATCH  /api/desktop/dependencyPackages/{filename}  204, {"sources": [...]} (admins)
    DELETE /api/desktop/dependencyPackages/{filename}  204 (admins)

and the same under /api/desktop/installers (list `{"installers": [...]}`, `?version=&platform=`).
Both kinds share this one implementation; no `from __future__ import annotations`, because the
routes are built in a function and FastAPI must see the annotations themselves.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from starlette.responses import StreamingResponse

from ayon_server.addons import store
from ayon_server.addons.archives import ArchiveTooLarge
from ayon_server.addons.install import packages_changed
from ayon_server.addons.names import (
    FILENAME_MAX_LENGTH,
    FILENAME_PATTERN,
    SEMVER_PATTERN,
    VERSION_MAX_LENGTH,
    check_filename,
)
from ayon_server.addons.packages import upload_package_file
from ayon_server.api.archive_response import archive_response
from ayon_server.api.auth import AdminUser, CurrentUser
from ayon_server.api.dependencies import RuntimeDep
from ayon_server.api.models.addons import (
    DependencyPackageList,
    EventIdResponse,
    InstallerList,
)
from ayon_server.api.openapi import error_responses, sends_bytes, takes_bytes
from ayon_server.exceptions import BadRequestException, NotFoundException

router = APIRouter(prefix="/api/desktop", tags=["Desktop"])

Platform = Literal["windows", "linux", "darwin"]
FilenamePath = Annotated[str, Path(pattern=FILENAME_PATTERN, max_length=FILENAME_MAX_LENGTH)]
Modules = Annotated[dict[str, Any], Field(max_length=10_000)]


class Source(BaseModel):
    """Where a client can get the file: `server` (uploaded here) or an `http` URL."""

    model_config = ConfigDict(extra="allow")

    type: Literal["server", "http", "url", "filesystem"]
    url: str | None = Field(default=None, max_length=2048)
    filename: str | None = Field(default=None, max_length=255)


Sources = Annotated[list[Source], Field(max_length=32)]


class _Manifest(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    filename: str = Field(pattern=FILENAME_PATTERN, max_length=FILENAME_MAX_LENGTH)
    platform: Platform
    size: int | None = Field(default=None, ge=0)
    checksum: str | None = Field(default=None, max_length=128)
    checksum_algorithm: Literal["md5", "sha1", "sha256"] = "md5"
    python_modules: Modules = {}
    sources: Sources = []


class DependencyPackageManifest(_Manifest):
    source_addons: Annotated[dict[str, str], Field(max_length=10_000)] = {}
    installer_version: str | None = Field(default=None, max_length=VERSION_MAX_LENGTH)
    python_version: str | None = Field(default=None, max_length=32)
    distro_short: str | None = Field(default=None, max_length=64)


class InstallerManifest(_Manifest):
    version: str = Field(pattern=SEMVER_PATTERN, max_length=VERSION_MAX_LENGTH)
    python_version: str | None = Field(default=None, max_length=32)
    runtime_python_modules: Modules = {}


class SourcesPatch(BaseModel):
    sources: Sources


def package_json(package: store.PackageRecord) -> dict[str, Any]:
    """A package as AYON lists it; uploaded ones have a `{"type": "server"}` source."""
    sources = list(package.data.get("sources") or [])
    if package.archive is not None and not any(s.get("type") == "server" for s in sources):
        sources.append({"type": "server", "filename": package.filename})
    result: dict[str, Any] = {**package.data, "filename": package.filename}
    result["platform"] = package.platform
    if package.version is not None:
        result["version"] = package.version
    result["sources"] = sources
    if package.archive is not None and result.get("size") is None:
        result["size"] = package.archive.size
    return result


def _add_routes(
    kind: store.PackageKind,
    path: str,
    list_key: str,
    manifest_model: type[_Manifest],
    list_model: type[BaseModel],
) -> None:
    async def list_packages(
        _caller: CurrentUser,
        runtime: RuntimeDep,
        version: Annotated[str | None, Query(max_length=VERSION_MAX_LENGTH)] = None,
        platform: Annotated[Platform | None, Query()] = None,
    ) -> dict[str, list[dict[str, Any]]]:
        packages = await store.list_packages(runtime.db, kind, version=version, platform=platform)
        return {list_key: [package_json(p) for p in packages]}

    async def create_package(
        body: manifest_model,  # type: ignore[valid-type]
        _caller: AdminUser,
        runtime: RuntimeDep,
        force: Annotated[bool, Query()] = False,
        url: Annotated[str | None, Query(max_length=2048)] = None,
    ) -> dict[str, None]:
        if url is not None:
            raise BadRequestException(
                "Installing from a URL is not supported here: upload the file with PUT"
            )
        data = body.model_dump(
            by_alias=True, exclude={"filename", "platform", "version"}, mode="json"
        )
        async with runtime.db.transaction() as conn:
            await store.create_package(
                conn,
                kind,
                filename=body.filename,
                platform=body.platform,
                version=getattr(body, "version", None),
                data=data,
                force=force,
            )
        if force:
            await packages_changed(runtime)
        return {"eventId": None}

    async def upload_package(
        filename: FilenamePath, request: Request, _caller: AdminUser, runtime: RuntimeDep
    ) -> Response:
        check_filename(filename)
        limit = runtime.settings.max_package_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise ArchiveTooLarge(limit)
        await upload_package_file(runtime, kind, filename, request.stream())
        await packages_changed(runtime)
        return Response(status_code=204)

    async def download_package(
        filename: FilenamePath, request: Request, _caller: CurrentUser, runtime: RuntimeDep
    ) -> StreamingResponse:
        package = await store.get_package(runtime.db, kind, check_filename(filename))
        if package is None:
            raise store.package_not_found(kind, filename)
        if package.archive is None:
            raise NotFoundException(f"{kind.title} {filename} has not been uploaded yet")
        return archive_response(request, runtime.db, package.archive, filename=filename)

    async def update_package(
        filename: FilenamePath, body: SourcesPatch, _caller: AdminUser, runtime: RuntimeDep
    ) -> Response:
        changes = body.model_dump(mode="json", exclude_none=True)
        async with runtime.db.transaction() as conn:
            await store.update_package_data(conn, kind, check_filename(filename), changes)
        return Response(status_code=204)

    async def delete_package(
        filename: FilenamePath, _caller: AdminUser, runtime: RuntimeDep
    ) -> Response:
        async with runtime.db.transaction() as conn:
            await store.delete_package(conn, kind, check_filename(filename))
        await packages_changed(runtime)
        return Response(status_code=204)

    router.add_api_route(path, list_packages, methods=["GET"], response_model=list_model)
    router.add_api_route(
        path,
        create_package,
        methods=["POST"],
        status_code=201,
        response_model=EventIdResponse,
        responses=error_responses(409),
    )
    item = path + "/{filename}"
    router.add_api_route(
        item,
        upload_package,
        methods=["PUT"],
        status_code=204,
        response_class=Response,
        responses=error_responses(404, 413),
        openapi_extra=takes_bytes(),
    )
    router.add_api_route(
        item,
        download_package,
        methods=["GET"],
        response_class=StreamingResponse,
        responses={**sends_bytes(ranges=True), **error_responses(404)},
    )
    for method, endpoint in (("PATCH", update_package), ("DELETE", delete_package)):
        router.add_api_route(
            item,
            endpoint,
            methods=[method],
            status_code=204,
            response_class=Response,
            responses=error_responses(404),
        )


_add_routes(
    store.DEPENDENCY_PACKAGES,
    "/dependencyPackages",
    "packages",
    DependencyPackageManifest,
    DependencyPackageList,
)
_add_routes(store.INSTALLERS, "/installers", "installers", InstallerManifest, InstallerList)
