"""Request bodies of the activity endpoints, in AYON's camelCase."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ayon_server.entities.registry import EntityId

# AYON's limit on a comment's markdown body.
MAX_BODY_LENGTH = 2000
ActivityType = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.\-]{0,63}$")]
Tag = Annotated[str, Field(min_length=1, max_length=100)]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ActivityPostModel(_Model):
    activity_type: ActivityType
    id: EntityId | None = None
    body: Annotated[str, Field(max_length=MAX_BODY_LENGTH)] = ""
    files: list[EntityId] = Field(default_factory=list)
    tags: list[Tag] = Field(default_factory=list)
    timestamp: datetime | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class ActivityPatchModel(_Model):
    body: Annotated[str, Field(max_length=MAX_BODY_LENGTH)] | None = None
    # Replaces the attached files; appendFiles adds to them.
    files: list[EntityId] | None = None
    append_files: bool = False
    tags: list[Tag] | None = None
    data: dict[str, Any] | None = None
