"""Web actions: execute → take → finish/abort, and the action invalidator."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ayon_server.actions.launcher import (
    LAUNCHER_TOPIC,
    fail_timed_out_actions,
    timeout_description,
)
from ayon_server.background.action_invalidator import ActionInvalidator
from ayon_server.config import Settings
from ayon_server.events.stream import EVENTS_CHANNEL, EventModel
from ayon_server.events.subscription import EventSubscription, subscribe_events
from ayon_server.lib.redis import Redis
from ayon_server.runtime import Runtime
from tests.helpers.server import free_port, server_app, serving
from tests.helpers.users import login, make_user
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.usefixtures("clean_tables")

ACTION = {
    "addonName": "applications",
    "addonVersion": "1.2.3",
    "identifier": "application.maya/2025",
    "variant": "production",
}
CONTEXT = {
    "projectName": "demo_Commercial",
    "entityType": "task",
    "entityIds": ["0f4b9c7e2d1a4b3c8e5f6a7b8c9d0e1f"],
    "entitySubtypes": ["Animation"],
}
TIMEOUT = 300


@pytest.fixture
async def user(runtime: Runtime) -> str:
    return await make_user(runtime)


@pytest.fixture
async def headers(client: httpx.AsyncClient, user: str) -> dict[str, str]:
    return await login(client, user)


class PublishedEvents:
    """The event messages published on Redis, read up to a marker this test publishes last."""

    def __init__(self, subscription: EventSubscription, redis: Redis) -> None:
        self.subscription = subscription
        self.redis = redis

    async def received(self) -> list[dict[str, Any]]:
        """Every message since the last call: whatever was published before is before the marker."""
        marker = secrets.token_hex(8)
        await self.redis.publish(EVENTS_CHANNEL, json.dumps({"marker": marker}))
        messages = []
        while (message := await self.subscription.get(timeout=10)) is not None:
            if message.get("marker") == marker:
                return messages
            messages.append(message)
        raise AssertionError("the marker message never arrived")


@pytest.fixture
async def events(runtime: Runtime) -> AsyncIterator[PublishedEvents]:
    async with subscribe_events(runtime.redis) as subscription:
        yield PublishedEvents(subscription, runtime.redis)


async def execute(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    context: dict[str, Any] | None = None,
    **params: str,
) -> httpx.Response:
    return await client.post(
        "/api/actions/execute",
        params={**ACTION, **params},
        json=CONTEXT if context is None else context,
        headers=headers,
    )


async def launch(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """Execute an action and return the token from its launcher URI."""
    response = await execute(client, headers)
    assert response.status_code == 200, response.text
    return token_of(response.json())


def token_of(body: dict[str, Any]) -> str:
    return parse_qs(urlsplit(body["payload"]["uri"]).query)["token"][0]


async def event_by_token(runtime: Runtime, token: str) -> EventModel:
    event_id = await runtime.db.fetchval("SELECT id FROM public.events WHERE hash = $1", token)
    assert event_id is not None
    event = await runtime.events.get(event_id)
    assert event is not None
    return event


async def pending_action(runtime: Runtime, *, age: timedelta = timedelta(0)) -> str:
    """A pending launcher event created `age` ago; returns its token."""
    token = secrets.token_hex(32)
    event_id = await runtime.events.dispatch(
        LAUNCHER_TOPIC, hash=token, status="pending", user="someone", summary={}, payload={}
    )
    await backdate(runtime, event_id, age)
    return token


async def backdate(runtime: Runtime, event_id: str, age: timedelta) -> None:
    await runtime.db.execute(
        "UPDATE public.events SET created_at = now() - $2::interval WHERE id = $1",
        uuid.UUID(hex=event_id),
        age,
    )


def unreachable_postgres(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"postgres_url": f"postgres://postgres@127.0.0.1:{free_port()}/nothing"}
    )


# execute


async def test_execute_dispatches_a_pending_launcher_event_and_answers_with_a_launcher_uri(
    client: httpx.AsyncClient, runtime: Runtime, headers: dict[str, str], user: str
) -> None:
    response = await client.post(
        "/api/actions/execute",
        params=ACTION,
        json={**CONTEXT, "formData": {"workfile": "latest"}},
        headers={
            **headers,
            "referer": "https://ayon.example.com:8443/projects/demo_Commercial/browser?x=1",
            "x-sender": "web-ui.42",
            "x-sender-type": "web",
        },
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "launcher"
    assert body["success"] is True
    assert body["message"]
    uri = urlsplit(body["payload"]["uri"])
    assert (uri.scheme, uri.netloc, uri.path) == ("ayon-launcher", "action", "")
    query = parse_qs(uri.query)
    assert query["server_url"] == ["https://ayon.example.com:8443"]
    assert "server_url=https%3A%2F%2Fayon.example.com%3A8443&" in body["payload"]["uri"]
    token = query["token"][0]
    assert len(token) == 64 and set(token) <= set("0123456789abcdef")

    event = await event_by_token(runtime, token)
    assert event.topic == "action.launcher"
    assert event.status == "pending"
    assert (event.user, event.project) == (user, "demo_Commercial")
    assert (event.sender, event.sender_type) == ("web-ui.42", "web")
    assert event.summary == {
        "addon_name": "applications",
        "addon_version": "1.2.3",
        "variant": "production",
        "action_identifier": "application.maya/2025",
    }
    assert event.payload == {
        "args": [],
        "context": {**CONTEXT, "formData": {"workfile": "latest"}},
    }


async def test_execute_without_a_referer_points_the_launcher_at_the_request_url(
    client: httpx.AsyncClient, runtime: Runtime, headers: dict[str, str]
) -> None:
    response = await execute(client, headers, context={}, variant="staging")

    assert response.status_code == 200, response.text
    uri = response.json()["payload"]["uri"]
    assert parse_qs(urlsplit(uri).query)["server_url"] == ["http://testserver"]
    event = await event_by_token(runtime, token_of(response.json()))
    # A global action: no project, no entities; the sender type defaults to "api".
    assert (event.project, event.sender, event.sender_type) == (None, None, "api")
    assert event.summary["variant"] == "staging"
    assert event.payload["context"] == {
        "projectName": None,
        "entityType": None,
        "entitySubtypes": None,
        "entityIds": None,
        "formData": None,
    }


async def test_execute_ignores_entity_fields_without_a_project_and_defaults_entity_ids(
    client: httpx.AsyncClient, runtime: Runtime, headers: dict[str, str]
) -> None:
    global_action = await execute(client, headers, context={"entityType": "folder"})
    no_ids = await execute(client, headers, context={"projectName": "demo", "entityType": "task"})

    context = (await event_by_token(runtime, token_of(global_action.json()))).payload["context"]
    assert context["entityType"] is None
    context = (await event_by_token(runtime, token_of(no_ids.json()))).payload["context"]
    assert (context["entityType"], context["entityIds"]) == ("task", [])


async def test_execute_with_only_an_api_key_is_forbidden_because_the_launcher_needs_a_session(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    api_key = secrets.token_hex(24)
    await make_user(runtime, api_key=api_key, isService=True)

    response = await execute(client, {"X-Api-Key": api_key})

    assert response.status_code == 403
    assert response.json()["code"] == 403
    assert "Authorization header" in response.json()["detail"]
    assert await runtime.db.fetchval("SELECT count(*) FROM public.events") == 0


async def test_execute_with_an_api_key_in_the_authorization_header_is_accepted(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    api_key = secrets.token_hex(24)
    name = await make_user(runtime, api_key=api_key, isService=True)

    response = await execute(client, {"Authorization": f"ApiKey {api_key}"})

    assert response.status_code == 200, response.text
    assert (await event_by_token(runtime, token_of(response.json()))).user == name


async def test_execute_without_credentials_is_401_and_with_a_bad_token_too(
    client: httpx.AsyncClient,
) -> None:
    anonymous = await execute(client, {})
    bad_token = await execute(client, {"Authorization": f"Bearer {secrets.token_hex(32)}"})

    assert anonymous.status_code == 401
    assert anonymous.json() == {"code": 401, "detail": "Not logged in"}
    assert bad_token.status_code == 401


async def test_execute_by_a_guest_is_forbidden(client: httpx.AsyncClient, runtime: Runtime) -> None:
    guest = await make_user(runtime, isGuest=True)

    response = await execute(client, await login(client, guest))

    assert response.status_code == 403
    assert response.json() == {"code": 403, "detail": "Guests cannot run actions"}


@pytest.mark.parametrize(
    "sender_headers",
    [
        {"x-sender": "has space"},
        {"x-sender": "-leading-dash"},
        {"x-sender": "trailing."},
        {"x-sender-type": "semi;colon"},
        {"x-sender-type": ""},
    ],
)
async def test_execute_rejects_an_invalid_sender_header_with_400(
    client: httpx.AsyncClient,
    runtime: Runtime,
    headers: dict[str, str],
    sender_headers: dict[str, str],
) -> None:
    response = await execute(client, {**headers, **sender_headers})

    assert response.status_code == 400
    assert response.json()["code"] == 400
    assert response.json()["detail"] == "Request validation error in [POST] /api/actions/execute"
    assert await runtime.db.fetchval("SELECT count(*) FROM public.events") == 0


@pytest.mark.parametrize(
    ("params", "context"),
    [
        ({"addonName": ""}, None),
        ({"addonName": "bad name"}, None),
        ({"addonVersion": "1.2"}, None),
        ({"addonVersion": "latest"}, None),
        ({"identifier": ""}, None),
        ({}, {"projectName": "no-dashes-in-project-names"}),
        ({}, {"projectName": "demo", "entityType": "planet"}),
        ({}, {"projectName": "demo", "entityIds": "not a list"}),
    ],
)
async def test_execute_rejects_bad_parameters_and_context_with_400(
    client: httpx.AsyncClient,
    runtime: Runtime,
    headers: dict[str, str],
    params: dict[str, str],
    context: dict[str, Any] | None,
) -> None:
    response = await execute(client, headers, context=context, **params)

    assert response.status_code == 400, response.text
    assert response.json()["code"] == 400
    assert await runtime.db.fetchval("SELECT count(*) FROM public.events") == 0


async def test_execute_without_required_query_parameters_is_400(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.post("/api/actions/execute", json={}, headers=headers)

    assert response.status_code == 400
    missing = {error["loc"][-1] for error in response.json()["errors"]}
    assert missing == {"addonName", "addonVersion", "identifier"}


async def test_list_answers_an_empty_action_list_while_no_addon_defines_actions(
    client: httpx.AsyncClient, runtime: Runtime, headers: dict[str, str]
) -> None:
    guest = await login(client, await make_user(runtime, isGuest=True))

    with_context = await client.post(
        "/api/actions/list", params={"variant": "production"}, json=CONTEXT, headers=headers
    )
    without_body = await client.post("/api/actions/list?mode=all", headers=headers)
    as_guest = await client.post("/api/actions/list", json={}, headers=guest)
    anonymous = await client.post("/api/actions/list", json={})
    bad_mode = await client.post("/api/actions/list?mode=every", json={}, headers=headers)

    assert with_context.status_code == without_body.status_code == as_guest.status_code == 200
    assert with_context.json() == without_body.json() == as_guest.json() == {"actions": []}
    assert anonymous.status_code == 401
    assert bad_mode.status_code == 400


# take


async def test_take_hands_the_launcher_the_action_and_marks_it_in_progress(
    client: httpx.AsyncClient,
    runtime: Runtime,
    headers: dict[str, str],
    user: str,
    events: PublishedEvents,
) -> None:
    token = await launch(client, headers)
    event = await event_by_token(runtime, token)
    await events.received()

    response = await client.get(f"/api/actions/take/{token}")  # no credentials: the token is one

    assert response.status_code == 200, response.text
    assert response.json() == {
        "eventId": event.id,
        "actionIdentifier": "application.maya/2025",
        "args": [],
        "context": {**CONTEXT, "formData": None},
        "addonName": "applications",
        "addonVersion": "1.2.3",
        "variant": "production",
        "userName": user,
    }
    assert (await event_by_token(runtime, token)).status == "in_progress"
    published = await events.received()
    assert [(m["id"], m["status"]) for m in published] == [(event.id, "in_progress")]


async def test_a_token_can_be_taken_only_once(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    token = await launch(client, headers)

    first = await client.get(f"/api/actions/take/{token}")
    second = await client.get(f"/api/actions/take/{token}")

    assert first.status_code == 200
    assert second.status_code == 404
    assert second.json() == {"code": 404, "detail": "Invalid token"}


async def test_concurrent_takes_of_one_token_have_exactly_one_winner(
    client: httpx.AsyncClient, runtime: Runtime, headers: dict[str, str], events: PublishedEvents
) -> None:
    token = await launch(client, headers)
    await events.received()

    responses = await asyncio.gather(*(client.get(f"/api/actions/take/{token}") for _ in range(8)))

    assert sorted(r.status_code for r in responses) == [200] + [404] * 7
    assert [m["status"] for m in await events.received()] == ["in_progress"]


@pytest.mark.parametrize("status", ["in_progress", "finished", "failed", "aborted"])
async def test_take_of_an_action_that_is_no_longer_pending_is_404(
    client: httpx.AsyncClient, runtime: Runtime, headers: dict[str, str], status: str
) -> None:
    token = await launch(client, headers)
    await runtime.events.update((await event_by_token(runtime, token)).id, status=status)

    response = await client.get(f"/api/actions/take/{token}")

    assert response.status_code == 404
    assert (await event_by_token(runtime, token)).status == status


async def test_take_of_an_unknown_token_or_another_topics_event_is_404(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    other_topic = secrets.token_hex(32)
    await runtime.events.dispatch("some.job", hash=other_topic, status="pending")

    unknown = await client.get(f"/api/actions/take/{secrets.token_hex(32)}")
    wrong_topic = await client.get(f"/api/actions/take/{other_topic}")

    assert unknown.status_code == wrong_topic.status_code == 404
    assert unknown.json()["detail"] == "Invalid token"
    assert (await event_by_token(runtime, other_topic)).status == "pending"


async def test_take_of_a_token_older_than_the_action_timeout_is_404(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    token = await pending_action(runtime, age=timedelta(seconds=TIMEOUT + 1))

    response = await client.get(f"/api/actions/take/{token}")

    assert response.status_code == 404
    assert (await event_by_token(runtime, token)).status == "pending"  # the invalidator's job


async def test_take_of_a_hand_made_launcher_event_with_odd_fields_still_answers(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # Managers can create events of any topic through POST /api/events.
    token = secrets.token_hex(32)
    await runtime.events.dispatch(
        LAUNCHER_TOPIC,
        hash=token,
        status="pending",
        summary={"addon_name": 7, "variant": None},
        payload={"args": "not a list", "context": ["not", "a", "dict"]},
    )

    response = await client.get(f"/api/actions/take/{token}")

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["addonName"], body["variant"], body["userName"]) == ("7", "", "")
    assert (body["args"], body["context"]) == ([], {})


@pytest.mark.parametrize(
    "token",
    ["abc", "A" * 64, "g" * 64, "a" * 63, "a" * 65, "a" * 64 + "-b"],
)
async def test_take_of_a_malformed_token_is_400(client: httpx.AsyncClient, token: str) -> None:
    response = await client.get(f"/api/actions/take/{token}")

    assert response.status_code == 400
    assert response.json()["code"] == 400


async def test_take_answers_503_while_postgresql_is_down(settings: Settings) -> None:
    async with serving(server_app(unreachable_postgres(settings))) as client:
        response = await client.get(f"/api/actions/take/{secrets.token_hex(32)}")

    assert response.status_code == 503
    assert response.json() == {
        "code": 503,
        "detail": "PostgreSQL database unavailable, retry later",
    }


async def test_the_launcher_reports_the_end_of_the_action_it_took_as_the_events_own_user(
    client: httpx.AsyncClient, runtime: Runtime, headers: dict[str, str], events: PublishedEvents
) -> None:
    token = await launch(client, headers)
    taken = await client.get(f"/api/actions/take/{token}")
    event_id = taken.json()["eventId"]
    stranger = await login(client, await make_user(runtime))
    await events.received()

    # The launcher logs in as the user, reads the event and reports how the process ended.
    read = await client.get(f"/api/events/{event_id}", headers=headers)
    by_stranger = await client.patch(
        f"/api/events/{event_id}", json={"status": "failed"}, headers=stranger
    )
    by_owner = await client.patch(
        f"/api/events/{event_id}", json={"status": "finished"}, headers=headers
    )

    assert read.status_code == 200
    assert (read.json()["status"], read.json()["hash"]) == ("in_progress", token)
    assert by_stranger.status_code == 403
    assert by_owner.status_code == 204
    assert (await event_by_token(runtime, token)).status == "finished"
    assert [m["status"] for m in await events.received()] == ["finished"]
    # A finished action can no longer be aborted (nor taken).
    assert (await client.post(f"/api/actions/abort/{token}", json={})).status_code == 404


# abort


@pytest.mark.parametrize("taken", [False, True])
async def test_abort_marks_a_pending_or_running_action_aborted_with_the_message(
    client: httpx.AsyncClient,
    runtime: Runtime,
    headers: dict[str, str],
    events: PublishedEvents,
    taken: bool,
) -> None:
    token = await launch(client, headers)
    if taken:
        assert (await client.get(f"/api/actions/take/{token}")).status_code == 200
    await events.received()

    response = await client.post(
        f"/api/actions/abort/{token}", json={"message": "User skipped login in AYON launcher."}
    )

    assert response.status_code == 200
    assert response.json() is None
    event = await event_by_token(runtime, token)
    assert (event.status, event.description) == (
        "aborted",
        "User skipped login in AYON launcher.",
    )
    assert [m["status"] for m in await events.received()] == ["aborted"]
    assert (await client.get(f"/api/actions/take/{token}")).status_code == 404


async def test_abort_without_a_message_uses_ayons_default(
    client: httpx.AsyncClient, runtime: Runtime, headers: dict[str, str]
) -> None:
    with_empty_body = await launch(client, headers)
    without_body = await launch(client, headers)

    assert (await client.post(f"/api/actions/abort/{with_empty_body}", json={})).status_code == 200
    assert (await client.post(f"/api/actions/abort/{without_body}")).status_code == 200

    for token in (with_empty_body, without_body):
        event = await event_by_token(runtime, token)
        assert (event.status, event.description) == ("aborted", "Action aborted by user")


@pytest.mark.parametrize("status", ["finished", "failed", "aborted"])
async def test_abort_of_a_finished_failed_or_aborted_action_is_404_and_changes_nothing(
    client: httpx.AsyncClient, runtime: Runtime, headers: dict[str, str], status: str
) -> None:
    token = await launch(client, headers)
    event = await event_by_token(runtime, token)
    await runtime.events.update(event.id, status=status, description="as it was")

    response = await client.post(f"/api/actions/abort/{token}", json={"message": "too late"})

    assert response.status_code == 404
    assert response.json() == {"code": 404, "detail": "Invalid token"}
    after = await event_by_token(runtime, token)
    assert (after.status, after.description) == (status, "as it was")


async def test_abort_of_an_unknown_token_is_404_and_of_a_malformed_one_400(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    other_topic = secrets.token_hex(32)
    await runtime.events.dispatch("some.job", hash=other_topic, status="pending")

    unknown = await client.post(f"/api/actions/abort/{secrets.token_hex(32)}", json={})
    wrong_topic = await client.post(f"/api/actions/abort/{other_topic}", json={})
    malformed = await client.post("/api/actions/abort/not-a-token", json={})

    assert unknown.status_code == wrong_topic.status_code == 404
    assert malformed.status_code == 400
    assert (await event_by_token(runtime, other_topic)).status == "pending"


@pytest.mark.parametrize("body", [{"message": 42}, {"message": "x" * 5000}, ["message"]])
async def test_abort_with_a_bad_body_is_400_and_changes_nothing(
    client: httpx.AsyncClient, runtime: Runtime, headers: dict[str, str], body: Any
) -> None:
    token = await launch(client, headers)

    response = await client.post(f"/api/actions/abort/{token}", json=body)

    assert response.status_code == 400
    assert (await event_by_token(runtime, token)).status == "pending"


# the invalidator


async def test_the_invalidator_fails_only_pending_actions_older_than_the_timeout(
    runtime: Runtime, events: PublishedEvents
) -> None:
    old = [await pending_action(runtime, age=timedelta(minutes=6)) for _ in range(3)]
    fresh = await pending_action(runtime, age=timedelta(minutes=4))
    running = await pending_action(runtime, age=timedelta(hours=1))
    await runtime.events.update((await event_by_token(runtime, running)).id, status="in_progress")
    other_topic = secrets.token_hex(32)
    other_id = await runtime.events.dispatch("some.job", hash=other_topic, status="pending")
    await backdate(runtime, other_id, timedelta(hours=1))
    await events.received()

    failed = await fail_timed_out_actions(runtime, TIMEOUT, batch_size=2)

    assert failed == 3
    for token in old:
        event = await event_by_token(runtime, token)
        assert event.status == "failed"
        assert event.description == (
            "Timed out: the launcher did not take this action within 5 minutes"
        )
    assert (await event_by_token(runtime, fresh)).status == "pending"
    assert (await event_by_token(runtime, running)).status == "in_progress"
    assert (await event_by_token(runtime, other_topic)).status == "pending"
    published = await events.received()
    assert sorted(m["hash"] for m in published) == sorted(old)
    assert {m["status"] for m in published} == {"failed"}
    # Kept, not deleted; and a second pass has nothing left to do.
    assert await runtime.db.fetchval("SELECT count(*) FROM public.events") == 6
    assert await fail_timed_out_actions(runtime, TIMEOUT) == 0


async def test_two_invalidators_at_once_fail_each_event_exactly_once(
    settings: Settings, runtime: Runtime, events: PublishedEvents
) -> None:
    tokens = [await pending_action(runtime, age=timedelta(minutes=10)) for _ in range(40)]
    await events.received()
    # Two runtimes with their own pools, as two replicas would have.
    replica = Runtime.create(settings)
    try:
        counts = await asyncio.gather(
            fail_timed_out_actions(runtime, TIMEOUT, batch_size=7),
            fail_timed_out_actions(replica, TIMEOUT, batch_size=7),
        )
    finally:
        await replica.close()

    assert sum(counts) == 40
    published = await events.received()
    assert sorted(m["hash"] for m in published) == sorted(tokens)  # each one once
    statuses = await runtime.db.fetch("SELECT status, count(*) FROM public.events GROUP BY status")
    assert {row["status"]: row["count"] for row in statuses} == {"failed": 40}


def test_the_timeout_description_names_the_timeout_readably() -> None:
    assert timeout_description(300) == (
        "Timed out: the launcher did not take this action within 5 minutes"
    )
    assert timeout_description(60).endswith("within 1 minute")
    assert timeout_description(90).endswith("within 90 seconds")


async def test_the_invalidator_worker_fails_stale_actions_on_its_first_pass(
    runtime: Runtime,
) -> None:
    stale = await pending_action(runtime, age=timedelta(minutes=6))
    fresh = await pending_action(runtime)
    worker = ActionInvalidator(runtime, first_pass_delay=0, interval=3600)

    async def first_pass_done() -> bool:
        return worker.last_tick_at is not None

    worker.start()
    try:
        await wait_until(first_pass_done)
    finally:
        await worker.stop(5.0)

    assert (await event_by_token(runtime, stale)).status == "failed"
    assert (await event_by_token(runtime, fresh)).status == "pending"
    health = worker.health()
    assert (health["failedTotal"], health["timeout"], health["interval"]) == (1, 300, 3600)
    assert health["lastTickAt"] is not None


async def test_the_invalidator_worker_takes_its_settings_and_waits_before_its_first_pass(
    settings: Settings,
) -> None:
    tuned = settings.model_copy(update={"action_timeout": 120, "action_invalidate_interval": 60})
    rt = Runtime.create(tuned)
    try:
        worker = ActionInvalidator(rt)
        assert (worker.timeout, worker.interval) == (120, 60)
        assert 0 < worker.first_pass_delay <= 60
        # One without the delay, started after it, passes twice: the delayed one, had it not
        # waited, would have passed by then.
        undelayed = ActionInvalidator(rt, first_pass_delay=0, interval=0.01)
        worker.start()
        undelayed.start()
        first_pass = await wait_until(lambda: undelayed.last_tick_at)
        await wait_until(lambda: undelayed.last_tick_at != first_pass)
        assert worker.state == "running" and worker.last_tick_at is None
        await asyncio.gather(worker.stop(5.0), undelayed.stop(5.0))
    finally:
        await rt.close()
    assert worker.state == "stopped"


async def test_the_invalidator_worker_survives_postgresql_being_down(settings: Settings) -> None:
    rt = Runtime.create(unreachable_postgres(settings))
    worker = ActionInvalidator(rt, first_pass_delay=0)
    worker.initial_backoff = worker.max_backoff = 0.05
    try:
        worker.start()

        async def restarted() -> bool:
            return worker.restarts >= 2

        await wait_until(restarted)
        assert worker.health()["lastError"]
        assert worker.running
    finally:
        await worker.stop(5.0)
        await rt.close()


async def test_every_server_replica_runs_the_action_invalidator(settings: Settings) -> None:
    app = server_app(settings)
    async with serving(app):
        worker = app.state.server.workers.get("action_invalidator")
        assert isinstance(worker, ActionInvalidator)
        assert worker.running
    assert not worker.running
