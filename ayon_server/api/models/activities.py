"""Activities (comments and the like) on an entity, with their references and files."""

from __future__ import annotations

from ayon_server.activities.store import Activity, ActivityFile, ActivityReference
from ayon_server.api.models.common import JsonObject, WireModel


class ActivityReferenceResponse(WireModel):
    reference_type: str
    entity_type: str
    entity_id: str | None
    entity_name: str | None

    @classmethod
    def of(cls, ref: ActivityReference) -> ActivityReferenceResponse:
        return cls(
            reference_type=ref.reference_type,
            entity_type=ref.entity_type,
            entity_id=ref.entity_id.hex if ref.entity_id else None,
            entity_name=ref.entity_name,
        )


class ActivityFileResponse(WireModel):
    id: str
    name: str
    size: int
    mime: str | None

    @classmethod
    def of(cls, file: ActivityFile) -> ActivityFileResponse:
        return cls(id=file.id.hex, name=file.name, size=file.size, mime=file.mime)


class ActivityResponse(WireModel):
    id: str
    activity_type: str
    body: str
    tags: list[str]
    data: JsonObject
    author: str | None
    references: list[ActivityReferenceResponse]
    files: list[ActivityFileResponse]
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, activity: Activity) -> ActivityResponse:
        return cls(
            id=activity.id.hex,
            activity_type=activity.activity_type,
            body=activity.body,
            tags=activity.tags,
            data=activity.data,
            author=activity.author,
            references=[ActivityReferenceResponse.of(ref) for ref in activity.references],
            files=[ActivityFileResponse.of(file) for file in activity.files],
            created_at=activity.created_at.isoformat(),
            updated_at=activity.updated_at.isoformat(),
        )


class ActivityListResponse(WireModel):
    activities: list[ActivityResponse]
