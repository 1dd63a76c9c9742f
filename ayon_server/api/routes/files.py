"""Project files: raw streamed uploads and ranged downloads.

    POST   /api/projects/{p}/files              raw body; x-file-name (required), Content-Type,
                                                x-file-id (32 hex)?, x-activity-id?  → 201 {"id"}
    GET    /api/projects/{p}/files/{id}         the bytes: Content-Length, Range (206/416)
    GET    /api/projects/{p}/files/{id}/info    the file's record
    DELETE /api/projects/{p}/files/{id}         204, record and bytes (author or manager)

The body is read from request.stream() (the client sends chunked raw bytes, not multipart) and
refused with 413 past AYON_MAX_UPLOAD_BYTES.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import FileResponse

from ayon_server.api.auth import CurrentUser, WriterActor
from ayon_server.api.dependencies import RuntimeDep
from ayon_server.api.models.common import IdResponse
from ayon_server.api.models.files import FileInfoResponse
from ayon_server.api.openapi import error_responses, sends_bytes
from ayon_server.entities.registry import ENTITY_ID_PATTERN, parse_entity_id
from ayon_server.exceptions import BadRequestException, NotFoundException
from ayon_server.files import store

router = APIRouter(prefix="/api/projects/{project_name}/files", tags=["Files"])

IdPath = Annotated[str, Path(pattern=ENTITY_ID_PATTERN, description="32 hex characters")]
DEFAULT_MIME = "application/octet-stream"


def _optional_id(request: Request, header: str) -> uuid.UUID | None:
    value = request.headers.get(header)
    if value is None:
        return None
    try:
        return parse_entity_id(value)
    except BadRequestException:
        raise BadRequestException(f"{header} must be 32 hex characters") from None


def _upload_of(request: Request) -> store.Upload:
    """The upload's headers, validated before a byte of the body is read."""
    return store.Upload(
        name=store.sanitize_file_name(request.headers.get("x-file-name")),
        mime=request.headers.get("content-type") or DEFAULT_MIME,
        file_id=_optional_id(request, "x-file-id") or uuid.uuid4(),
        activity_id=_optional_id(request, "x-activity-id"),
    )


@router.post(
    "", status_code=201, response_model=IdResponse, responses=error_responses(404, 413, 415)
)
async def upload_project_file(
    project_name: str, request: Request, actor: WriterActor, runtime: RuntimeDep
) -> dict[str, str]:
    upload = _upload_of(request)
    limit = runtime.settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise store.payload_too_large(limit)
    file_id = await store.save_upload(
        runtime.db,
        runtime.settings.storage_dir,
        project_name,
        upload,
        request.stream(),
        actor,
        limit=limit,
    )
    return {"id": file_id.hex}


@router.get(
    "/{file_id}",
    response_class=FileResponse,
    responses={**sends_bytes(ranges=True), **error_responses(404)},
)
async def download_project_file(
    project_name: str, file_id: IdPath, _caller: CurrentUser, runtime: RuntimeDep
) -> FileResponse:
    """The bytes; Starlette's FileResponse answers Range requests (206, 416) and sets
    Content-Length and an RFC 6266 Content-Disposition for any file name."""
    parsed = parse_entity_id(file_id)
    stored_project, file = await store.get_file(runtime.db, project_name, parsed)
    path = store.file_path(runtime.settings.storage_dir, stored_project, parsed)
    if not path.is_file():
        raise NotFoundException(f"File {file_id} has no stored content")
    return FileResponse(path, media_type=file.mime, filename=file.name)


@router.get(
    "/{file_id}/info",
    response_model=FileInfoResponse,
    responses=error_responses(404),
)
async def get_project_file_info(
    project_name: str, file_id: IdPath, _caller: CurrentUser, runtime: RuntimeDep
) -> FileInfoResponse:
    _, file = await store.get_file(runtime.db, project_name, parse_entity_id(file_id))
    return FileInfoResponse.of(file)


@router.delete("/{file_id}", status_code=204, responses=error_responses(404))
async def delete_project_file(
    project_name: str, file_id: IdPath, actor: WriterActor, runtime: RuntimeDep
) -> Response:
    await store.delete_file(
        runtime.db, runtime.settings.storage_dir, project_name, parse_entity_id(file_id), actor
    )
    return Response(status_code=204)
