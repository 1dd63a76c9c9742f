"""Activities (comments and the like) on an entity, with their references and files."""

from __future__ import annotations

from ayon_server.api.models.common import JsonObject, WireModel


class ActivityReference(WireModel):
    reference_type: str
    entity_type: str
    entity_id: str | None
    entity_name: str | None


class ActivityFile(WireModel):
    id: str
    name: str
    size: int
    mime: str | None


class ActivityResponse(WireModel):
    id: str
    activity_type: str
    body: str
    tags: list[str]
    data: JsonObject
    author: str | None
    references: list[ActivityReference]
    files: list[ActivityFile]
    created_at: str
    updated_at: str


class ActivityListResponse(WireModel):
    activities: list[ActivityResponse]
