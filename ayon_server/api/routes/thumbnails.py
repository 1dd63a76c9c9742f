"""Thumbnails:

    POST /api/projects/{p}/thumbnails                 200 {"id"}   store an unassigned thumbnail
    PUT  /api/projects/{p}/thumbnails/{id}            200 {"id"}   create or replace (managers)
    GET  /api/projects/{p}/thumbnails/{id}            200 bytes    (managers; 203 placeholder)
    POST /api/projects/{p}/{type}s/{id}/thumbnail     200 {"id"}   store and assign to the entity
    GET  /api/projects/{p}/{type}s/{id}/thumbnail     200 bytes    (200 placeholder without one)

Uploads are the raw request body (no multipart), read as a stream and refused with 413 as soon
as it passes the size limit, before anything is written. A thumbnail found carries
`X-Thumbnail-Id`; a placeholder never does, which is how the AYON client tells them apart.

No `from __future__ import annotations`: the entity routes are built in a loop and FastAPI must
see the annotations themselves.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from ayon_server.api.auth import CurrentUser, ManagerUser, WriterActor
from ayon_server.api.dependencies import EntityIdPath, RuntimeDep
from ayon_server.api.models.common import IdResponse
from ayon_server.api.openapi import error_responses
from ayon_server.entities.registry import (
    ENTITY_ID_PATTERN,
    ENTITY_TYPES,
    EntityType,
    parse_entity_id,
)
from ayon_server.exceptions import AyonException, NotFoundException
from ayon_server.thumbnails import store
from ayon_server.thumbnails.images import (
    MAX_THUMBNAIL_BYTES,
    PLACEHOLDER_PNG,
    check_image,
    media_type,
)

router = APIRouter(prefix="/api/projects/{project_name}", tags=["Thumbnails"])

ThumbnailIdPath = Annotated[str, Path(pattern=ENTITY_ID_PATTERN, description="32 hex characters")]
Placeholder = Annotated[
    Literal["empty", "none"],
    Query(description="`empty`: a transparent PNG when there is no thumbnail; `none`: 404"),
]
CACHE_CONTROL = "max-age=3600"
# Thumbnails are sent as stored (JPEG, PNG, ...), or a placeholder image.
IMAGE = {"content": {"image/*": {}}, "description": "The image"}


def too_large() -> AyonException:
    return AyonException(f"The thumbnail is larger than {MAX_THUMBNAIL_BYTES} bytes", status=413)


async def read_thumbnail_body(request: Request) -> tuple[str, bytes]:
    """The declared image type and the body, read chunk by chunk up to the size limit."""
    mime = media_type(request.headers.get("content-type"))
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_THUMBNAIL_BYTES:
        raise too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_THUMBNAIL_BYTES:
            raise too_large()
    data = bytes(body)
    check_image(mime, data)
    return mime, data


def thumbnail_response(thumbnail: store.Thumbnail) -> Response:
    return Response(
        content=thumbnail.data,
        media_type=thumbnail.mime,
        headers={"X-Thumbnail-Id": thumbnail.id.hex, "Cache-Control": CACHE_CONTROL},
    )


def placeholder_response(status_code: int) -> Response:
    return Response(
        content=PLACEHOLDER_PNG,
        status_code=status_code,
        media_type="image/png",
        headers={"Cache-Control": CACHE_CONTROL},
    )


@router.post("/thumbnails", response_model=IdResponse, responses=error_responses(404, 413, 415))
async def create_thumbnail(
    project_name: str, request: Request, _actor: WriterActor, runtime: RuntimeDep
) -> dict[str, str]:
    mime, data = await read_thumbnail_body(request)
    thumbnail_id = await store.store_thumbnail(runtime.db, project_name, mime, data)
    return {"id": thumbnail_id.hex}


@router.put(
    "/thumbnails/{thumbnail_id}",
    response_model=IdResponse,
    responses=error_responses(404, 413, 415),
)
async def update_thumbnail(
    project_name: str,
    thumbnail_id: ThumbnailIdPath,
    request: Request,
    _caller: ManagerUser,
    runtime: RuntimeDep,
) -> dict[str, str]:
    """Create or replace the thumbnail with this id; managers only, as in AYON, because it
    changes what every entity pointing at it shows."""
    mime, data = await read_thumbnail_body(request)
    await store.store_thumbnail(runtime.db, project_name, mime, data, parse_entity_id(thumbnail_id))
    return {"id": thumbnail_id.lower()}


@router.get(
    "/thumbnails/{thumbnail_id}",
    response_class=Response,
    responses={
        200: IMAGE,
        203: {**IMAGE, "description": "No such thumbnail: the placeholder image"},
        **error_responses(404),
    },
)
async def get_thumbnail(
    project_name: str,
    thumbnail_id: ThumbnailIdPath,
    _caller: ManagerUser,
    runtime: RuntimeDep,
    placeholder: Placeholder = "empty",
) -> Response:
    thumbnail = await store.get_thumbnail(runtime.db, project_name, parse_entity_id(thumbnail_id))
    if thumbnail is not None:
        return thumbnail_response(thumbnail)
    if placeholder == "none":
        raise NotFoundException("Thumbnail not found")
    return placeholder_response(203)


def _add_entity_routes(entity_type: EntityType) -> None:
    path = f"/{entity_type.table}/{{entity_id}}/thumbnail"

    async def set_thumbnail(
        project_name: str,
        entity_id: EntityIdPath,
        request: Request,
        actor: WriterActor,
        runtime: RuntimeDep,
    ) -> dict[str, str]:
        store.check_has_thumbnail(entity_type)
        mime, data = await read_thumbnail_body(request)
        thumbnail_id = await store.set_entity_thumbnail(
            runtime.events,
            runtime.db,
            project_name,
            entity_type,
            parse_entity_id(entity_id),
            mime,
            data,
            actor,
        )
        return {"id": thumbnail_id.hex}

    async def get_thumbnail(
        project_name: str,
        entity_id: EntityIdPath,
        _caller: CurrentUser,
        runtime: RuntimeDep,
        placeholder: Placeholder = "empty",
    ) -> Response:
        thumbnail = await store.get_entity_thumbnail(
            runtime.db, project_name, entity_type, parse_entity_id(entity_id)
        )
        if thumbnail is not None:
            return thumbnail_response(thumbnail)
        if placeholder == "none":
            raise NotFoundException(f"{entity_type.title} {entity_id} has no thumbnail")
        return placeholder_response(200)

    tag = entity_type.title + "s"
    router.add_api_route(
        path,
        set_thumbnail,
        methods=["POST"],
        response_model=IdResponse,
        responses=error_responses(404, 413, 415),
        tags=[tag],
        name=f"set_{entity_type.name}_thumbnail",
    )
    router.add_api_route(
        path,
        get_thumbnail,
        methods=["GET"],
        response_class=Response,
        responses={200: IMAGE, **error_responses(404)},
        tags=[tag],
        name=f"get_{entity_type.name}_thumbnail",
    )


# Every type gets the routes, so a product or representation answers 400 ("no thumbnails")
# rather than 404 as if the URL were wrong.
for _entity_type in ENTITY_TYPES.values():
    _add_entity_routes(_entity_type)
