"""Attribute definitions served by GET /api/attributes, and their scopes.

The client builds its default GraphQL field sets and fills missing values from these
definitions (`data.default` of each), so every definition has a default. The set and scopes
follow AYON's built-in attributes; values are stored in each entity's `attrib` JSONB.
"""

from __future__ import annotations

from typing import Any

_P, _F, _T, _PR, _V, _R, _W, _U = (
    "project",
    "folder",
    "task",
    "product",
    "version",
    "representation",
    "workfile",
    "user",
)
_SHOT = [_P, _F, _T, _V, _R]  # the frame-range and format attributes


def _attribute(
    name: str, scope: list[str], type_: str, title: str, default: Any = None, **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "scope": scope,
        "data": {"type": type_, "title": title, "default": default, **extra},
    }


BUILTIN_ATTRIBUTES: list[dict[str, Any]] = [
    _attribute("priority", [_P, _F, _T], "string", "Priority", None),
    _attribute("fps", _SHOT, "float", "FPS", 25.0, example=23.976, description="Frame rate"),
    _attribute("resolutionWidth", _SHOT, "integer", "Width", 1920, gt=0, lt=50000),
    _attribute("resolutionHeight", _SHOT, "integer", "Height", 1080, gt=0, lt=50000),
    _attribute("pixelAspect", _SHOT, "float", "Pixel aspect", 1.0, gt=0, lt=10),
    _attribute("clipIn", _SHOT, "integer", "Clip in", 1),
    _attribute("clipOut", _SHOT, "integer", "Clip out", 1),
    _attribute("frameStart", _SHOT, "integer", "Start frame", 1001),
    _attribute("frameEnd", _SHOT, "integer", "End frame", 1001),
    _attribute("handleStart", _SHOT, "integer", "Handle start", 0),
    _attribute("handleEnd", _SHOT, "integer", "Handle end", 0),
    _attribute("startDate", [_P, _F, _T], "datetime", "Start date"),
    _attribute("endDate", [_P, _F, _T], "datetime", "End date"),
    _attribute("tools", [_P, _F, _T], "list_of_strings", "Tools", []),
    _attribute("description", [_P, _F, _T, _PR, _V, _R, _W], "string", "Description", None),
    _attribute("productGroup", [_PR], "string", "Product group"),
    _attribute("intent", [_V], "string", "Intent"),
    _attribute("source", [_V], "string", "Source"),
    _attribute("comment", [_V], "string", "Comment"),
    _attribute("machine", [_V], "string", "Machine", example="workstation42"),
    _attribute("families", [_V], "list_of_strings", "Families", []),
    _attribute("colorSpace", [_V], "string", "Color space", example="rec709"),
    _attribute("path", [_R], "string", "Path"),
    _attribute("template", [_R], "string", "Template"),
    _attribute("extension", [_W, _R], "string", "File extension"),
    _attribute("fullName", [_U], "string", "Full name", example="Jane Doe"),
    _attribute("email", [_U], "string", "E-mail", example="jane.doe@example.com"),
    _attribute("avatarUrl", [_U], "string", "Avatar URL"),
]


def list_attributes() -> list[dict[str, Any]]:
    return [
        {"position": position, "builtin": True, **attribute}
        for position, attribute in enumerate(BUILTIN_ATTRIBUTES)
    ]


def attributes_for(scope: str) -> list[dict[str, Any]]:
    """The definitions an entity type (`folder`, `user`, ...) carries, in position order."""
    return [attribute for attribute in BUILTIN_ATTRIBUTES if scope in attribute["scope"]]


def attribute_defaults(scope: str) -> dict[str, Any]:
    """name -> default of every attribute of the scope (what an unset attribute reads as)."""
    return {a["name"]: a["data"]["default"] for a in attributes_for(scope)}
