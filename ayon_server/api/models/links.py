"""Link types and links of a project."""

from __future__ import annotations

from typing import Literal

from ayon_server.api.models.common import JsonObject, WireModel
from ayon_server.api.models.projects import LinkTypeResponse
from ayon_server.links.store import EntityLink


class LinkTypeListResponse(WireModel):
    types: list[LinkTypeResponse]


class CreatedLink(WireModel):
    id: str
    input: str
    output: str
    link_type: str


class BulkLinksResponse(WireModel):
    created: list[CreatedLink]


class EntityLinkResponse(WireModel):
    """A link seen from one of its ends: `in` links point at the entity, `out` links leave it."""

    id: str
    name: str | None
    link_type: str
    direction: Literal["in", "out"]
    entity_id: str
    entity_type: str | None
    author: str | None
    data: JsonObject
    created_at: str

    @classmethod
    def of(cls, link: EntityLink) -> EntityLinkResponse:
        return cls(
            id=link.id.hex,
            name=link.name,
            link_type=link.link_type,
            direction=link.direction,
            entity_id=link.entity_id.hex,
            entity_type=link.entity_type,
            author=link.author,
            data=link.data,
            created_at=link.created_at.isoformat(),
        )


class EntityLinksResponse(WireModel):
    links: list[EntityLinkResponse]
