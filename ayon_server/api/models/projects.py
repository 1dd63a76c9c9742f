"""GET /api/projects and /api/projects/{name}: AYON's project list and ProjectModel."""

from __future__ import annotations

from typing import Any

from ayon_server.api.models.common import JsonObject, OpenWireModel, WireModel


class ProjectSummary(WireModel):
    name: str
    code: str
    label: str | None
    active: bool
    library: bool
    created_at: str
    updated_at: str


class ProjectListResponse(WireModel):
    detail: str
    count: int
    projects: list[ProjectSummary]


class LinkTypeResponse(WireModel):
    """A link type of a project: `name` is `<linkType>|<inputType>|<outputType>`."""

    name: str
    link_type: str
    input_type: str
    output_type: str
    data: JsonObject


class ProjectResponse(OpenWireModel):
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
