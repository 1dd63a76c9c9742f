"""Batched entity operations.

* POST /api/projects/{p}/operations: 200 with each operation's outcome and an overall `success`,
  even when operations failed (AYON: "always check the success field"), unless the request
  itself is wrong (400), the project does not exist (404), or raiseOnError asks for the failure
  as an HTTP error.
* POST /api/projects/{p}/operations/background: the same batch run after the answer, which is
  `{"id", "status": "pending"}`; GET .../operations/background/{id} tells its status and, once
  `completed`, its result (what ayon_api's OperationsSession.commit uses).

An operation may run as another user (`asUser`) only when the caller is a service user.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Path

from ayon_server.api.auth import CurrentUser, WriterActor, act_as
from ayon_server.api.dependencies import RuntimeDep
from ayon_server.api.models.operations import BackgroundTaskResponse
from ayon_server.api.openapi import error_responses, sends
from ayon_server.entities.background_operations import load_status, run_in_background, save_status
from ayon_server.entities.operations import (
    Operation,
    OperationsRequestModel,
    OperationsResponseModel,
    check_batch,
    run_operations,
)
from ayon_server.entities.registry import ENTITY_ID_PATTERN, ENTITY_TYPES, parse_entity_id
from ayon_server.exceptions import NotFoundException
from ayon_server.projects.changes import Actor
from ayon_server.projects.names import validate_project_name
from ayon_server.projects.store import load_project_ref
from ayon_server.runtime import Runtime

router = APIRouter(prefix="/api/projects/{project_name}/operations", tags=["Operations"])

TaskId = Annotated[str, Path(pattern=ENTITY_ID_PATTERN)]


@router.post(
    "",
    response_model=OperationsResponseModel,
    response_model_by_alias=True,
    responses=error_responses(404),
)
async def operations(
    project_name: str, body: OperationsRequestModel, actor: WriterActor, runtime: RuntimeDep
) -> OperationsResponseModel:
    return await run_operations(
        runtime.events,
        runtime.db,
        project_name,
        await _batch(runtime, actor, body),
        can_fail=body.can_fail,
        raise_on_error=body.raise_on_error and not body.can_fail,
    )


@router.post(
    "/background",
    response_model=None,
    responses={**sends(BackgroundTaskResponse), **error_responses(404)},
)
async def background_operations(
    project_name: str,
    body: OperationsRequestModel,
    actor: WriterActor,
    runtime: RuntimeDep,
    background: BackgroundTasks,
) -> dict[str, Any]:
    """Check what can be checked now (400, 403, 404), then run the batch after answering."""
    batch = await _batch(runtime, actor, body)
    check_batch(batch)
    project_name = (await load_project_ref(runtime.db, project_name)).name
    task_id = uuid.uuid4().hex
    await save_status(runtime, project_name, task_id, "pending")
    background.add_task(
        run_in_background, runtime, project_name, task_id, batch, can_fail=body.can_fail
    )
    return {"id": task_id, "status": "pending"}


@router.get(
    "/background/{task_id}",
    response_model=None,
    responses={**sends(BackgroundTaskResponse), **error_responses(404)},
)
async def background_operations_status(
    project_name: str, task_id: TaskId, _caller: CurrentUser, runtime: RuntimeDep
) -> dict[str, Any]:
    record = await load_status(runtime, validate_project_name(project_name), task_id)
    if record is None:
        raise NotFoundException(f"Background operations task {task_id} not found")
    return {"id": task_id, **record}


async def _batch(runtime: Runtime, caller: Actor, body: OperationsRequestModel) -> list[Operation]:
    """The request's operations, each with the user it runs as."""
    actors = {caller.user: caller}
    for op in body.operations:
        if op.as_user is None or op.as_user in actors:
            continue
        user = await act_as(
            runtime.db,
            op.as_user,
            by_service=caller.is_service,
            doing="run operations as another user",
        )
        if user is None:
            raise NotFoundException(f"User {op.as_user} not found")
        actors[op.as_user] = replace(
            caller,
            user=user.name,
            is_manager=user.is_manager,
            is_admin=user.is_admin,
            is_service=user.is_service,
        )
    return [
        Operation(
            id=op.id,
            type=op.type,
            entity_type=ENTITY_TYPES[op.entity_type],
            entity_id=parse_entity_id(op.entity_id) if op.entity_id else None,
            data=op.data,
            actor=actors[op.as_user or caller.user],
            force=op.force,
        )
        for op in body.operations
    ]
