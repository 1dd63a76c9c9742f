"""`attrib` and `allAttrib` of GraphQL nodes, from the attribute definitions of each scope.

`attrib` is a typed object per scope (FolderAttribType { fps frameStart ... }) built from
ayon_server.attributes; `allAttrib` is the same values as one JSON string, every attribute of
the scope present (the client expects that). Folders and tasks inherit as in AYON: a value not
set on the entity comes from the nearest ancestor folder that sets it, then from the project,
then from the attribute's default.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

import strawberry

from ayon_server.attributes import attribute_defaults, attributes_for

_PYTHON_TYPES: dict[str, Any] = {
    "integer": int,
    "float": float,
    "string": str,
    "boolean": bool,
    "list_of_strings": list[str],
    "datetime": str,
}


def _coerce(value: Any, type_name: str) -> Any:
    """A stored value as its declared type, or None when it is not one (a value written by an
    older client must not break the whole query)."""
    if value is None:
        return None
    if type_name == "integer":
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if type_name == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok else None
    if type_name == "boolean":
        return value if isinstance(value, bool) else None
    if type_name == "list_of_strings":
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return value if ok else None
    if type_name == "datetime":
        return value.isoformat() if isinstance(value, datetime) else str(value)
    return value if isinstance(value, str) else str(value)


def _attrib_type(scope: str) -> type:
    fields = [
        (a["name"], _PYTHON_TYPES[a["data"]["type"]] | None, dataclasses.field(default=None))
        for a in attributes_for(scope)
    ]
    name = f"{scope[0].upper()}{scope[1:]}AttribType"
    return strawberry.type(dataclasses.make_dataclass(name, fields), name=name)


SCOPES = ("project", "folder", "task", "product", "version", "representation", "workfile", "user")
ATTRIB_TYPES: dict[str, type] = {scope: _attrib_type(scope) for scope in SCOPES}


def effective(scope: str, *layers: dict[str, Any] | None) -> dict[str, Any]:
    """Every attribute of the scope: defaults, overridden by each layer in turn (project,
    ancestors, own), values coerced to their types. Unknown keys stay out."""
    values = attribute_defaults(scope)
    types = {a["name"]: a["data"]["type"] for a in attributes_for(scope)}
    for layer in layers:
        for key, value in (layer or {}).items():
            if key in types and value is not None:
                coerced = _coerce(value, types[key])
                if coerced is not None:
                    values[key] = coerced
    return values


def attrib_object(scope: str, values: dict[str, Any]) -> Any:
    return ATTRIB_TYPES[scope](**values)


def all_attrib_json(values: dict[str, Any]) -> str:
    return json.dumps(values)
