"""Activities: comments on entities, with mentions and attached files.

    POST   /api/projects/{p}/{type}/{id}/activities   201 {"id"}   (type: "folder" or "folders")
    GET    /api/projects/{p}/{type}/{id}/activities   200 {"activities": [...]}
    PATCH  /api/projects/{p}/activities/{id}          204
    DELETE /api/projects/{p}/activities/{id}          204

AYON lists activities through GraphQL only; this server has no GraphQL, so the GET above is our
REST listing: the activities whose origin is the entity, oldest first, each with its author,
references (origin, author, mentions) and files. Any logged-in user but a guest may comment;
changing or deleting an activity needs its author or a manager.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from ayon_server.activities import store
from ayon_server.activities.models import ActivityPatchModel, ActivityPostModel
from ayon_server.api.auth import CurrentUser, WriterActor
from ayon_server.api.dependencies import RuntimeDep
from ayon_server.api.models.activities import ActivityListResponse, ActivityResponse
from ayon_server.api.models.common import IdResponse
from ayon_server.api.openapi import error_responses
from ayon_server.entities.registry import ENTITY_ID_PATTERN, parse_entity_id

router = APIRouter(prefix="/api/projects/{project_name}", tags=["Activities"])

IdPath = Annotated[str, Path(pattern=ENTITY_ID_PATTERN, description="32 hex characters")]


@router.post(
    "/{entity_type}/{entity_id}/activities",
    status_code=201,
    response_model=IdResponse,
    responses=error_responses(404),
)
async def create_activity(
    project_name: str,
    entity_type: str,
    entity_id: IdPath,
    body: ActivityPostModel,
    actor: WriterActor,
    runtime: RuntimeDep,
) -> dict[str, str]:
    activity_id = await store.create_activity(
        runtime.events,
        runtime.db,
        project_name,
        store.entity_type_of(entity_type),
        parse_entity_id(entity_id),
        body,
        actor,
    )
    return {"id": activity_id.hex}


@router.get(
    "/{entity_type}/{entity_id}/activities",
    response_model=ActivityListResponse,
    responses=error_responses(404),
)
async def list_activities(
    project_name: str,
    entity_type: str,
    entity_id: IdPath,
    _caller: CurrentUser,
    runtime: RuntimeDep,
) -> ActivityListResponse:
    activities = await store.list_activities(
        runtime.db, project_name, store.entity_type_of(entity_type), parse_entity_id(entity_id)
    )
    return ActivityListResponse(activities=[ActivityResponse.of(a) for a in activities])


@router.patch("/activities/{activity_id}", status_code=204, responses=error_responses(404))
async def update_activity(
    project_name: str,
    activity_id: IdPath,
    body: ActivityPatchModel,
    actor: WriterActor,
    runtime: RuntimeDep,
) -> Response:
    await store.update_activity(
        runtime.events, runtime.db, project_name, parse_entity_id(activity_id), body, actor
    )
    return Response(status_code=204)


@router.delete("/activities/{activity_id}", status_code=204, responses=error_responses(404))
async def delete_activity(
    project_name: str, activity_id: IdPath, actor: WriterActor, runtime: RuntimeDep
) -> Response:
    await store.delete_activity(
        runtime.events, runtime.db, project_name, parse_entity_id(activity_id), actor
    )
    return Response(status_code=204)
