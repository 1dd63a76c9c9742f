"""Request models of every entity type, generated from its registry definition.

Create ("post") models require what the type requires; patch models make everything optional,
and which fields a PATCH sent (including explicit nulls) comes from `model_fields_set`.
Both accept camelCase (AYON's wire format) and snake_case, and ignore unknown keys as AYON does.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, create_model

from ayon_server.entities.registry import ENTITY_TYPES, EntityId, EntityName, EntityType
from ayon_server.projects.models import RestModel

Label = Annotated[str, Field(max_length=255)]
StatusName = Annotated[str, Field(min_length=1, max_length=100)]
UserName = Annotated[str, Field(min_length=1, max_length=128)]


def _common_fields(entity_type: EntityType) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "label": Label | None,
        "attrib": dict[str, Any] | None,
        "data": dict[str, Any] | None,
        "status": StatusName | None,
        "tags": list[str] | None,
        "active": bool | None,
    }
    if entity_type.has_thumbnail:
        fields["thumbnail_id"] = EntityId | None
    if entity_type.client_authors:
        fields["created_by"] = UserName | None
        fields["updated_by"] = UserName | None
    return {name: (annotation, None) for name, annotation in fields.items()}


def _build_post_model(entity_type: EntityType) -> type[RestModel]:
    fields: dict[str, Any] = {"id": (EntityId | None, None)}
    if entity_type.derive_name is None:
        fields["name"] = (EntityName, ...)
    for entity_field in entity_type.fields:
        if entity_field.required:
            fields[entity_field.name] = (entity_field.annotation, ...)
        else:
            fields[entity_field.name] = (entity_field.annotation | None, None)
    fields.update(_common_fields(entity_type))
    return create_model(f"{entity_type.title}PostModel", __base__=RestModel, **fields)


def _build_patch_model(entity_type: EntityType) -> type[RestModel]:
    fields: dict[str, Any] = {}
    if entity_type.derive_name is None:
        fields["name"] = (EntityName | None, None)
    for entity_field in entity_type.fields:
        fields[entity_field.name] = (entity_field.annotation | None, None)
    fields.update(_common_fields(entity_type))
    return create_model(f"{entity_type.title}PatchModel", __base__=RestModel, **fields)


POST_MODELS: dict[str, type[RestModel]] = {
    name: _build_post_model(entity_type) for name, entity_type in ENTITY_TYPES.items()
}
PATCH_MODELS: dict[str, type[RestModel]] = {
    name: _build_patch_model(entity_type) for name, entity_type in ENTITY_TYPES.items()
}
