"""Hostile input gets 400/413 with {"code","detail"}, never a 500, and nothing is written."""

from __future__ import annotations

import secrets

import httpx
import pytest

from ayon_server.config import Settings
from ayon_server.runtime import Runtime
from tests.helpers.server import entrypoint_process, free_port, server_app, serving
from tests.helpers.users import login, make_user
from tests.helpers.waiting import wait_for_http

BAD_JSON_BODIES = [
    pytest.param(b'{"name": "a\\u0000b", "password": "x"}', id="nul"),
    pytest.param(b'{"name": "\\ud800", "password": "x"}', id="lone-surrogate"),
    pytest.param(b'{"name": "a", "password": "x", "n": NaN}', id="nan"),
    pytest.param(b'{"name": "a", "password": "x", "n": -Infinity}', id="infinity"),
    pytest.param(b'{"name": "a", "password": "x", "n": 1e999999}', id="overflow"),
    pytest.param(b'{"name": "a", "password": "x", "n": ' + b"9" * 5000 + b"}", id="huge-int"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deep-nesting"),
    pytest.param(b'{"name": "a"', id="malformed"),
    pytest.param(b"\xff\xfe", id="not-utf8"),
]


@pytest.mark.parametrize("body", BAD_JSON_BODIES)
@pytest.mark.parametrize("path", ["/api/auth/login", "/api/events"])
async def test_json_that_cannot_be_stored_is_400_before_any_credential(
    client: httpx.AsyncClient, path: str, body: bytes
) -> None:
    response = await client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 400
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "url", ["/api/logs?user=a%00b", "/api/users/a%00b", "/api/events?user=%00", "/api/users/%ff"]
)
async def test_nul_in_path_or_query_is_400(client: httpx.AsyncClient, url: str) -> None:
    response = await client.get(url)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 400


async def test_a_json_body_over_the_limit_is_413_whether_declared_or_streamed(
    settings: Settings,
) -> None:
    limited = settings.model_copy(update={"max_json_bytes": 4096})
    async with serving(server_app(limited)) as client:
        big = b'{"name": "a", "password": "' + b"x" * 8000 + b'"}'
        response = await client.post(
            "/api/auth/login", content=big, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413, response.text
        assert response.json()["code"] == 413

        async def stream():
            yield b'{"name": "a", "password": "'
            for _ in range(10):
                yield b"x" * 1000
            yield b'"}'

        response = await client.post(
            "/api/auth/login", content=stream(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413, response.text
        # Under the limit the route still answers as usual.
        response = await client.post(
            "/api/auth/login", json={"name": "nobody", "password": "wrong"}
        )
        assert response.status_code in (401, 403), response.text


async def test_forged_x_forwarded_for_does_not_dodge_the_login_lockout(
    settings: Settings,
) -> None:
    port = free_port()
    async with entrypoint_process(settings, port):
        base = f"http://127.0.0.1:{port}"
        await wait_for_http(f"{base}/api/ready")
        async with httpx.AsyncClient(base_url=base) as client:
            statuses = []
            for i in range(8):
                response = await client.post(
                    "/api/auth/login",
                    json={"name": "lockout_target", "password": "guess"},
                    headers={"X-Forwarded-For": f"10.0.0.{i + 1}"},
                )
                statuses.append(response.status_code)
        assert 429 in statuses, statuses


async def test_strangers_cannot_keep_a_user_without_a_password_locked_out(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    target = await make_user(runtime, password=None)  # e.g. created before it gets a password
    for _ in range(5):
        failed = await client.post("/api/auth/login", json={"name": target, "password": "guess"})
        assert failed.status_code == 403
    locked = await client.post("/api/auth/login", json={"name": target, "password": "guess"})
    assert locked.status_code == 429
    # The administrator gives the user a password: the lockout the strangers made is gone.
    admin = await login(client, await make_user(runtime, isAdmin=True))
    response = await client.patch(
        f"/api/users/{target}/password", json={"password": "a fresh one"}, headers=admin
    )
    assert response.status_code == 204, response.text
    answer = await client.post("/api/auth/login", json={"name": target, "password": "a fresh one"})
    assert answer.status_code == 200, answer.text


async def test_an_empty_graphql_query_is_400(client: httpx.AsyncClient, runtime: Runtime) -> None:
    # Found by schemathesis: the GraphQL library raises on "" instead of reporting an error.
    admin = await login(client, await make_user(runtime, isAdmin=True))
    response = await client.post("/graphql", json={"query": ""}, headers=admin)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 400


async def test_an_event_retry_count_beyond_the_column_is_400(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # Found by schemathesis: 6469693229 retries reached PostgreSQL's integer column (500).
    event_id = await runtime.events.dispatch("test.hostile")
    admin = await login(client, await make_user(runtime, isAdmin=True))
    response = await client.patch(
        f"/api/events/{event_id}", json={"retries": 6469693229}, headers=admin
    )
    assert response.status_code == 400, response.text
    assert (await runtime.events.get(event_id)).retries == 0


async def test_a_bundle_patch_with_null_dependency_packages_leaves_them_as_they_are(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # Found by schemathesis: "dependencyPackages": null reached the merge of the map (500).
    admin = await login(client, await make_user(runtime, isAdmin=True))
    name = f"hostile_{secrets.token_hex(3)}"
    created = await client.post(
        "/api/bundles",
        json={"name": name, "addons": {}, "dependencyPackages": {"linux": "pkg.zip"}},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    try:
        response = await client.patch(
            f"/api/bundles/{name}", json={"dependencyPackages": None}, headers=admin
        )
        assert response.status_code == 204, response.text
        listed = (await client.get("/api/bundles", headers=admin)).json()["bundles"]
        bundle = next(b for b in listed if b["name"] == name)
        assert bundle["dependencyPackages"] == {"linux": "pkg.zip"}
    finally:
        await client.delete(f"/api/bundles/{name}", headers=admin)
