"""Login, sessions, API keys, impersonation and user management."""

from __future__ import annotations

import secrets

import httpx
import pytest
from argon2 import PasswordHasher

from ayon_server.auth.sessions import SessionStore, session_key, user_index_key
from ayon_server.auth.throttle import MAX_FAILURES
from ayon_server.config import Settings
from ayon_server.runtime import Runtime
from tests.helpers.server import server_app
from tests.helpers.users import login, make_user


async def test_login_returns_a_64_character_token_and_the_user(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    name = await make_user(runtime)
    response = await client.post(
        "/api/auth/login", json={"name": name, "password": "correct horse battery"}
    )
    assert response.status_code == 200
    body = response.json()
    assert len(body["token"]) == 64
    assert body["user"]["name"] == name
    secrets_shown = {"password", "passwordHash", "password_hash", "apiKey"}
    assert not secrets_shown & (set(body["user"]) | set(body["user"]["data"]))

    me = await client.get("/api/users/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json()["name"] == name
    assert isinstance(me.json()["attrib"], dict)


@pytest.mark.parametrize(
    "body",
    [{"name": "nobody_here", "password": "x"}, {"name": "__wrong_password__", "password": "nope"}],
)
async def test_a_failed_login_is_403_with_ayons_message(
    client: httpx.AsyncClient, runtime: Runtime, body: dict[str, str]
) -> None:
    if body["name"] == "__wrong_password__":
        body = {**body, "name": await make_user(runtime)}
    response = await client.post("/api/auth/login", json=body)
    assert response.status_code == 403
    assert response.json() == {"code": 403, "detail": "Invalid login/password combination"}


async def test_repeated_failures_lock_out_that_user_from_that_address(
    settings: Settings, runtime: Runtime
) -> None:
    from tests.helpers.server import serving

    name = await make_user(runtime)
    app = server_app(settings)
    async with serving(app) as client:
        for _ in range(MAX_FAILURES):
            bad = await client.post("/api/auth/login", json={"name": name, "password": "wrong"})
            assert bad.status_code == 403
        locked = await client.post(
            "/api/auth/login", json={"name": name, "password": "correct horse battery"}
        )
        assert locked.status_code == 429
        assert "Too many failed logins" in locked.json()["detail"]
        assert "Try again in 15 minutes" in locked.json()["detail"]

        # The same user from another address is not locked out.
        other = httpx.ASGITransport(app=app, client=("10.1.2.3", 4000))
        async with httpx.AsyncClient(transport=other, base_url="http://testserver") as second:
            ok = await second.post(
                "/api/auth/login", json={"name": name, "password": "correct horse battery"}
            )
            assert ok.status_code == 200


# Cheaper than argon2-cffi's defaults: the parameters of an older release.
OUTDATED_HASHER = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)


async def stored_password_hash(runtime: Runtime, name: str) -> str:
    return await runtime.db.fetchval("SELECT password_hash FROM public.users WHERE name = $1", name)


async def user_with_outdated_hash(runtime: Runtime) -> tuple[str, str]:
    """(name, stored hash) of a user whose password hash an older release made."""
    name = await make_user(runtime)
    old_hash = OUTDATED_HASHER.hash("correct horse battery")
    await runtime.db.execute(
        "UPDATE public.users SET password_hash = $2 WHERE name = $1", name, old_hash
    )
    return name, old_hash


async def test_a_login_rehashes_a_password_stored_with_outdated_argon2_parameters(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    name, old_hash = await user_with_outdated_hash(runtime)
    await login(client, name)

    stored = await stored_password_hash(runtime, name)
    current = PasswordHasher()
    assert stored != old_hash
    assert not current.check_needs_rehash(stored)
    assert current.verify(stored, "correct horse battery")
    # A hash made with the current parameters is left as it is.
    await login(client, name)
    assert await stored_password_hash(runtime, name) == stored


async def test_a_failed_login_leaves_an_outdated_password_hash_alone(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    name, old_hash = await user_with_outdated_hash(runtime)
    response = await client.post("/api/auth/login", json={"name": name, "password": "wrong"})
    assert response.status_code == 403
    assert await stored_password_hash(runtime, name) == old_hash


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer " + "0" * 64},
        {"Authorization": "Bearer short"},
        {"X-Api-Key": "not-a-key-anyone-has-" + "x" * 20},
    ],
    ids=["missing", "unknown-token", "malformed-token", "unknown-api-key"],
)
async def test_missing_or_invalid_credentials_are_401(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get("/api/users/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == 401


async def test_logout_ends_the_session(client: httpx.AsyncClient, runtime: Runtime) -> None:
    headers = await login(client, await make_user(runtime))
    assert (await client.post("/api/auth/logout", headers=headers)).json() == {
        "detail": "Logged out"
    }
    assert (await client.get("/api/users/me", headers=headers)).status_code == 401


async def test_sessions_expire_in_redis_and_are_indexed_per_user(
    client: httpx.AsyncClient, runtime: Runtime, settings: Settings
) -> None:
    name = await make_user(runtime)
    first = await login(client, name)
    await login(client, name)
    token = first["Authorization"].split()[1]
    ttl = await runtime.redis.ttl(session_key(token))
    assert 0 < ttl <= settings.session_ttl
    assert len(await runtime.redis.smembers(user_index_key(name))) == 2

    listed = await client.get(f"/api/users/{name}/sessions", headers=first)
    assert listed.status_code == 200
    sessions = listed.json()["sessions"]
    assert len(sessions) == 2
    assert sum(s["isCurrent"] for s in sessions) == 1
    assert all(token not in s["token"] for s in sessions)  # never the whole token

    everywhere = await client.delete(f"/api/users/{name}/sessions", headers=first)
    assert everywhere.status_code == 204
    assert (await client.get("/api/users/me", headers=first)).status_code == 401
    assert await SessionStore(runtime.redis, settings.session_ttl).list_for_user(name) == []


async def test_a_service_user_authenticates_with_its_api_key_and_may_impersonate(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    key = secrets.token_hex(32)
    service = await make_user(runtime, api_key=key, isService=True)
    artist = await make_user(runtime)

    me = await client.get("/api/users/me", headers={"X-Api-Key": key})
    assert me.status_code == 200 and me.json()["name"] == service
    assert me.json()["data"]["isService"] is True

    as_artist = await client.get("/api/users/me", headers={"X-Api-Key": key, "X-as-user": artist})
    assert as_artist.json()["name"] == artist
    assert (
        await client.get("/api/users/me", headers={"Authorization": f"ApiKey {key}"})
    ).status_code == 200


async def test_only_service_users_may_impersonate(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    key = secrets.token_hex(32)
    await make_user(runtime, api_key=key)  # a normal user with an API key
    target = await make_user(runtime)
    response = await client.get("/api/users/me", headers={"X-Api-Key": key, "X-as-user": target})
    assert response.status_code == 403


async def test_admins_create_change_and_delete_users(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin = await login(client, await make_user(runtime, isAdmin=True))
    name = f"artist_{secrets.token_hex(3)}"
    created = await client.put(
        f"/api/users/{name}",
        json={
            "password": "brand new pass",
            "attrib": {"fullName": "An Artist"},
            "data": {"isManager": True},
        },
        headers=admin,
    )
    assert created.status_code == 201
    assert (await client.put(f"/api/users/{name}", json={}, headers=admin)).status_code == 409

    artist = await login(client, name, "brand new pass")
    me = (await client.get("/api/users/me", headers=artist)).json()
    assert me["attrib"]["fullName"] == "An Artist"
    assert me["data"]["isManager"] is True

    patched = await client.patch(
        f"/api/users/{name}",
        json={"attrib": {"email": "a@b.c"}, "data": {"isManager": False}},
        headers=admin,
    )
    assert patched.status_code == 204
    me = (await client.get("/api/users/me", headers=artist)).json()
    assert me["attrib"] == {**me["attrib"], "fullName": "An Artist", "email": "a@b.c"}
    assert me["data"]["isManager"] is False

    deactivated = await client.patch(f"/api/users/{name}", json={"active": False}, headers=admin)
    assert deactivated.status_code == 204
    assert (await client.get("/api/users/me", headers=artist)).status_code == 401

    assert (await client.delete(f"/api/users/{name}", headers=admin)).status_code == 204
    assert (await client.get(f"/api/users/{name}", headers=admin)).status_code == 404
    assert (await client.delete(f"/api/users/{name}", headers=admin)).status_code == 404


async def test_a_service_user_gets_an_api_key_at_creation_and_by_password_patch(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin = await login(client, await make_user(runtime, isAdmin=True))
    name = f"svc_{secrets.token_hex(3)}"
    first_key, second_key = secrets.token_hex(32), secrets.token_hex(32)
    created = await client.put(
        f"/api/users/{name}", json={"apiKey": first_key, "data": {"isService": True}}, headers=admin
    )
    assert created.status_code == 201
    assert (await client.get("/api/users/me", headers={"X-Api-Key": first_key})).status_code == 200

    changed = await client.patch(
        f"/api/users/{name}/password", json={"apiKey": second_key}, headers=admin
    )
    assert changed.status_code == 204
    assert (await client.get("/api/users/me", headers={"X-Api-Key": first_key})).status_code == 401
    assert (await client.get("/api/users/me", headers={"X-Api-Key": second_key})).status_code == 200

    stored = await runtime.db.fetchval(
        "SELECT api_key_hash FROM public.users WHERE name = $1", name
    )
    assert stored != second_key and len(stored) == 64  # hashed, never stored in clear


async def test_a_password_change_ends_the_other_sessions(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    name = await make_user(runtime)
    mine, other = await login(client, name), await login(client, name)
    response = await client.patch(
        f"/api/users/{name}/password", json={"password": "another good one"}, headers=mine
    )
    assert response.status_code == 204
    assert (await client.get("/api/users/me", headers=mine)).status_code == 200
    assert (await client.get("/api/users/me", headers=other)).status_code == 401
    await login(client, name, "another good one")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/api/users/{other}", {"password": "abc"}),
        ("PATCH", "/api/users/{other}", {"active": False}),
        ("PATCH", "/api/users/{other}/password", {"password": "abc"}),
        ("DELETE", "/api/users/{other}", None),
        ("GET", "/api/users/{other}/sessions", None),
        ("DELETE", "/api/users/{other}/sessions", None),
    ],
)
async def test_a_normal_user_gets_403_on_user_management(
    client: httpx.AsyncClient, runtime: Runtime, method: str, path: str, body: dict | None
) -> None:
    headers = await login(client, await make_user(runtime))
    other = await make_user(runtime)
    response = await client.request(method, path.format(other=other), json=body, headers=headers)
    assert response.status_code == 403
    assert response.json()["code"] == 403


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("bad name!", {}),
        ("ok_name", {"unknownField": 1}),
        ("ok_name2", {"password": ""}),
        ("ok_name3", {"apiKey": "short"}),
        ("ok_name4", {"apiKey": "k" * 40}),  # not a service user
    ],
)
async def test_bad_user_input_is_400_and_creates_nothing(
    client: httpx.AsyncClient, runtime: Runtime, name: str, body: dict
) -> None:
    admin = await login(client, await make_user(runtime, isAdmin=True))
    response = await client.put(f"/api/users/{name}", json=body, headers=admin)
    assert response.status_code == 400, response.text
    assert await runtime.db.fetchval("SELECT count(*) FROM public.users WHERE name = $1", name) == 0


async def test_normal_users_see_only_the_name_of_colleagues(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await login(client, await make_user(runtime))
    colleague = await make_user(runtime)
    response = await client.get(f"/api/users/{colleague}", headers=headers)
    assert response.json() == {"name": colleague, "attrib": {"fullName": None}}


async def test_attributes_carry_a_default_for_the_client(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await login(client, await make_user(runtime))
    attributes = (await client.get("/api/attributes", headers=headers)).json()["attributes"]
    assert {a["name"] for a in attributes} >= {"fullName", "email"}
    assert all("default" in a["data"] and a["scope"] for a in attributes)
    user_attributes = {a["name"] for a in attributes if "user" in a["scope"]}
    assert user_attributes == {"fullName", "email", "avatarUrl"}
    folder_attributes = {a["name"] for a in attributes if "folder" in a["scope"]}
    assert {"fps", "frameStart", "frameEnd", "resolutionWidth", "description"} <= folder_attributes
