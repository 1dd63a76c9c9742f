"""POST /graphql answers in GraphQL's response format."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class GraphQLResponse(BaseModel):
    data: dict[str, Any] | None
    errors: list[dict[str, Any]] | None = None
