"""Entity ids in GraphQL arguments: 32 hex characters, as everywhere in AYON."""

from __future__ import annotations

import uuid

from ayon_server.exceptions import BadRequestException


def parse_ids(values: list[str] | None, what: str = "ids") -> list[uuid.UUID] | None:
    """Entity ids as UUIDs; a GraphQL error for anything but 32 hex characters."""
    if values is None:
        return None
    parsed = []
    for value in values:
        try:
            if len(value) != 32:
                raise ValueError
            parsed.append(uuid.UUID(hex=value))
        except ValueError:
            raise BadRequestException(
                f"{what} must be 32 hex characters, not {value[:40]!r}"
            ) from None
    return parsed
