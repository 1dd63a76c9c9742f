"""The events REST API against real PostgreSQL and Redis."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from ayon_server.config import Settings
from ayon_server.events.query import EventQuery, list_events
from ayon_server.events.subscription import subscribe_events
from ayon_server.runtime import Runtime
from tests.helpers.server import free_port, server_app, serving
from tests.helpers.users import login, make_user

pytestmark = pytest.mark.usefixtures("clean_tables")

HEX32 = re.compile(r"^[0-9a-f]{32}$")


async def user_headers(client: httpx.AsyncClient, runtime: Runtime, **flags: bool) -> dict:
    return await login(client, await make_user(runtime, **flags))


async def service_headers(runtime: Runtime) -> dict[str, str]:
    key = secrets.token_hex(32)
    await make_user(runtime, api_key=key, isService=True)
    return {"X-Api-Key": key}


@pytest.fixture
async def admin(client: httpx.AsyncClient, runtime: Runtime) -> dict[str, str]:
    return await user_headers(client, runtime, isAdmin=True)


async def dispatch(client: httpx.AsyncClient, headers: dict, **body) -> str:
    response = await client.post(
        "/api/events", json={"topic": "test.topic", **body}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()["id"]


async def get_event(client: httpx.AsyncClient, headers: dict, event_id: str) -> dict:
    response = await client.get(f"/api/events/{event_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def assert_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status and body["detail"]
    return body


# POST /api/events


async def test_an_admin_dispatches_an_event_and_reads_it_back_in_ayons_shape(
    client: httpx.AsyncClient, admin: dict
) -> None:
    event_id = await dispatch(
        client,
        admin,
        topic="test.created",
        sender="pytest",
        project="demo_project",
        description="made by a test",
        summary={"a": 1},
        payload={"b": [1, 2]},
    )
    assert HEX32.match(event_id)
    event = await get_event(client, admin, event_id)
    assert event["id"] == event_id
    assert event["hash"] == event_id  # the hash defaults to the id
    assert (event["topic"], event["sender"], event["senderType"]) == (
        "test.created",
        "pytest",
        "api",
    )
    assert (event["project"], event["status"], event["retries"]) == ("demo_project", "finished", 0)
    assert (event["description"], event["summary"], event["payload"]) == (
        "made by a test",
        {"a": 1},
        {"b": [1, 2]},
    )
    assert event["dependsOn"] is None
    created = datetime.fromisoformat(event["createdAt"])
    assert created.tzinfo is not None
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=5)
    assert "progress" not in event


async def test_the_event_user_is_the_caller_whatever_the_body_says(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    name = await make_user(runtime, isManager=True)
    headers = await login(client, name)
    event_id = await dispatch(client, headers, user="somebody_else")
    assert (await get_event(client, headers, event_id))["user"] == name


async def test_finished_false_creates_a_pending_event(
    client: httpx.AsyncClient, admin: dict
) -> None:
    event_id = await dispatch(client, admin, finished=False)
    assert (await get_event(client, admin, event_id))["status"] == "pending"


async def test_sender_and_sender_type_fall_back_to_the_x_sender_headers(
    client: httpx.AsyncClient, admin: dict
) -> None:
    headers = {**admin, "x-sender": "worker-01", "x-sender-type": "processor"}
    from_headers = await get_event(client, admin, await dispatch(client, headers))
    assert (from_headers["sender"], from_headers["senderType"]) == ("worker-01", "processor")

    body_wins = await get_event(
        client, admin, await dispatch(client, headers, sender="body", senderType="bodytype")
    )
    assert (body_wins["sender"], body_wins["senderType"]) == ("body", "bodytype")


async def test_invalid_x_sender_headers_are_ignored_on_dispatch(
    client: httpx.AsyncClient, admin: dict
) -> None:
    headers = {**admin, "x-sender": "no spaces!", "x-sender-type": ".dot-first"}
    event = await get_event(client, admin, await dispatch(client, headers))
    assert (event["sender"], event["senderType"]) == (None, "api")


async def test_a_duplicate_hash_is_409_unless_reuse_is_asked_for(
    client: httpx.AsyncClient, admin: dict
) -> None:
    first = await dispatch(client, admin, hash="job-42", description="first")
    response = await client.post(
        "/api/events", json={"topic": "test.topic", "hash": "job-42"}, headers=admin
    )
    assert "already exists" in assert_error(response, 409)["detail"]

    again = await dispatch(client, admin, hash="job-42", description="again", reuse=True)
    assert again == first
    assert (await get_event(client, admin, first))["description"] == "again"


async def test_a_retried_dispatch_with_the_same_hash_returns_the_stored_event(
    client: httpx.AsyncClient, admin: dict, runtime: Runtime
) -> None:
    # A client that did not hear back (a timeout, a 503 after the commit) sends it again.
    body = {"topic": "test.topic", "hash": "retry-7", "summary": {"frame": 7}, "payload": {"a": 1}}
    first = await dispatch(client, admin, **body)
    again = await dispatch(client, admin, **body)
    assert again == first
    count = await runtime.db.fetchval("SELECT count(*) FROM public.events WHERE hash = 'retry-7'")
    assert count == 1
    # The same hash saying something else is still a conflict.
    changed = await client.post(
        "/api/events", json={**body, "summary": {"frame": 8}}, headers=admin
    )
    assert_error(changed, 409)


async def test_store_false_broadcasts_without_storing(
    client: httpx.AsyncClient, admin: dict, runtime: Runtime
) -> None:
    async with subscribe_events(runtime.redis) as events:
        event_id = await dispatch(client, admin, topic="test.transient", store=False)
        message = await events.get(timeout=5)
    assert message is not None
    assert (message["id"], message["topic"], message["store"]) == (
        event_id,
        "test.transient",
        False,
    )
    response = await client.get(f"/api/events/{event_id}", headers=admin)
    assert assert_error(response, 404)["detail"] == "Event not found"


async def test_depends_on_is_stored_and_must_name_an_existing_event(
    client: httpx.AsyncClient, admin: dict
) -> None:
    source = await dispatch(client, admin)
    dependent = await dispatch(client, admin, dependsOn=source)
    assert (await get_event(client, admin, dependent))["dependsOn"] == source

    missing = await client.post(
        "/api/events",
        json={"topic": "test.topic", "dependsOn": uuid.uuid4().hex},
        headers=admin,
    )
    assert "does not exist" in assert_error(missing, 400)["detail"]
    malformed = await client.post(
        "/api/events", json={"topic": "test.topic", "dependsOn": "nope"}, headers=admin
    )
    assert_error(malformed, 400)


@pytest.mark.parametrize(
    "body",
    [
        {"topic": "ab"},  # too short
        {"topic": "1abc"},  # must start with a letter
        {"topic": "has space"},
        {"topic": "x" * 70},
        {"topic": "test.topic", "project": "bad name"},
        {"topic": "test.topic", "project": "-leading-dash"},
        {"topic": "test.topic", "summary": "not an object"},
        {"topic": "test.topic", "hash": ""},
        {"sender": "no topic at all"},
    ],
)
async def test_dispatch_rejects_bad_input_with_400(
    client: httpx.AsyncClient, admin: dict, body: dict
) -> None:
    response = await client.post("/api/events", json=body, headers=admin)
    assert assert_error(response, 400)["detail"].startswith("Request validation error")


async def test_normal_users_cannot_dispatch_but_managers_and_services_can(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    normal = await user_headers(client, runtime)
    response = await client.post("/api/events", json={"topic": "test.topic"}, headers=normal)
    assert_error(response, 403)

    manager = await user_headers(client, runtime, isManager=True)
    service = await service_headers(runtime)
    for headers in (manager, service):
        assert HEX32.match(await dispatch(client, headers))


async def test_dispatch_without_credentials_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/events", json={"topic": "test.topic"})
    assert_error(response, 401)


# GET /api/events/{id}


async def test_get_of_an_unknown_event_is_404_event_not_found(
    client: httpx.AsyncClient, admin: dict
) -> None:
    response = await client.get(f"/api/events/{uuid.uuid4().hex}", headers=admin)
    assert assert_error(response, 404)["detail"] == "Event not found"


@pytest.mark.parametrize("bad_id", ["abc", str(uuid.uuid4()), "g" * 32, "a" * 33])
async def test_an_event_id_that_is_not_32_hex_is_400(
    client: httpx.AsyncClient, admin: dict, bad_id: str
) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(
            method, f"/api/events/{bad_id}", headers=admin, json={} if method == "PATCH" else None
        )
        assert_error(response, 400)


async def test_normal_users_read_events_by_id_but_guests_cannot(
    client: httpx.AsyncClient, runtime: Runtime, admin: dict
) -> None:
    event_id = await dispatch(client, admin)
    normal = await user_headers(client, runtime)
    assert (await get_event(client, normal, event_id))["id"] == event_id
    guest = await user_headers(client, runtime, isGuest=True)
    assert_error(await client.get(f"/api/events/{event_id}", headers=guest), 403)
    assert_error(await client.get(f"/api/events/{event_id}"), 401)


# PATCH /api/events/{id}


async def test_patch_changes_only_the_given_fields_and_answers_204(
    client: httpx.AsyncClient, admin: dict
) -> None:
    event_id = await dispatch(client, admin, finished=False, summary={"keep": True})
    before = await get_event(client, admin, event_id)
    response = await client.patch(
        f"/api/events/{event_id}",
        json={"status": "in_progress", "description": "working", "retries": 2, "user": "bob"},
        headers=admin,
    )
    assert response.status_code == 204, response.text
    assert response.content == b""
    after = await get_event(client, admin, event_id)
    assert (after["status"], after["description"], after["retries"], after["user"]) == (
        "in_progress",
        "working",
        2,
        "bob",
    )
    assert after["summary"] == {"keep": True}
    assert after["updatedAt"] >= before["updatedAt"]


async def test_patch_accepts_the_deprecated_project_name(
    client: httpx.AsyncClient, admin: dict
) -> None:
    event_id = await dispatch(client, admin)
    response = await client.patch(
        f"/api/events/{event_id}", json={"projectName": "old_style"}, headers=admin
    )
    assert response.status_code == 204
    assert (await get_event(client, admin, event_id))["project"] == "old_style"


async def test_progress_is_broadcast_but_not_stored(
    client: httpx.AsyncClient, admin: dict, runtime: Runtime
) -> None:
    event_id = await dispatch(client, admin, finished=False)
    async with subscribe_events(runtime.redis) as events:
        response = await client.patch(
            f"/api/events/{event_id}", json={"progress": 42.5}, headers=admin
        )
        assert response.status_code == 204
        message = await events.get(timeout=5)
    assert message is not None
    assert (message["id"], message["progress"]) == (event_id, 42.5)
    assert "progress" not in await get_event(client, admin, event_id)


@pytest.mark.parametrize(
    "body",
    [{"status": "done"}, {"progress": 101}, {"progress": -1}, {"retries": -1}, {"project": "a b"}],
)
async def test_patch_rejects_bad_values_with_400(
    client: httpx.AsyncClient, admin: dict, body: dict
) -> None:
    event_id = await dispatch(client, admin)
    assert_error(await client.patch(f"/api/events/{event_id}", json=body, headers=admin), 400)
    assert (await get_event(client, admin, event_id))["status"] == "finished"


async def test_patch_of_an_unknown_event_is_404(client: httpx.AsyncClient, admin: dict) -> None:
    response = await client.patch(
        f"/api/events/{uuid.uuid4().hex}", json={"status": "failed"}, headers=admin
    )
    assert assert_error(response, 404)["detail"] == "Event not found"


async def test_a_normal_user_may_finish_their_own_launcher_action_and_nothing_else(
    client: httpx.AsyncClient, runtime: Runtime, admin: dict
) -> None:
    owner = await make_user(runtime)
    owner_headers = await login(client, owner)
    own_action = await runtime.events.dispatch("action.launcher", user=owner, status="in_progress")
    others_action = await runtime.events.dispatch(
        "action.launcher", user="someone_else", status="in_progress"
    )
    own_other_event = await runtime.events.dispatch("test.topic", user=owner, status="pending")

    finished = await client.patch(
        f"/api/events/{own_action}",
        json={"status": "finished", "description": "exited with 0", "progress": 100},
        headers=owner_headers,
    )
    assert finished.status_code == 204, finished.text
    assert (await get_event(client, admin, own_action))["status"] == "finished"

    for event_id, body in [
        (others_action, {"status": "failed"}),
        (own_other_event, {"status": "failed"}),
        (own_action, {"user": "someone_else"}),
        (own_action, {"status": "failed", "payload": {"x": 1}}),
    ]:
        response = await client.patch(f"/api/events/{event_id}", json=body, headers=owner_headers)
        assert_error(response, 403)
    assert (await get_event(client, admin, others_action))["status"] == "in_progress"
    assert (await get_event(client, admin, own_action))["user"] == owner


async def test_service_users_and_managers_may_patch_any_event(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event_id = await runtime.events.dispatch("test.topic", user="nobody", status="pending")
    for headers in (
        await service_headers(runtime),
        await user_headers(client, runtime, isManager=True),
    ):
        response = await client.patch(
            f"/api/events/{event_id}", json={"status": "in_progress"}, headers=headers
        )
        assert response.status_code == 204, response.text


# DELETE /api/events/{id}


async def test_admins_delete_events_and_others_get_403(
    client: httpx.AsyncClient, runtime: Runtime, admin: dict
) -> None:
    event_id = await dispatch(client, admin)
    manager = await user_headers(client, runtime, isManager=True)
    assert_error(await client.delete(f"/api/events/{event_id}", headers=manager), 403)
    assert_error(await client.delete(f"/api/events/{event_id}"), 401)

    response = await client.delete(f"/api/events/{event_id}", headers=admin)
    assert response.status_code == 204
    assert_error(await client.get(f"/api/events/{event_id}", headers=admin), 404)
    assert_error(await client.delete(f"/api/events/{event_id}", headers=admin), 404)


async def test_an_event_others_depend_on_cannot_be_deleted(
    client: httpx.AsyncClient, admin: dict
) -> None:
    source = await dispatch(client, admin)
    dependent = await dispatch(client, admin, dependsOn=source)
    assert_error(await client.delete(f"/api/events/{source}", headers=admin), 409)

    assert (await client.delete(f"/api/events/{dependent}", headers=admin)).status_code == 204
    assert (await client.delete(f"/api/events/{source}", headers=admin)).status_code == 204


# GET /api/events


async def list_ids(client: httpx.AsyncClient, headers: dict, **params) -> list[str]:
    response = await client.get("/api/events", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [event["id"] for event in response.json()["events"]]


async def test_list_filters_by_topic_status_project_and_user(
    client: httpx.AsyncClient, runtime: Runtime, admin: dict
) -> None:
    a = await runtime.events.dispatch("test.a", project="p1", user="ann", status="pending")
    b = await runtime.events.dispatch("test.b", project="p2", user="bob", status="finished")
    c = await runtime.events.dispatch("other.c", project="p1", user="bob", status="failed")

    assert await list_ids(client, admin) == [c, b, a]  # newest first
    assert await list_ids(client, admin, topic=["test.a", "other.c"]) == [c, a]
    assert await list_ids(client, admin, status="finished") == [b]
    assert await list_ids(client, admin, status=["pending", "failed"]) == [c, a]
    assert await list_ids(client, admin, project="p1") == [c, a]
    assert await list_ids(client, admin, user="bob", project="p1") == [c]

    response = await client.get("/api/events", params={"limit": 1}, headers=admin)
    assert response.json()["nextCursor"] is not None
    full = (await client.get("/api/events", headers=admin)).json()
    assert full["nextCursor"] is None
    assert {"id", "topic", "status", "createdAt", "senderType", "dependsOn"} <= set(
        full["events"][0]
    )


async def test_topic_wildcards_match_like_patterns_and_underscores_literally(
    client: httpx.AsyncClient, runtime: Runtime, admin: dict
) -> None:
    folder = await runtime.events.dispatch("entity.folder.created")
    task = await runtime.events.dispatch("entity.task.created")
    snake = await runtime.events.dispatch("my_topic.x")
    lookalike = await runtime.events.dispatch("myAtopic.x")

    assert await list_ids(client, admin, topic="entity.*") == [task, folder]
    assert await list_ids(client, admin, topic="entity.*.created") == [task, folder]
    assert await list_ids(client, admin, topic="my_topic*") == [snake]
    assert lookalike not in await list_ids(client, admin, topic="my_*")


async def test_list_pages_through_every_event_exactly_once_even_with_equal_timestamps(
    client: httpx.AsyncClient, runtime: Runtime, admin: dict
) -> None:
    ids = {await runtime.events.dispatch("test.page") for _ in range(23)}
    # Many events of one instant: the page boundary must fall between them without a gap.
    await runtime.db.execute(
        "UPDATE public.events SET created_at = '2026-11-01T00:00:00Z' WHERE id = ANY($1::uuid[])",
        [uuid.UUID(hex=i) for i in list(ids)[:15]],
    )
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        body = (await client.get("/api/events", params=params, headers=admin)).json()
        seen += [event["id"] for event in body["events"]]
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert pages == 5
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == ids


async def test_list_filters_by_creation_time(
    client: httpx.AsyncClient, runtime: Runtime, admin: dict
) -> None:
    old = await runtime.events.dispatch("test.time")
    new = await runtime.events.dispatch("test.time")
    await runtime.db.execute(
        "UPDATE public.events SET created_at = now() - interval '10 days' WHERE id = $1",
        uuid.UUID(hex=old),
    )
    boundary = (datetime.now(UTC) - timedelta(days=5)).isoformat()
    assert await list_ids(client, admin, newerThan=boundary) == [new]
    assert await list_ids(client, admin, olderThan=boundary) == [old]
    naive = (datetime.now(UTC) - timedelta(days=5)).replace(tzinfo=None).isoformat()
    assert await list_ids(client, admin, newerThan=naive) == [new]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 1001},
        {"cursor": "not-a-cursor"},
        {"newerThan": "yesterday"},
        {"status": "done"},
        {"topic": "bad topic"},
    ],
)
async def test_list_rejects_bad_parameters_with_400(
    client: httpx.AsyncClient, admin: dict, params: dict
) -> None:
    assert_error(await client.get("/api/events", params=params, headers=admin), 400)


async def test_only_managers_admins_and_services_list_events(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    assert_error(await client.get("/api/events", headers=await user_headers(client, runtime)), 403)
    assert_error(await client.get("/api/events"), 401)
    for headers in (
        await user_headers(client, runtime, isManager=True),
        await service_headers(runtime),
    ):
        assert (await client.get("/api/events", headers=headers)).status_code == 200


# Dependencies down


async def test_events_are_stored_while_redis_is_down(settings: Settings, runtime: Runtime) -> None:
    headers = await service_headers(runtime)  # API keys need only PostgreSQL
    no_redis = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async with serving(server_app(no_redis)) as client:
        event_id = await dispatch(client, headers, description="kept")
        patched = await client.patch(
            f"/api/events/{event_id}", json={"status": "failed"}, headers=headers
        )
        assert patched.status_code == 204
    event = await runtime.events.get(event_id)
    assert event is not None and (event.description, event.status) == ("kept", "failed")


async def test_with_postgresql_down_the_events_api_answers_503(settings: Settings) -> None:
    no_db = settings.model_copy(
        update={"postgres_url": f"postgres://postgres@127.0.0.1:{free_port()}/nothing"}
    )
    async with serving(server_app(no_db)) as client:
        response = await client.post(
            "/api/events", json={"topic": "test.topic"}, headers={"X-Api-Key": "k" * 64}
        )
        listed = await client.get("/api/events", headers={"X-Api-Key": "k" * 64})
    for answer in (response, listed):
        assert_error(answer, 503)
        assert "PostgreSQL" in answer.json()["detail"]


async def test_a_page_of_large_events_ends_early_with_a_cursor_to_the_rest(
    runtime: Runtime,
) -> None:
    ids = []
    for number in range(3):
        payload = {"blob": secrets.token_hex(50_000)}  # ~100 kB that does not compress
        ids.append(
            await runtime.events.dispatch("test.large", payload=payload, summary={"n": number})
        )
    query = EventQuery(topics=["test.large"], limit=100)
    first = await list_events(runtime.db, query, page_bytes=150_000)
    assert [event.id for event in first.events] == ids[::-1][:2]
    assert first.next_cursor is not None
    query.cursor = first.next_cursor
    rest = await list_events(runtime.db, query, page_bytes=150_000)
    assert [event.id for event in rest.events] == ids[:1]
    assert rest.next_cursor is None
    # However large one event is, a page holds at least it.
    query.cursor = None
    single = await list_events(runtime.db, query, page_bytes=1)
    assert len(single.events) == 1 and single.next_cursor is not None
