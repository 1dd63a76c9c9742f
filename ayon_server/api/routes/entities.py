"""Per-entity REST for all six types, registered from the one registry:

    POST   /api/projects/{p}/{type}s             201 {"id": "<32 hex>"}
    GET    /api/projects/{p}/{type}s/{id}        200 the entity
    PATCH  /api/projects/{p}/{type}s/{id}        204
    DELETE /api/projects/{p}/{type}s/{id}        204 (?force=true for folders with products)

Each write is a batch of one operation (entities.operations), so REST and the operations
endpoint share every rule. Access: any logged-in user reads and writes entities (this server has
no per-project access groups); guests cannot write; forcing a delete needs a manager.

No `from __future__ import annotations` here: the routes are built in a loop with each type's
generated models, and FastAPI must see those classes, not their names.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from ayon_server.api.auth import CurrentUser, WriterActor
from ayon_server.api.dependencies import EntityIdPath, RuntimeDep
from ayon_server.api.models.entities import (
    EntityCreatedResponse,
    EntityResponse,
    entity_response,
)
from ayon_server.api.openapi import error_responses, sends
from ayon_server.entities import store
from ayon_server.entities.models import PATCH_MODELS, POST_MODELS
from ayon_server.entities.operations import Operation, run_operations
from ayon_server.entities.registry import (
    ENTITY_TYPES,
    EntityType,
    parse_entity_id,
)
from ayon_server.projects.store import load_project_ref
from ayon_server.runtime import Runtime

router = APIRouter(prefix="/api/projects/{project_name}", tags=["Entities"])

# The operation id of a REST write: a batch of one never shows it to the client.
REST_OPERATION = "rest"


async def _write(runtime: Runtime, project_name: str, operation: Operation) -> str | None:
    """Run one write as a batch of one and return the entity id; a failure is an HTTP error."""
    result = await run_operations(
        runtime.events, runtime.db, project_name, [operation], raise_on_error=True
    )
    return result.operations[0].entity_id


def _add_routes(entity_type: EntityType) -> None:
    collection = f"/{entity_type.table}"
    item = f"{collection}/{{entity_id}}"
    post_model: type[BaseModel] = POST_MODELS[entity_type.name]
    patch_model: type[BaseModel] = PATCH_MODELS[entity_type.name]
    tag = entity_type.title + "s"

    async def create(
        project_name: str, body: post_model, actor: WriterActor, runtime: RuntimeDep
    ) -> dict[str, str | None]:
        operation = Operation(REST_OPERATION, "create", entity_type, None, body, actor)
        return {"id": await _write(runtime, project_name, operation)}

    async def read(
        project_name: str, entity_id: EntityIdPath, _caller: CurrentUser, runtime: RuntimeDep
    ) -> dict[str, Any]:
        async with runtime.db.transaction() as conn:
            project = await load_project_ref(conn, project_name, lock=True)
            entity = await store.get_entity(conn, project, entity_type, parse_entity_id(entity_id))
        return entity_response(entity)

    async def update(
        project_name: str,
        entity_id: EntityIdPath,
        body: patch_model,
        actor: WriterActor,
        runtime: RuntimeDep,
    ) -> Response:
        operation = Operation(
            REST_OPERATION, "update", entity_type, parse_entity_id(entity_id), body, actor
        )
        await _write(runtime, project_name, operation)
        return Response(status_code=204)

    async def delete(
        project_name: str,
        entity_id: EntityIdPath,
        actor: WriterActor,
        runtime: RuntimeDep,
        force: Annotated[bool, Query(description="Also delete products under a folder")] = False,
    ) -> Response:
        operation = Operation(
            REST_OPERATION, "delete", entity_type, parse_entity_id(entity_id), None, actor, force
        )
        await _write(runtime, project_name, operation)
        return Response(status_code=204)

    router.add_api_route(
        collection,
        create,
        methods=["POST"],
        status_code=201,
        response_model=None,
        responses={**sends(EntityCreatedResponse, 201), **error_responses(404, 409)},
        tags=[tag],
        name=f"create_{entity_type.name}",
    )
    router.add_api_route(
        item,
        read,
        methods=["GET"],
        response_model=None,
        responses={**sends(EntityResponse), **error_responses(404)},
        tags=[tag],
        name=f"get_{entity_type.name}",
    )
    router.add_api_route(
        item,
        update,
        methods=["PATCH"],
        status_code=204,
        response_class=Response,
        responses=error_responses(404, 409),
        tags=[tag],
        name=f"update_{entity_type.name}",
    )
    router.add_api_route(
        item,
        delete,
        methods=["DELETE"],
        status_code=204,
        response_class=Response,
        responses=error_responses(404, 409),
        tags=[tag],
        name=f"delete_{entity_type.name}",
    )


for _entity_type in ENTITY_TYPES.values():
    _add_routes(_entity_type)
