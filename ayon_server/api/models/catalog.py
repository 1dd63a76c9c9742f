"""What the server knows about: attributes and anatomy presets."""

from __future__ import annotations

from typing import Any

from ayon_server.api.models.common import JsonObject, OpenWireModel, WireModel


class AttributesResponse(WireModel):
    attributes: list[JsonObject]


class AnatomyPresetListResponse(WireModel):
    version: str
    presets: list[JsonObject]


class AnatomyPresetResponse(OpenWireModel):
    """An anatomy preset: roots, templates, folder and task types, statuses, tags, attributes."""

    roots: list[JsonObject]
    templates: dict[str, Any]
