"""Hostile input on every route the app declares: never a 5xx, always a 4xx with {code, detail}.

The operations come from the app's own OpenAPI document, so a new route is covered the day it
is added. Each gets, as an administrator (the deepest reach), hostile path segments, query
values and JSON bodies; values that cannot be stored (NUL, invalid UTF-8, NaN, 1e999999...) must
be refused with 400 before anything is written.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from ayon_server.api.app import create_app
from ayon_server.api.input_guard import is_raw_upload
from ayon_server.config import Settings
from ayon_server.runtime import Runtime
from tests.helpers.server import server_app, serving
from tests.helpers.users import make_user

# A plausible value for each path parameter, so the hostile one is the only thing wrong.
PATH_DEFAULTS = {"entity_type": "folder", "preset_name": "__primary__"}
DEFAULT_ID = "0" * 32

# Must be refused by the input guard, whatever the route.
UNSTORABLE_SEGMENTS = ["a%00b", "%ED%A0%80", "%FF%FE"]
# Must not break anything: 4xx (or a normal answer), never 5xx.
ODD_SEGMENTS = ["..%2F..%2Fetc%2Fpasswd", "x" * 3000, "%20", "-1", "not-an-id!", "%E2%80%AE"]
ODD_QUERY_VALUES = ["", "-1", "1" + "0" * 30, "NaN", "1e999999", "!!notacursor==", "x" * 5000]
UNSTORABLE_BODIES = [
    b'{"name": "a\\u0000b"}',
    b'{"name": "\\ud800"}',
    b'{"n": NaN}',
    b'{"n": -Infinity}',
    b'{"n": 1e999999}',
    b"[" * 50_000 + b"]" * 50_000,
]
ODD_BODIES = [
    (b'{"name": "a"', "application/json"),
    (b"\xff\xfe", "application/json"),
    (b"[]", "application/json"),
    (b"null", "application/json"),
    (b'{"limit": -1, "first": 1000000000000, "after": "!!", "ids": ["zz"]}', "application/json"),
    (b"{}", "text/plain"),
    (b"<a/>", "application/xml"),
    (b"name=a", "application/x-www-form-urlencoded"),
]
# Routes whose valid call has an effect beyond the test: no well-formed body is sent to them.
SIDE_EFFECTS = {("POST", "/api/maintenance/run")}


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    schema = create_app(Settings()).openapi()
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]


OPERATIONS = _operations()


@pytest.fixture(scope="module")
async def admin_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    runtime = Runtime.create(settings)
    key = secrets.token_hex(32)
    try:
        await make_user(runtime, api_key=key, isAdmin=True)
    finally:
        await runtime.close()
    async with serving(server_app(settings)) as client:
        client.headers["X-Api-Key"] = key
        yield client


def _fill(path: str, **values: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values:
            return values[name]
        if name in PATH_DEFAULTS:
            return PATH_DEFAULTS[name]
        return DEFAULT_ID if name.endswith("id") or name == "token" else "nosuch"

    return re.sub(r"{(\w+)[^}]*}", value, path)


def _params(operation: dict[str, Any], where: str) -> list[dict[str, Any]]:
    return [p for p in operation.get("parameters", []) if p["in"] == where]


def assert_client_error(response: httpx.Response, *, status: int | None = None) -> None:
    request = f"{response.request.method} {response.request.url}"
    assert response.status_code < 500, f"{request}: {response.status_code} {response.text[:300]}"
    if status is not None:
        assert response.status_code == status, f"{request}: {response.text[:300]}"
    if response.status_code >= 400 and "json" in response.headers.get("content-type", ""):
        body = response.json()
        assert body["code"] == response.status_code and body["detail"], request


@pytest.mark.parametrize(
    ("method", "path", "operation"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS]
)
async def test_hostile_input_on_every_route_is_a_4xx(
    admin_client: httpx.AsyncClient, method: str, path: str, operation: dict[str, Any]
) -> None:
    url = _fill(path)
    for param in _params(operation, "path"):
        for segment in UNSTORABLE_SEGMENTS:
            response = await admin_client.request(method, _fill(path, **{param["name"]: segment}))
            assert_client_error(response, status=400)
        for segment in ODD_SEGMENTS:
            response = await admin_client.request(method, _fill(path, **{param["name"]: segment}))
            assert_client_error(response)

    names = [param["name"] for param in _params(operation, "query")] or ["x"]
    for name in names:
        response = await admin_client.request(method, f"{url}?{name}=a%00b")
        assert_client_error(response, status=400)
        if (method, path) in SIDE_EFFECTS:
            continue
        for value in ODD_QUERY_VALUES:
            response = await admin_client.request(method, url, params={name: value})
            assert_client_error(response)

    if method in ("POST", "PUT", "PATCH"):
        json_headers = {"Content-Type": "application/json"}
        # Raw uploads take any bytes, even labelled as JSON (what the AYON client sends).
        raw_upload = is_raw_upload({"type": "http", "method": method, "path": url})
        for body in UNSTORABLE_BODIES:
            response = await admin_client.request(method, url, content=body, headers=json_headers)
            assert_client_error(response, status=None if raw_upload else 400)
        if (method, path) not in SIDE_EFFECTS:
            for body, media in ODD_BODIES:
                response = await admin_client.request(
                    method, url, content=body, headers={"Content-Type": media}
                )
                assert_client_error(response)


def test_every_route_family_is_covered() -> None:
    families = {
        path.split("/")[2] if path.startswith("/api/") else path for _, path, _ in OPERATIONS
    }
    assert {"events", "users", "projects", "auth", "logs", "maintenance"} <= families
