"""`POST /graphql`: the GraphQL endpoint, authenticated like REST (401 without a credential)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from graphql import GraphQLError
from pydantic import BaseModel, Field

from ayon_server.api.auth import CurrentUser
from ayon_server.api.dependencies import RuntimeDep
from ayon_server.api.models.graphql import GraphQLResponse
from ayon_server.api.openapi import sends
from ayon_server.exceptions import AyonException
from ayon_server.graphql import Context, schema

log = logging.getLogger(__name__)

router = APIRouter(tags=["GraphQL"])


class GraphQLRequest(BaseModel):
    query: str = Field(min_length=1, max_length=100_000)
    variables: dict[str, Any] | None = None
    operationName: str | None = None  # the GraphQL wire name


@router.post("/graphql", response_model=None, responses=sends(GraphQLResponse))
async def graphql(body: GraphQLRequest, caller: CurrentUser, runtime: RuntimeDep) -> dict[str, Any]:
    context = Context(db=runtime.db, user=caller.user)
    result = await schema.execute(
        body.query,
        variable_values=body.variables,
        operation_name=body.operationName,
        context_value=context,
    )
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [_wire_error(e) for e in result.errors]
    # How many SQL statements the query cost: one per connection and nesting level.
    payload["extensions"] = {"sqlStatements": context.statements}
    return payload


def _wire_error(error: GraphQLError) -> dict[str, Any]:
    """A query's own mistake keeps its message; anything else is logged, told in general terms."""
    cause = error.original_error
    if cause is None or isinstance(cause, AyonException):
        return {"message": error.message, "path": error.path}
    log.error("GraphQL resolver failed at %s", error.path, exc_info=cause)
    return {"message": "Internal error while resolving this field", "path": error.path}
