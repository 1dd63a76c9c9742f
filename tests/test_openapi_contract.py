"""/openapi.json tells the truth: the errors it declares are the ones sent, every JSON answer
has a schema, and what a client gets validates against the schema declared for its status.

The operations come from the app's own schema, so a new route is covered without a change here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from jsonschema import Draft202012Validator

from ayon_server.api.auth import CurrentUser
from ayon_server.api.dependencies import RuntimeDep
from ayon_server.api.models.common import IdResponse
from ayon_server.api.openapi import error_responses
from ayon_server.config import Settings
from ayon_server.runtime import Runtime
from tests.helpers.server import server_app
from tests.helpers.users import login, make_user

ERROR_REF = "#/components/schemas/ErrorResponse"
METHODS = ("get", "put", "post", "delete", "patch")
# A syntactically valid value per path parameter name, so a request reaches the part under test.
PATH_VALUES = {
    "project_name": "no_such_project",
    "entity_type": "folder",
    "preset_name": "no_such_preset",
    "user_name": "no_such_user",
    "link_type_name": "reference|folder|folder",
    "site_id": "no-such-site",
    "token": "0" * 64,
}
HEX_ID = "0" * 32
# Breaks every name and id pattern of the API (names allow letters, digits, `_.-` only).
BAD_PATH_VALUE = "bad%20value!"


class PathValues(dict[str, str]):
    """Path parameter values; one not given is a valid-looking placeholder."""

    def __missing__(self, name: str) -> str:
        return PATH_VALUES.get(name, HEX_ID)


@pytest.fixture(scope="module")
def schema(settings: Settings) -> dict[str, Any]:
    """The app's OpenAPI document, as GET /openapi.json serves it (no database needed)."""
    return server_app(settings).openapi()


@pytest.fixture
async def admin(client: httpx.AsyncClient, runtime: Runtime, clean_tables: None) -> dict[str, str]:
    return await login(client, await make_user(runtime, isAdmin=True))


def operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def concrete_path(path: str, operation: dict[str, Any]) -> str:
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            name = parameter["name"]
            value = PATH_VALUES.get(name, HEX_ID)
            path = path.replace("{" + name + "}", value)
    return path


def undeclared(
    schema: dict[str, Any], operation: dict[str, Any], response: httpx.Response
) -> str | None:
    """Why the answer breaks the declared contract; None when its status is declared and a JSON
    body validates against the schema declared for that status."""
    declared = operation["responses"].get(str(response.status_code))
    if declared is None:
        return f"{response.status_code} is not declared: {response.text[:200]}"
    if not response.headers.get("content-type", "").startswith("application/json"):
        return None
    body_schema = declared.get("content", {}).get("application/json", {}).get("schema")
    if not body_schema:
        return f"no JSON schema declared for {response.status_code}"
    validator = Draft202012Validator({**body_schema, "components": schema["components"]})
    errors = [error.message for error in validator.iter_errors(response.json())]
    return f"{response.status_code} does not match its schema: {errors}" if errors else None


