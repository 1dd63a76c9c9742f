"""The six entity types' REST shape: the entity's columns in camelCase (AYON's entity models)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic.alias_generators import to_camel

from ayon_server.api.models.common import JsonObject, OpenWireModel
from ayon_server.entities.store import EntityRecord


class EntityResponse(OpenWireModel):
    """A folder, task, product, version, representation or workfile; each type adds its own
    columns (name, folderId, taskType, files, ...)."""

    id: str
    path: str
    attrib: dict[str, Any]
    own_attrib: list[str]
    data: JsonObject
    active: bool
    created_at: str
    updated_at: str


class EntityCreatedResponse(OpenWireModel):
    id: str | None


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def entity_response(entity: EntityRecord) -> dict[str, Any]:
    """The entity as AYON's REST API shows it (EntityResponse): its columns in camelCase with
    32-hex ids, then `path` and `ownAttrib`. Built as a dict: the columns differ per type."""
    body = {to_camel(key): _jsonable(value) for key, value in entity.values.items()}
    body["path"] = entity.path
    body["ownAttrib"] = sorted(entity.values["attrib"])
    return body
