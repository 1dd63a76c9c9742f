"""Client site records: registered by GET /api/info, listed and deleted under
/api/system/sites. Everything goes through the HTTP API against the run's real database.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

import httpx
import pytest

from ayon_server.runtime import Runtime
from ayon_server.sites.headers import SITE_HEADERS
from tests.helpers.users import login, make_user


def site_headers(
    site_id: str, platform: str = "linux", hostname: str = "ws-01", version: str = "1.3.0"
) -> dict[str, str]:
    """The four headers the AYON launcher sends."""
    return {
        "x-ayon-site-id": site_id,
        "x-ayon-platform": platform,
        "x-ayon-hostname": hostname,
        "x-ayon-version": version,
    }


@pytest.fixture(autouse=True)
async def no_sites(runtime: Runtime) -> None:
    await runtime.db.execute("TRUNCATE public.sites")


async def stored_sites(runtime: Runtime) -> dict[str, dict]:
    rows = await runtime.db.fetch("SELECT * FROM public.sites")
    return {row["id"]: dict(row) for row in rows}


async def user_session(
    runtime: Runtime, client: httpx.AsyncClient, **flags: bool
) -> tuple[str, dict[str, str]]:
    """A new user with the given role flags and the headers of a session of theirs."""
    name = await make_user(runtime, **flags)
    return name, await login(client, name)


async def connect(
    client: httpx.AsyncClient, auth: dict[str, str], site_id: str, **site: str
) -> dict:
    """What the client does on connect: GET /api/info with its credentials and site headers."""
    response = await client.get("/api/info", headers={**auth, **site_headers(site_id, **site)})
    assert response.status_code == 200, response.text
    return response.json()


async def test_anonymous_info_registers_no_site_and_shows_no_user_data(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    response = await client.get("/api/info", headers=site_headers("anonymous-site"))

    assert response.status_code == 200
    assert set(response.json()) == {"version", "uptime"}
    assert await stored_sites(runtime) == {}


async def test_a_stale_token_gets_the_anonymous_info_and_registers_no_site(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    stale = {"Authorization": "Bearer " + "0" * 64}

    response = await client.get("/api/info", headers={**stale, **site_headers("stale-site")})

    assert response.status_code == 200
    assert set(response.json()) == {"version", "uptime"}
    assert await stored_sites(runtime) == {}


async def test_logged_in_info_carries_the_user_the_attributes_and_the_registered_site(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    name, auth = await user_session(runtime, client)

    body = await connect(client, auth, "quick-brown-fox", platform="windows", hostname="PC-7")

    assert body["user"]["name"] == name
    assert body["user"]["data"]["isAdmin"] is False
    assert {attribute["name"] for attribute in body["attributes"]} >= {"fullName", "email"}
    (site,) = body["sites"]
    assert {k: v for k, v in site.items() if k != "lastSeen"} == {
        "id": "quick-brown-fox",
        "platform": "windows",
        "hostname": "PC-7",
        "version": "1.3.0",
        "users": [name],
    }
    row = (await stored_sites(runtime))["quick-brown-fox"]
    assert (row["platform"], row["hostname"], row["version"], row["users"]) == (
        "windows",
        "PC-7",
        "1.3.0",
        [name],
    )
    assert datetime.fromisoformat(site["lastSeen"]) == row["last_seen"]


@pytest.mark.parametrize("missing", SITE_HEADERS)
async def test_info_without_all_four_site_headers_registers_nothing(
    runtime: Runtime, client: httpx.AsyncClient, missing: str
) -> None:
    _, auth = await user_session(runtime, client)
    headers = {k: v for k, v in site_headers("partial-site").items() if k != missing}

    response = await client.get("/api/info", headers={**auth, **headers})

    assert response.status_code == 200
    assert response.json()["sites"] == []
    assert await stored_sites(runtime) == {}


async def test_a_second_user_is_added_once_and_the_record_follows_the_client(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    first, first_auth = await user_session(runtime, client)
    second, second_auth = await user_session(runtime, client)
    await connect(client, first_auth, "shared-site")
    await runtime.db.execute(
        "UPDATE public.sites SET last_seen = now() - interval '3 days' WHERE id = 'shared-site'"
    )

    await connect(client, second_auth, "shared-site")
    body = await connect(client, first_auth, "shared-site", version="1.4.0", hostname="ws-02")

    row = (await stored_sites(runtime))["shared-site"]
    assert row["users"] == [first, second]
    assert (row["version"], row["hostname"]) == ("1.4.0", "ws-02")
    assert row["last_seen"] > datetime.now(row["last_seen"].tzinfo) - timedelta(hours=1)
    assert body["sites"][0]["users"] == [first, second]


async def test_concurrent_first_connections_from_one_site_keep_every_user(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    sessions = [await user_session(runtime, client) for _ in range(6)]

    await asyncio.gather(*(connect(client, auth, "render-farm") for _, auth in sessions))

    row = (await stored_sites(runtime))["render-farm"]
    assert sorted(row["users"]) == sorted(name for name, _ in sessions)


async def test_info_lists_the_current_site_first_then_only_the_users_other_sites(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    _, auth = await user_session(runtime, client)
    _, other_auth = await user_session(runtime, client)
    await connect(client, auth, "laptop")
    await connect(client, auth, "workstation")
    await connect(client, other_auth, "someone-elses")

    body = await connect(client, auth, "laptop")
    plain = await client.get("/api/info", headers=auth)

    assert [site["id"] for site in body["sites"]] == ["laptop", "workstation"]
    assert {site["id"] for site in plain.json()["sites"]} == {"laptop", "workstation"}


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("x-ayon-site-id", "../../etc", "not a valid site id"),
        ("x-ayon-site-id", "has space", "not a valid site id"),
        ("x-ayon-site-id", "x" * 129, "not a valid site id"),
        ("x-ayon-platform", "beos", "not one of windows, linux, darwin"),
        ("x-ayon-hostname", "h" * 256, "longer than 255"),
        ("x-ayon-version", "1." * 40, "longer than 64"),
    ],
)
async def test_invalid_site_headers_are_ignored_with_a_warning_and_info_still_answers(
    runtime: Runtime,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    header: str,
    value: str,
    reason: str,
) -> None:
    name, auth = await user_session(runtime, client)
    headers = {**auth, **site_headers("good-site"), header: value}

    with caplog.at_level(logging.WARNING, logger="ayon_server.api.routes.info"):
        response = await client.get("/api/info", headers=headers)

    assert response.status_code == 200
    assert response.json()["user"]["name"] == name
    assert await stored_sites(runtime) == {}
    assert any(header in r.getMessage() and reason in r.getMessage() for r in caplog.records)


async def test_the_platform_header_is_accepted_in_any_case(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    _, auth = await user_session(runtime, client)

    await connect(client, auth, "mac-mini", platform="Darwin")

    assert (await stored_sites(runtime))["mac-mini"]["platform"] == "darwin"


async def test_a_guest_registers_no_site(runtime: Runtime, client: httpx.AsyncClient) -> None:
    _, auth = await user_session(runtime, client, isGuest=True)

    body = await connect(client, auth, "guest-site")

    assert body["sites"] == []
    assert await stored_sites(runtime) == {}


async def test_a_service_user_with_an_api_key_registers_its_site(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    key = "k" * 40
    name = await make_user(runtime, api_key=key, isService=True)

    await connect(client, {"X-Api-Key": key}, "service-host")

    assert (await stored_sites(runtime))["service-host"]["users"] == [name]


async def test_listing_sites_needs_a_login(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/system/sites")

    assert response.status_code == 401
    assert response.json()["code"] == 401


async def test_a_non_manager_lists_only_their_own_sites_and_a_manager_lists_all(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    user, auth = await user_session(runtime, client)
    _, other_auth = await user_session(runtime, client)
    _, manager_auth = await user_session(runtime, client, isManager=True)
    await connect(client, auth, "mine", platform="windows")
    await connect(client, other_auth, "theirs")

    own = await client.get("/api/system/sites", headers=auth)
    everything = await client.get("/api/system/sites", headers=manager_auth)

    assert own.status_code == 200
    (site,) = own.json()
    assert set(site) == {"id", "platform", "hostname", "version", "users", "lastSeen"}
    assert (site["id"], site["platform"], site["users"]) == ("mine", "windows", [user])
    assert everything.status_code == 200
    assert {s["id"] for s in everything.json()} == {"mine", "theirs"}


async def test_sites_are_filtered_by_platform_and_hostname(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    _, auth = await user_session(runtime, client, isAdmin=True)
    await connect(client, auth, "win-a", platform="windows", hostname="a")
    await connect(client, auth, "win-b", platform="windows", hostname="b")
    await connect(client, auth, "lin-a", platform="linux", hostname="a")

    async def ids(**params: str) -> set[str]:
        response = await client.get("/api/system/sites", params=params, headers=auth)
        assert response.status_code == 200, response.text
        return {site["id"] for site in response.json()}

    assert await ids(platform="windows") == {"win-a", "win-b"}
    assert await ids(hostname="a") == {"win-a", "lin-a"}
    assert await ids(platform="windows", hostname="a") == {"win-a"}
    assert await ids(platform="darwin") == set()


async def test_an_unknown_platform_filter_is_a_400_with_ayons_body(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    _, auth = await user_session(runtime, client)

    response = await client.get("/api/system/sites", params={"platform": "beos"}, headers=auth)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 400
    assert body["detail"] == "Request validation error in [GET] /api/system/sites"


async def test_an_admin_deletes_a_site_and_a_second_delete_is_404(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    _, auth = await user_session(runtime, client, isAdmin=True)
    await connect(client, auth, "old-laptop")
    await connect(client, auth, "keeper")

    deleted = await client.delete("/api/system/sites/old-laptop", headers=auth)
    again = await client.delete("/api/system/sites/old-laptop", headers=auth)

    assert deleted.status_code == 204
    assert deleted.content == b""
    assert set(await stored_sites(runtime)) == {"keeper"}
    assert again.status_code == 404
    assert again.json() == {"code": 404, "detail": "Site old-laptop not found"}


async def test_only_admins_delete_sites(runtime: Runtime, client: httpx.AsyncClient) -> None:
    _, auth = await user_session(runtime, client)
    _, manager_auth = await user_session(runtime, client, isManager=True)
    await connect(client, auth, "my-own-site")

    as_owner = await client.delete("/api/system/sites/my-own-site", headers=auth)
    as_manager = await client.delete("/api/system/sites/my-own-site", headers=manager_auth)
    anonymous = await client.delete("/api/system/sites/my-own-site")

    assert (as_owner.status_code, as_manager.status_code, anonymous.status_code) == (403, 403, 401)
    assert as_owner.json() == {"code": 403, "detail": "Administrators only"}
    assert "my-own-site" in await stored_sites(runtime)
