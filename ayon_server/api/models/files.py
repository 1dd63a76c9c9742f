"""Project files (activity attachments, reviewables)."""

from __future__ import annotations

from ayon_server.api.models.common import WireModel
from ayon_server.files.store import StoredFile


class FileInfoResponse(WireModel):
    id: str
    name: str
    size: int
    mime: str | None
    author: str | None
    activity_id: str | None
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, file: StoredFile) -> FileInfoResponse:
        return cls(
            id=file.id.hex,
            name=file.name,
            size=file.size,
            mime=file.mime,
            author=file.author,
            activity_id=file.activity_id.hex if file.activity_id else None,
            created_at=file.created_at.isoformat(),
            updated_at=file.updated_at.isoformat(),
        )
