"""Entity links:

    GET    /api/projects/{p}/links/types                 200 {"types": [...]}
    PUT    /api/projects/{p}/links/types/{type|in|out}   204 (data flat or under "data")
    DELETE /api/projects/{p}/links/types/{type|in|out}   204 / 404
    POST   /api/projects/{p}/links                       200 {"id"}
    POST   /api/projects/{p}/links/bulk                  200 {"created": [...]}
    DELETE /api/projects/{p}/links/{id}                  204 / 404
    GET    /api/projects/{p}/{type}s/{id}/links          200 {"links": [...]}

AYON lists an entity's links only through GraphQL; the last route is this server's REST
equivalent, each link in the shape of AYON's GraphQL entity links (direction, entityId,
entityType). Link types are project anatomy, changed by managers as in AYON; links are project
data, changed by every logged-in user but guests.

No `from __future__ import annotations` here: the entity link routes are built in a loop, and
FastAPI must see the annotations themselves.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Response

from ayon_server.api.auth import CurrentUser, ManagerActor, WriterActor
from ayon_server.api.dependencies import EntityIdPath, RuntimeDep
from ayon_server.api.models.common import IdResponse
from ayon_server.api.models.links import (
    BulkLinksResponse,
    EntityLinkResponse,
    EntityLinksResponse,
    LinkTypeListResponse,
)
from ayon_server.api.models.projects import LinkTypeResponse
from ayon_server.api.openapi import error_responses
from ayon_server.entities.registry import ENTITY_TYPES, EntityType, parse_entity_id
from ayon_server.exceptions import BadRequestException
from ayon_server.links import store
from ayon_server.links.models import BulkLinksModel, LinkPostModel

router = APIRouter(prefix="/api/projects/{project_name}", tags=["Links"])

LinkTypeNamePath = Annotated[str, Path(description="<type>|<input type>|<output type>")]


def link_type_data(body: dict[str, Any] | None) -> dict[str, Any]:
    """AYON's model is {"data": {...}} but ayon_api sends the data's keys flat: accept both."""
    if not body:
        return {}
    if "data" not in body:
        return body
    if not isinstance(body["data"], dict):
        raise BadRequestException("Link type data must be an object")
    return body["data"]


@router.get("/links/types", response_model=LinkTypeListResponse, responses=error_responses(404))
async def list_link_types(
    project_name: str, _caller: CurrentUser, runtime: RuntimeDep
) -> LinkTypeListResponse:
    link_types = await store.list_link_types(runtime.db, project_name)
    return LinkTypeListResponse(types=[LinkTypeResponse.of(lt) for lt in link_types])


@router.put(
    "/links/types/{link_type_name}",
    status_code=204,
    response_class=Response,
    responses=error_responses(404),
)
async def save_link_type(
    project_name: str,
    link_type_name: LinkTypeNamePath,
    _actor: ManagerActor,
    runtime: RuntimeDep,
    body: Annotated[dict[str, Any] | None, Body()] = None,
) -> Response:
    await store.save_link_type(runtime.db, project_name, link_type_name, link_type_data(body))
    return Response(status_code=204)


@router.delete(
    "/links/types/{link_type_name}",
    status_code=204,
    response_class=Response,
    responses=error_responses(404),
)
async def delete_link_type(
    project_name: str, link_type_name: LinkTypeNamePath, _actor: ManagerActor, runtime: RuntimeDep
) -> Response:
    await store.delete_link_type(runtime.db, project_name, link_type_name)
    return Response(status_code=204)


@router.post("/links", response_model=IdResponse, responses=error_responses(404, 409))
async def create_link(
    project_name: str, body: LinkPostModel, actor: WriterActor, runtime: RuntimeDep
) -> dict[str, str]:
    created = await store.create_links(runtime.events, runtime.db, project_name, [body], actor)
    return {"id": created[0]["id"]}


@router.post("/links/bulk", response_model=BulkLinksResponse, responses=error_responses(404, 409))
async def create_links(
    project_name: str, body: BulkLinksModel, actor: WriterActor, runtime: RuntimeDep
) -> BulkLinksResponse:
    created = await store.create_links(
        runtime.events, runtime.db, project_name, body.links, actor, bulk=True
    )
    return BulkLinksResponse.model_validate({"created": created})


@router.delete(
    "/links/{link_id}", status_code=204, response_class=Response, responses=error_responses(404)
)
async def delete_link(
    project_name: str, link_id: EntityIdPath, actor: WriterActor, runtime: RuntimeDep
) -> Response:
    await store.delete_link(
        runtime.events, runtime.db, project_name, parse_entity_id(link_id), actor
    )
    return Response(status_code=204)


def _add_entity_links_route(entity_type: EntityType) -> None:
    async def entity_links(
        project_name: str,
        entity_id: EntityIdPath,
        _caller: CurrentUser,
        runtime: RuntimeDep,
        direction: Annotated[Literal["in", "out"] | None, Query()] = None,
    ) -> EntityLinksResponse:
        links = await store.entity_links(
            runtime.db, project_name, entity_type, parse_entity_id(entity_id)
        )
        return EntityLinksResponse(
            links=[
                EntityLinkResponse.of(link) for link in links if direction in (None, link.direction)
            ]
        )

    router.add_api_route(
        f"/{entity_type.table}/{{entity_id}}/links",
        entity_links,
        methods=["GET"],
        response_model=EntityLinksResponse,
        responses=error_responses(404),
        name=f"get_{entity_type.name}_links",
    )


for _entity_type in ENTITY_TYPES.values():
    _add_entity_links_route(_entity_type)
