"""The OpenAPI schema says what the server sends: errors as ErrorResponse, 400 and never 422.

Routes declare the errors particular to them with `responses=error_responses(404, 409)`. The
errors every route of a kind can give are added to the schema here, from what the route depends
on: 400 for any operation (bad input), 413 with a JSON body, 401 and 403 when it needs a caller,
503 when it needs PostgreSQL or Redis. FastAPI's 422 (never sent: validation errors are 400) is
dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.routing import BaseRoute

from ayon_server.api.auth import current_caller, optional_caller
from ayon_server.api.dependencies import get_runtime
from ayon_server.api.models.errors import ErrorResponse

ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Bad input; a request validation error lists the pydantic `errors`",
    401: "No credential, or an invalid or expired one",
    403: "The caller may not do this",
    404: "Not found",
    409: "Conflicts with the current state",
    413: "The body is too large",
    415: "Unsupported content type",
    416: "The requested range cannot be satisfied",
    429: "Too many requests; retry later",
    503: "The server is starting or PostgreSQL/Redis is unavailable; retry after `Retry-After`",
}
ERROR_SCHEMA_REF = f"#/components/schemas/{ErrorResponse.__name__}"


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that can answer these error statuses with an ErrorResponse."""
    return {
        status: {"model": ErrorResponse, "description": ERROR_DESCRIPTIONS.get(status, "Error")}
        for status in statuses
    }


def sends(
    model: type[BaseModel], status: int = 200, description: str = "Successful Response"
) -> dict[int | str, dict[str, Any]]:
    """`responses=` declaring the JSON a route returns as it is, with `response_model=None`.

    For bodies the domain already shapes where a response_model would re-validate every row
    and move extra keys (attrib, data, stored fields) after the declared ones.
    """
    return {status: {"model": model, "description": description}}


def sends_bytes(*, ranges: bool = False) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that answers with a file of any type (give it
    `response_class=Response` or a subclass, so no JSON body is declared); with `ranges`, it
    also answers Range requests: 206 with the part, 416 for a range past the end."""
    responses: dict[int | str, dict[str, Any]] = {
        200: {"content": {"*/*": {}}, "description": "The file"}
    }
    if ranges:
        responses[206] = {"content": {"*/*": {}}, "description": "The requested range"}
        responses |= error_responses(416)
    return responses


def takes_bytes(*, required: bool = True) -> dict[str, Any]:
    """`openapi_extra=` for a route that reads its body as a raw stream of bytes (an upload),
    which FastAPI cannot see from the signature."""
    return {"requestBody": {"required": required, "content": {"*/*": {}}}}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def api_routes(app: FastAPI) -> Iterator[Any]:
    """The app's API routes as the schema shows them (full path, effective dependencies).

    FastAPI 0.165 keeps included routers as such and resolves their routes on demand; older
    versions copy the routes into `app.routes`.
    """
    iter_route_contexts: Callable[[list[BaseRoute]], Iterator[Any]] | None = getattr(
        routing, "iter_route_contexts", None
    )
    contexts = iter_route_contexts(app.routes) if iter_route_contexts else iter(app.routes)
    for context in contexts:
        if isinstance(getattr(context, "original_route", context), APIRoute):
            yield context


def standard_errors(route: APIRoute) -> list[int]:
    """The error statuses a route can answer because of what it depends on."""
    calls = set(_calls(route.dependant))
    statuses = [400]
    if current_caller in calls or optional_caller in calls:
        statuses += [401, 403]
    if route.body_field is not None:
        statuses.append(413)
    if get_runtime in calls:
        statuses.append(503)
    return statuses


def _error_response(status: int) -> dict[str, Any]:
    return {
        "description": ERROR_DESCRIPTIONS.get(status, "Error"),
        "content": {"application/json": {"schema": {"$ref": ERROR_SCHEMA_REF}}},
    }


def _references(value: Any, ref: str) -> bool:
    if isinstance(value, dict):
        return value.get("$ref") == ref or any(_references(v, ref) for v in value.values())
    if isinstance(value, list):
        return any(_references(v, ref) for v in value)
    return False


def build_openapi(app: FastAPI) -> dict[str, Any]:
    schema = FastAPI.openapi(app)
    paths = schema.get("paths", {})
    for route in api_routes(app):
        if not route.include_in_schema:
            continue
        path_item = paths.get(route.path_format, {})
        for method in route.methods:
            operation = path_item.get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status in standard_errors(route):
                responses.setdefault(str(status), _error_response(status))
            for status, response in responses.items():
                if status.startswith(("4", "5")) and "content" not in response:
                    response["content"] = _error_response(int(status))["content"]
            operation["responses"] = dict(sorted(responses.items()))
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components[ErrorResponse.__name__] = ErrorResponse.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    # FastAPI's 422 body and its items, unless something else still refers to them.
    components.pop("HTTPValidationError", None)
    if not _references(schema, "#/components/schemas/ValidationError"):
        components.pop("ValidationError", None)
    return schema


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
