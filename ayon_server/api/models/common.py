"""Pieces several resources' wire shapes share."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    """A JSON object in AYON's camelCase: snake_case attributes, camelCase keys on the wire."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class OpenWireModel(WireModel):
    """A wire object with the fields named here and more besides (attrib, data, stored keys)."""

    model_config = ConfigDict(extra="allow")


class IdResponse(BaseModel):
    """What a create answers: the new object's 32-hex id."""

    id: str


class DetailResponse(BaseModel):
    detail: str


JsonObject = dict[str, Any]
