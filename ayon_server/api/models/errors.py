"""The error body every 4xx/5xx JSON answer carries (made by ayon_server.api.errors)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ErrorResponse(BaseModel):
    """`{"code": <status>, "detail": "<message>"}`, as AYON sends it.

    Some errors add fields: `path` (request validation, unknown routes, rejected input) and
    `errors` (the pydantic errors of a request validation error, a 400).
    """

    model_config = ConfigDict(extra="allow")

    code: int = Field(description="The HTTP status code")
    detail: str = Field(description="What went wrong, for a human")
