"""Attribute definitions served by GET /api/attributes (AYON-COMPAT §2).

Built-in user attributes only for now; project entities add theirs when that domain arrives. The
client reads `data.default` of each, so every definition has one.
"""

from __future__ import annotations

from typing import Any

BUILTIN_ATTRIBUTES: list[dict[str, Any]] = [
    {
        "name": "fullName",
        "scope": ["user"],
        "data": {"type": "string", "title": "Full name", "default": None},
    },
    {
        "name": "email",
        "scope": ["user"],
        "data": {"type": "string", "title": "E-mail", "default": None},
    },
    {
        "name": "avatarUrl",
        "scope": ["user"],
        "data": {"type": "string", "title": "Avatar URL", "default": None},
    },
]


def list_attributes() -> list[dict[str, Any]]:
    return [
        {"position": position, "builtin": True, **attribute}
        for position, attribute in enumerate(BUILTIN_ATTRIBUTES)
    ]