async def test_every_operation_declares_its_400_as_error_response_and_none_declares_422(
    schema: dict[str, Any],
) -> None:
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    error_schema = schema["components"]["schemas"]["ErrorResponse"]
    assert set(error_schema["required"]) == {"code", "detail"}
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        assert "422" not in responses, f"{method} {path}"
        assert responses["400"]["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}


async def test_every_error_status_declared_has_a_json_schema(schema: dict[str, Any]) -> None:
    for path, method, operation in operations(schema):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                content = response.get("content", {}).get("application/json", {})
                assert content.get("schema"), f"{method} {path} {status}"


async def test_openapi_json_serves_the_document_checked_here(
    schema: dict[str, Any], client: httpx.AsyncClient
) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json() == schema


async def test_operations_that_need_a_caller_declare_401_and_403(
    schema: dict[str, Any], client: httpx.AsyncClient
) -> None:
    refused = 0
    for path, method, operation in operations(schema):
        response = await client.request(method, concrete_path(path, operation))
        if response.status_code == 401:
            refused += 1
            assert {"401", "403"} <= set(operation["responses"]), f"{method} {path}"
    assert refused > 50


def _named(body_schema: dict[str, Any]) -> bool:
    """A model of its own (or a list of them), or JSON null: not an anonymous `object`."""
    if body_schema.get("type") == "array":
        return _named(body_schema.get("items", {}))
    return "$ref" in body_schema or body_schema.get("type") == "null"


async def test_every_json_success_declares_a_named_model(schema: dict[str, Any]) -> None:
    anonymous = [
        f"{method} {path} {status}: {body.get('schema')}"
        for path, method, operation in operations(schema)
        for status, response in operation["responses"].items()
        if status.startswith("2")
        and (body := response.get("content", {}).get("application/json")) is not None
        and not _named(body.get("schema") or {})
    ]
    assert not anonymous, "\n".join(anonymous)


async def test_an_anonymous_request_to_any_operation_gets_a_declared_answer(
    schema: dict[str, Any], client: httpx.AsyncClient
) -> None:
    problems = []
    for path, method, operation in operations(schema):
        response = await client.request(method, concrete_path(path, operation))
        if problem := undeclared(schema, operation, response):
            problems.append(f"{method} {path}: {problem}")
    assert not problems, "\n".join(problems)


def _bad_path(path: str, operation: dict[str, Any]) -> str | None:
    """The path with a value that breaks its pattern for each patterned path parameter."""
    patterned = [
        p["name"]
        for p in operation.get("parameters", [])
        if p["in"] == "path" and "pattern" in p.get("schema", {})
    ]
    if not patterned:
        return None
    for name in patterned:
        path = path.replace("{" + name + "}", BAD_PATH_VALUE)
    return concrete_path(path, operation)


def _bad_query(operation: dict[str, Any]) -> dict[str, str]:
    """A value of the wrong type for each typed query parameter."""
    bad = {}
    for parameter in operation.get("parameters", []):
        kind = parameter.get("schema", {}).get("type")
        if parameter["in"] == "query" and kind in ("integer", "boolean", "number"):
            bad[parameter["name"]] = "not-a-" + kind
    return bad


async def test_bad_bodies_and_parameters_get_a_400_that_matches_the_declared_schema(
    schema: dict[str, Any], client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    tried = 0
    problems = []
    for path, method, operation in operations(schema):
        url = concrete_path(path, operation)
        what = f"{method} {path}"
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            # A JSON value of the wrong kind for any body this API takes.
            json_headers = {**admin, "Content-Type": "application/json"}
            response = await client.request(method, url, headers=json_headers, content=b'"text"')
            if response.status_code != 400:
                # Bodies that are optional or take any JSON value: a malformed one, then.
                response = await client.request(
                    method, url, headers=json_headers, content=b"{not json"
                )
            assert response.status_code == 400, f"{what}: {response.text}"
            if problem := undeclared(schema, operation, response):
                problems.append(f"{what}: {problem}")
            tried += 1
        if bad := _bad_query(operation):
            response = await client.request(method, url, headers=admin, params=bad)
            assert response.status_code == 400, f"{what} {bad}: {response.text}"
            assert response.json()["errors"], what
            if problem := undeclared(schema, operation, response):
                problems.append(f"{what}: {problem}")
            tried += 1
        if bad_path := _bad_path(path, operation):
            response = await client.request(method, bad_path, headers=admin)
            assert response.status_code == 400, f"{what} {bad_path}: {response.text}"
            if problem := undeclared(schema, operation, response):
                problems.append(f"{what}: {problem}")
            tried += 1
    assert not problems, "\n".join(problems)
    assert tried > 60


class Checked:
    """A client for one caller that checks every answer against the operation it reached."""

    def __init__(self, client: httpx.AsyncClient, schema: dict[str, Any], headers: dict[str, str]):
        self.client, self.schema, self.headers = client, schema, headers
        self.problems: list[str] = []
        self.reached: set[tuple[str, str]] = set()

    async def request(
        self, method: str, template: str, values: dict[str, str], **kwargs: Any
    ) -> httpx.Response:
        operation = self.schema["paths"][template][method]
        url = template.format_map(PathValues(values))
        headers = {**self.headers, **kwargs.pop("headers", {})}
        response = await self.client.request(method, url, headers=headers, **kwargs)
        self.reached.add((method, template))
        if problem := undeclared(self.schema, operation, response):
            self.problems.append(f"{method} {template}: {problem}")
        return response


ENTITY_BODIES: dict[str, dict[str, Any]] = {
    "folder": {"name": "assets", "folderType": "Asset"},
    "task": {"name": "modeling", "taskType": "Modeling", "folderId": "{folder}"},
    "product": {"name": "modelMain", "productType": "model", "folderId": "{folder}"},
    "version": {"version": 1, "productId": "{product}", "taskId": "{task}"},
    "representation": {"name": "abc", "versionId": "{version}"},
    "workfile": {"path": "/work/assets/modeling_v001.ma", "taskId": "{task}"},
}


async def test_what_a_client_gets_from_real_data_matches_the_declared_schemas(
    schema: dict[str, Any], client: httpx.AsyncClient, runtime: Runtime, clean_tables: None
) -> None:
    name = await make_user(runtime, isAdmin=True)
    api = Checked(client, schema, await login(client, name))
    project = f"contract_{name[-8:]}"
    values = {"project_name": project, "user_name": name, "preset_name": "_"}
    created = await api.request(
        "post", "/api/projects", {}, json={"name": project, "code": f"c{name[-8:]}"}
    )
    assert created.status_code == 201, created.text
    try:
        await _walk_the_api(api, values)
    finally:
        await client.delete(f"/api/projects/{project}", headers=api.headers)
    assert not api.problems, "\n".join(api.problems)
    gets = {(m, p) for p, m, _ in operations(schema) if m == "get"}
    assert len(gets & api.reached) > 25


async def _walk_the_api(api: Checked, values: dict[str, str]) -> None:
    """One of everything, then every GET the schema has on it."""
    ids: dict[str, str] = {}
    for entity_type, body in ENTITY_BODIES.items():
        body = {k: v.format(**ids) if isinstance(v, str) else v for k, v in body.items()}
        response = await api.request(
            "post", f"/api/projects/{{project_name}}/{entity_type}s", values, json=body
        )
        assert response.status_code == 201, response.text
        ids[entity_type] = response.json()["id"]
    link_type = "reference|version|version"
    await api.request(
        "put",
        "/api/projects/{project_name}/links/types/{link_type_name}",
        {**values, "link_type_name": link_type},
        json={},
    )
    second = await api.request(
        "post",
        "/api/projects/{project_name}/versions",
        values,
        json={"version": 2, "productId": ids["product"]},
    )
    link = {"input": second.json()["id"], "output": ids["version"], "linkType": link_type}
    await api.request("post", "/api/projects/{project_name}/links", values, json=link)
    await api.request(
        "post",
        "/api/projects/{project_name}/links/bulk",
        values,
        json={
            "links": [
                {
                    **link,
                    "linkType": link_type,
                    "input": ids["version"],
                    "output": second.json()["id"],
                }
            ]
        },
    )
    upload = await api.request(
        "post",
        "/api/projects/{project_name}/files",
        values,
        content=b"hello",
        headers={"x-file-name": "notes.txt", "Content-Type": "text/plain"},
    )
    activity = {"activityType": "comment", "body": "Looks good", "files": [upload.json()["id"]]}
    await api.request(
        "post",
        "/api/projects/{project_name}/{entity_type}/{entity_id}/activities",
        {**values, "entity_type": "folder", "entity_id": ids["folder"]},
        json=activity,
    )
    background = await api.request(
        "post",
        "/api/projects/{project_name}/operations/background",
        values,
        json={"operations": [{"type": "create", "entityType": "folder", "data": {"name": "b"}}]},
    )
    await api.request("post", "/api/actions/list", values, json={})
    query = "query Q($p: String!) { project(name: $p) { folders { edges { node { name } } } } }"
    answer = await api.request(
        "post",
        "/graphql",
        values,
        json={"query": query, "variables": {"p": values["project_name"]}},
    )
    assert "errors" not in answer.json(), answer.text

    events = await api.client.get("/api/events", headers=api.headers)
    values |= {
        "file_id": upload.json()["id"],
        "task_id": background.json()["id"],
        "event_id": events.json()["events"][0]["id"],
        "entity_type": "folder",
        "entity_id": ids["folder"],
        "token": PATH_VALUES["token"],
    }
    for path, method, _ in operations(api.schema):
        if method != "get" or "thumbnail" in path:
            continue
        segment = path.split("/{entity_id}")[0].rsplit("/", 1)[-1]
        entity = segment.removesuffix("s") if "{entity_id}" in path else None
        path_values = {**values, "entity_id": ids.get(entity or "", ids["folder"])}
        await api.request("get", path, path_values)


async def test_a_new_route_gets_the_standard_errors_from_what_it_depends_on(
    settings: Settings,
) -> None:
    router = APIRouter()

    @router.post("/api/new-thing", response_model=IdResponse, responses=error_responses(409))
    async def new_thing(body: IdResponse, _caller: CurrentUser, _runtime: RuntimeDep) -> Any:
        return body

    app = server_app(settings)
    app.include_router(router)
    responses = app.openapi()["paths"]["/api/new-thing"]["post"]["responses"]

    assert sorted(responses) == ["200", "400", "401", "403", "409", "413", "503"]
    for status in ("400", "401", "403", "409", "413", "503"):
        assert responses[status]["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}
