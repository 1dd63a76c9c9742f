"""The error body every 4xx/5xx JSON answer carries (made by ayon_server.api.errors)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Fields some errors add; documented, never sent as null.
_OPTIONAL_FIELDS: dict[str, Any] = {
    "path": {
        "type": "string",
        "description": "The request path (validation errors, unknown routes, rejected input)",
    },
    "errors": {
        "type": "array",
        "items": {"type": "object"},
        "description": "A request validation error's pydantic errors (`loc`, `msg`, `type`, ...)",
    },
}


def _document_optional_fields(schema: dict[str, Any]) -> None:
    schema["properties"].update(_OPTIONAL_FIELDS)


class ErrorResponse(BaseModel):
    """`{"code": <status>, "detail": "<message>"}`, as AYON sends it; some errors add fields
    (`ayon_server.api.errors.error_body` makes them all)."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_document_optional_fields)

    code: int = Field(description="The HTTP status code")
    detail: str = Field(description="What went wrong, for a human")
