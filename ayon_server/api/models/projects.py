"""GET /api/projects and /api/projects/{name}: AYON's project list and ProjectModel."""

from __future__ import annotations

from typing import Any

from ayon_server.api.models.common import JsonObject, WireModel
from ayon_server.projects.store import LinkType, Project, ProjectSummary


class ProjectListItem(WireModel):
    name: str
    code: str
    label: str | None
    active: bool
    library: bool
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, project: ProjectSummary) -> ProjectListItem:
        return cls(
            name=project.name,
            code=project.code,
            label=project.label,
            active=project.active,
            library=project.library,
            created_at=project.created_at.isoformat(),
            updated_at=project.updated_at.isoformat(),
        )


class ProjectListResponse(WireModel):
    detail: str
    count: int
    projects: list[ProjectListItem]


class LinkTypeResponse(WireModel):
    """A link type of a project: `name` is `<linkType>|<inputType>|<outputType>`."""

    name: str
    link_type: str
    input_type: str
    output_type: str
    data: JsonObject

    @classmethod
    def of(cls, link_type: LinkType) -> LinkTypeResponse:
        return cls(
            name=link_type.name,
            link_type=link_type.link_type,
            input_type=link_type.input_type,
            output_type=link_type.output_type,
            data=link_type.data,
        )


class ProjectResponse(WireModel):
    name: str
    code: str
    label: str | None
    library: bool
    active: bool
    folder_types: list[JsonObject]
    task_types: list[JsonObject]
    link_types: list[LinkTypeResponse]
    statuses: list[JsonObject]
    tags: list[JsonObject]
    config: JsonObject
    attrib: dict[str, Any]
    own_attrib: list[str]
    data: JsonObject
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, project: Project) -> ProjectResponse:
        return cls(
            name=project.name,
            code=project.code,
            label=project.label,
            library=project.library,
            active=project.active,
            folder_types=project.folder_types,
            task_types=project.task_types,
            link_types=[LinkTypeResponse.of(lt) for lt in project.link_types],
            statuses=project.statuses,
            tags=project.tags,
            config=project.config,
            attrib=project.attrib,
            own_attrib=sorted(project.attrib),
            data=project.data,
            created_at=project.created_at.isoformat(),
            updated_at=project.updated_at.isoformat(),
        )
