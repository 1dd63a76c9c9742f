"""Who may call what: every admin endpoint refuses a normal user with 403 (never 401), and 401
is reserved for requests whose token is missing or invalid."""

from __future__ import annotations

import secrets

import httpx
import pytest

from ayon_server.runtime import Runtime
from tests.helpers.users import login, make_user

EVENT = "0" * 32
# (method, path, json body): the endpoints only administrators may use.
ADMIN_ENDPOINTS = [
    ("PUT", "/api/users/newcomer", {"password": "a long password"}),
    ("PATCH", "/api/users/{other}", {"active": False}),
    ("DELETE", "/api/users/{other}", None),
    ("PATCH", "/api/users/{other}/password", {"password": "taken over"}),
    ("GET", "/api/users/{other}/sessions", None),
    ("DELETE", "/api/users/{other}/sessions", None),
    ("DELETE", f"/api/events/{EVENT}", None),
    ("GET", "/api/logs", None),
    ("DELETE", "/api/system/sites/some-site", None),
    ("GET", "/api/maintenance", None),
    ("POST", "/api/maintenance/run", {"dryRun": True}),
    ("GET", "/api/config/maintenance", None),
    ("PATCH", "/api/config/maintenance", {"logRetentionDays": 1}),
]
# Reachable without any credential.
PUBLIC_ENDPOINTS = [
    ("GET", "/"),
    ("GET", "/api/health"),
    ("GET", "/api/ready"),
    ("GET", "/api/info"),
    ("GET", "/metrics"),
    ("GET", "/api/actions/take/" + "a" * 64),
]
# Need a login: without a (valid) token they are 401.
PROTECTED_ENDPOINTS = [
    ("GET", "/api/users/me"),
    ("GET", "/api/attributes"),
    ("POST", "/api/auth/logout"),
    ("GET", f"/api/events/{EVENT}"),
    ("GET", "/api/events"),
    ("POST", "/api/actions/list"),
    ("GET", "/api/system/sites"),
    ("GET", "/api/projects"),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ENDPOINTS)
async def test_a_normal_user_gets_403_on_every_admin_endpoint(
    client: httpx.AsyncClient, runtime: Runtime, method: str, path: str, body: dict | None
) -> None:
    normal = await login(client, await make_user(runtime))
    other = await make_user(runtime)
    response = await client.request(method, path.format(other=other), json=body, headers=normal)
    assert response.status_code == 403, response.text
    assert response.json()["code"] == 403
    assert (await client.get("/api/users/me", headers=normal)).status_code == 200  # still valid


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ENDPOINTS)
async def test_admin_endpoints_without_a_token_are_401(
    client: httpx.AsyncClient, runtime: Runtime, method: str, path: str, body: dict | None
) -> None:
    other = await make_user(runtime)
    response = await client.request(method, path.format(other=other), json=body)
    assert response.status_code == 401


@pytest.mark.parametrize(("method", "path"), PUBLIC_ENDPOINTS)
async def test_public_endpoints_never_answer_401(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    anonymous = await client.request(method, path)
    stale = await client.request(method, path, headers={"Authorization": "Bearer " + "f" * 64})
    assert anonymous.status_code != 401
    assert stale.status_code != 401


@pytest.mark.parametrize(("method", "path"), PROTECTED_ENDPOINTS)
async def test_protected_endpoints_are_401_only_for_a_missing_or_invalid_token(
    client: httpx.AsyncClient, runtime: Runtime, method: str, path: str
) -> None:
    assert (await client.request(method, path)).status_code == 401
    bad_token = {"Authorization": "Bearer " + secrets.token_hex(32)}
    assert (await client.request(method, path, headers=bad_token)).status_code == 401
    bad_key = {"X-Api-Key": secrets.token_hex(32)}
    assert (await client.request(method, path, headers=bad_key)).status_code == 401

    normal = await login(client, await make_user(runtime))
    assert (await client.request(method, path, headers=normal)).status_code != 401
