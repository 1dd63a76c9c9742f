"""Request models of the links API, in AYON's camelCase (snake_case accepted too)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from ayon_server.entities.registry import EntityId
from ayon_server.projects.models import RestModel

# Bulk creation runs in one transaction; the cap keeps that transaction short.
MAX_BULK_LINKS = 5000


class LinkPostModel(RestModel):
    """A new link. `linkType` is the full name ("type|input|output") or only its first part,
    in which case the entity types complete it; `link` is AYON's deprecated spelling."""

    id: EntityId | None = None
    input: EntityId
    output: EntityId
    link_type: str | None = Field(default=None, min_length=1, max_length=300)
    link: str | None = Field(default=None, min_length=1, max_length=300)
    name: str | None = Field(default=None, max_length=255)
    data: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_link_type(self) -> LinkPostModel:
        if self.link_type is None:
            if self.link is None:
                raise ValueError("linkType is required")
            self.link_type = self.link
        return self


class BulkLinksModel(RestModel):
    links: list[LinkPostModel] = Field(min_length=1, max_length=MAX_BULK_LINKS)
