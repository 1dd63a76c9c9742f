"""Project files (activity attachments, reviewables)."""

from __future__ import annotations

from ayon_server.api.models.common import WireModel


class FileInfoResponse(WireModel):
    id: str
    name: str
    size: int
    mime: str | None
    author: str | None
    activity_id: str | None
    created_at: str
    updated_at: str
