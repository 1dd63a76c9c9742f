"""Projects: list, read, create, change, delete.

Who may do what: any logged-in user reads projects (this server has no per-project access
groups); managers and admins create, change and delete them, as in AYON. Project names match
^[a-zA-Z0-9_]{1,64}$ (400 otherwise) and are case-insensitive: `Demo` and `demo` are one project.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from ayon_server.api.auth import CurrentUser, ManagerActor
from ayon_server.api.dependencies import RuntimeDep
from ayon_server.api.models.projects import ProjectListItem, ProjectListResponse, ProjectResponse
from ayon_server.api.openapi import error_responses
from ayon_server.projects import store
from ayon_server.projects.models import ProjectPatchModel, ProjectPostModel

router = APIRouter(prefix="/api/projects", tags=["Projects"])


@router.get("", response_model=ProjectListResponse)
async def list_projects(
    _caller: CurrentUser,
    runtime: RuntimeDep,
    active: Annotated[bool | None, Query()] = None,
    library: Annotated[bool | None, Query()] = None,
) -> ProjectListResponse:
    projects = await store.list_projects(runtime.db, active=active, library=library)
    return ProjectListResponse(
        detail=f"{len(projects)} projects",
        count=len(projects),
        projects=[ProjectListItem.of(project) for project in projects],
    )


@router.post("", status_code=201, response_class=Response, responses=error_responses(409))
async def create_project(
    body: ProjectPostModel, actor: ManagerActor, runtime: RuntimeDep
) -> Response:
    await store.create_project(runtime.events, runtime.db, body, actor)
    return Response(status_code=201)


@router.get("/{project_name}", response_model=ProjectResponse, responses=error_responses(404))
async def get_project(
    project_name: str, _caller: CurrentUser, runtime: RuntimeDep
) -> ProjectResponse:
    return ProjectResponse.of(await store.get_project(runtime.db, project_name))


@router.patch(
    "/{project_name}", status_code=204, response_class=Response, responses=error_responses(404)
)
async def update_project(
    project_name: str, body: ProjectPatchModel, actor: ManagerActor, runtime: RuntimeDep
) -> Response:
    await store.update_project(runtime.events, runtime.db, project_name, body, actor)
    return Response(status_code=204)


@router.delete(
    "/{project_name}", status_code=204, response_class=Response, responses=error_responses(404)
)
async def delete_project(project_name: str, actor: ManagerActor, runtime: RuntimeDep) -> Response:
    await store.delete_project(runtime.events, runtime.db, project_name, actor)
    return Response(status_code=204)
