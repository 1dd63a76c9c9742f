"""The six project-level entity types, each defined once.

An EntityType names its table, its parent reference, its type-specific fields and a few traits;
the request models (entities.models), the SQL (entities.store) and the response shape are
derived from it, so folders, tasks, products, versions, representations and workfiles share
one implementation. Every type also has the common fields: name, label, attrib, data, status,
tags, active, created_by, updated_by, created_at, updated_at (and thumbnail_id where it can
carry a thumbnail).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Annotated, Any

from pydantic import Field

from ayon_server.exceptions import BadRequestException

ENTITY_ID_PATTERN = r"^[0-9a-fA-F]{32}$"
# AYON's NAME_REGEX for entity names; no "/" so folder paths split unambiguously.
ENTITY_NAME_PATTERN = r"^[a-zA-Z0-9_]([a-zA-Z0-9_.\-]*[a-zA-Z0-9_])?$"

EntityId = Annotated[str, Field(pattern=ENTITY_ID_PATTERN, description="32 hex characters")]
EntityName = Annotated[str, Field(pattern=ENTITY_NAME_PATTERN, max_length=255)]
TypeName = Annotated[str, Field(min_length=1, max_length=100)]
# A PostgreSQL INTEGER; hero versions are negative.
VersionNumber = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]

_ENTITY_ID_RE = re.compile(ENTITY_ID_PATTERN)


def parse_entity_id(value: str) -> uuid.UUID:
    """AYON's 32-hex entity id as a UUID; 400 otherwise."""
    if not _ENTITY_ID_RE.match(value):
        raise BadRequestException(f"Invalid entity id {value[:40]!r}: expected 32 hex characters")
    return uuid.UUID(hex=value)


@dataclass(frozen=True)
class EntityField:
    """A type-specific column; its API name is the camelCase of `name`."""

    name: str
    annotation: Any
    required: bool = False  # must be given on create
    nullable: bool = False  # may be NULL, and PATCH may set it to null
    references: str | None = None  # the entity type this id points at


@dataclass(frozen=True)
class EntityType:
    name: str
    fields: tuple[EntityField, ...]
    # The field naming the parent in the tree: `parentId` of event summaries, and the first
    # link of the chain that builds the entity's path.
    parent_field: str | None
    has_thumbnail: bool
    # Project anatomy list the subtype must be one of ("folder_types" for folder_type...).
    subtype: tuple[str, str] | None = None
    # None: the client names the entity; otherwise the name is derived from the values.
    derive_name: Callable[[dict[str, Any]], str] | None = None
    # Clients may set created_by/updated_by themselves (AYON allows it for workfiles).
    client_authors: bool = False

    @property
    def table(self) -> str:
        return f"{self.name}s"

    @property
    def title(self) -> str:
        return self.name.capitalize()

    def field(self, name: str) -> EntityField:
        for entity_field in self.fields:
            if entity_field.name == name:
                return entity_field
        raise KeyError(name)

    @property
    def references(self) -> tuple[EntityField, ...]:
        return tuple(f for f in self.fields if f.references is not None)


def version_name(values: dict[str, Any]) -> str:
    """AYON's version name: v001, or HERO for hero versions (negative numbers)."""
    version = values["version"]
    return "HERO" if version < 0 else f"v{version:03d}"


def workfile_name(values: dict[str, Any]) -> str:
    """A workfile is named after its file."""
    path = values["path"]
    return PurePosixPath(path.replace("\\", "/")).name or path


FOLDER = EntityType(
    name="folder",
    fields=(
        EntityField("parent_id", EntityId, nullable=True, references="folder"),
        EntityField("folder_type", TypeName),
    ),
    parent_field="parent_id",
    has_thumbnail=True,
    subtype=("folder_type", "folder_types"),
)
TASK = EntityType(
    name="task",
    fields=(
        EntityField("folder_id", EntityId, required=True, references="folder"),
        EntityField("task_type", TypeName),
        EntityField("assignees", list[str]),
    ),
    parent_field="folder_id",
    has_thumbnail=True,
    subtype=("task_type", "task_types"),
)
PRODUCT = EntityType(
    name="product",
    fields=(
        EntityField("folder_id", EntityId, required=True, references="folder"),
        EntityField("product_type", TypeName, required=True),
        EntityField("product_base_type", TypeName, nullable=True),
    ),
    parent_field="folder_id",
    has_thumbnail=False,
)
VERSION = EntityType(
    name="version",
    fields=(
        EntityField("product_id", EntityId, required=True, references="product"),
        EntityField("version", VersionNumber, required=True),
        EntityField("task_id", EntityId, nullable=True, references="task"),
        EntityField("author", Annotated[str, Field(max_length=255)], nullable=True),
    ),
    parent_field="product_id",
    has_thumbnail=True,
    derive_name=version_name,
)
REPRESENTATION = EntityType(
    name="representation",
    fields=(
        EntityField("version_id", EntityId, required=True, references="version"),
        EntityField("files", list[dict[str, Any]]),
        EntityField("traits", dict[str, Any], nullable=True),
    ),
    parent_field="version_id",
    has_thumbnail=False,
)
WORKFILE = EntityType(
    name="workfile",
    fields=(
        EntityField("task_id", EntityId, required=True, references="task"),
        EntityField("path", Annotated[str, Field(min_length=1, max_length=4096)], required=True),
    ),
    parent_field="task_id",
    has_thumbnail=True,
    derive_name=workfile_name,
    client_authors=True,
)

ENTITY_TYPES: dict[str, EntityType] = {
    t.name: t for t in (FOLDER, TASK, PRODUCT, VERSION, REPRESENTATION, WORKFILE)
}
