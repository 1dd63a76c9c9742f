"""The six entity types' REST shape: the entity's columns in camelCase (AYON's entity models)."""

from __future__ import annotations

from typing import Any

from ayon_server.api.models.common import JsonObject, OpenWireModel


class EntityResponse(OpenWireModel):
    """A folder, task, product, version, representation or workfile; each type adds its own
    columns (name, folderId, taskType, files, ...)."""

    id: str
    path: str | None
    attrib: dict[str, Any]
    own_attrib: list[str]
    data: JsonObject
    active: bool
    created_at: str
    updated_at: str


class EntityCreatedResponse(OpenWireModel):
    id: str | None
