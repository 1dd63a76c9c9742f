"""The official ayon-python-api client against a real server process: events, enroll, EventHub.

ayon_api is synchronous (requests, websocket-client), so its calls run in threads.
"""

from __future__ import annotations

import asyncio
import queue
import secrets
import threading
from collections.abc import AsyncIterator

import ayon_api
import pytest
from ayon_api.exceptions import HTTPRequestError
from ayon_api.server_api import ServerAPI

from ayon_server.config import Settings
from ayon_server.runtime import Runtime
from tests.helpers.ayon_client import in_thread, logged_in
from tests.helpers.server import server_process
from tests.helpers.users import make_user
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.usefixtures("clean_tables")


@pytest.fixture(scope="module")
async def server_url(settings: Settings) -> AsyncIterator[str]:
    async with server_process(settings) as url:
        yield url


async def service_api(server_url: str, runtime: Runtime) -> tuple[str, str]:
    """(API key, user name) of a new service user."""
    key = secrets.token_hex(32)
    name = await make_user(runtime, api_key=key, isService=True)
    return key, name


async def test_the_client_logs_in_and_dispatches_reads_updates_and_deletes_events(
    server_url: str, runtime: Runtime
) -> None:
    api, name = await logged_in(server_url, runtime, isAdmin=True)
    assert api.has_valid_token
    assert (await in_thread(api.get_server_version_tuple))[:2] >= (1, 15)

    event_id = await in_thread(
        api.create_event,
        "test.client",
        sender="ayon_api_test",
        project_name="demo",
        username="ignored",
        description="created by ayon_api",
        summary={"a": 1},
        payload={"p": [1, 2]},
        finished=False,
    )
    event = await in_thread(api.get_event, event_id)
    assert (event["id"], event["topic"], event["status"], event["user"]) == (
        event_id,
        "test.client",
        "pending",
        name,
    )
    assert (event["project"], event["summary"], event["payload"]) == (
        "demo",
        {"a": 1},
        {"p": [1, 2]},
    )

    await in_thread(
        api.update_event, event_id, status="in_progress", description="halfway", progress=50
    )
    event = await in_thread(api.get_event, event_id)
    assert (event["status"], event["description"]) == ("in_progress", "halfway")

    response = await in_thread(api.dispatch_event, "test.client.second", depends_on=event_id)
    second = await in_thread(api.get_event, response.data["id"])
    assert second["dependsOn"] == event_id

    await in_thread(api.delete_event, response.data["id"])
    with pytest.raises(HTTPRequestError, match="404"):
        await in_thread(api.get_event, response.data["id"])
    with pytest.raises(HTTPRequestError, match="400"):
        await in_thread(api.dispatch_event, "bad topic")
    assert api.has_valid_token  # a 4xx other than 401 keeps the session


async def test_a_normal_user_gets_403_from_the_client_and_keeps_its_token(
    server_url: str, runtime: Runtime
) -> None:
    api, _ = await logged_in(server_url, runtime)
    with pytest.raises(HTTPRequestError, match="403"):
        await in_thread(api.dispatch_event, "test.client")
    assert api.has_valid_token


async def test_a_service_api_key_connects_and_two_racing_enrollers_split_the_jobs(
    server_url: str, runtime: Runtime
) -> None:
    key, name = await service_api(server_url, runtime)
    dispatcher = await in_thread(ServerAPI, server_url, token=key)
    assert (await in_thread(dispatcher.get_user))["name"] == name
    sources = [
        (await in_thread(dispatcher.dispatch_event, "test.client.src.one")).data["id"]
        for _ in range(20)
    ]
    start = threading.Barrier(2)

    def worker(sender: str) -> list[str]:
        api = ServerAPI(server_url, token=key)
        taken: list[str] = []
        start.wait()
        for _ in range(100):  # more rounds than jobs: a loop that never ends is a failure
            job = api.enroll_event_job("test.client.src.*", "test.client.target", sender)
            if job is None:
                return taken
            taken.append(job["dependsOn"])
            api.update_event(job["id"], status="in_progress")
            api.update_event(job["id"], status="finished")
        raise AssertionError(f"{sender} was still getting jobs after 100 rounds")

    results = await asyncio.gather(in_thread(worker, "worker_a"), in_thread(worker, "worker_b"))
    taken = [source for result in results for source in result]
    assert sorted(taken) == sorted(sources)  # each source handed to exactly one worker, once
    assert (
        await in_thread(dispatcher.enroll_event_job, "test.client.src.*", "test.client.target", "x")
        is None
    )


async def test_enroll_through_the_client_restarts_failed_jobs_and_rejects_bad_topics(
    server_url: str, runtime: Runtime
) -> None:
    key, _ = await service_api(server_url, runtime)
    api = await in_thread(ServerAPI, server_url, token=key)
    source = (await in_thread(api.dispatch_event, "test.retry.source")).data["id"]
    job = await in_thread(
        api.enroll_event_job, "test.retry.source", "test.retry.target", "w", max_retries=1
    )
    assert (job["dependsOn"], job["status"]) == (source, "pending")
    await in_thread(api.update_event, job["id"], status="failed")
    again = await in_thread(
        api.enroll_event_job,
        "test.retry.source",
        "test.retry.target",
        "w",
        max_retries=1,
        ignore_older_than=1,
        ignore_sender_types=["nobody"],
        sequential=True,
    )
    assert (again["id"], again["status"]) == (job["id"], "pending")
    assert (await in_thread(api.get_event, job["id"]))["retries"] == 1
    # Invalid topics: the client logs the 400 and returns None, as upstream tests expect.
    assert await in_thread(api.enroll_event_job, "bad topic", "test.retry.target", "w") is None
    assert await in_thread(api.enroll_event_job, "test.retry.source", "t.*", "w") is None


async def test_the_client_event_hub_receives_events_over_the_websocket(
    server_url: str, runtime: Runtime
) -> None:
    api, _ = await logged_in(server_url, runtime, isAdmin=True)
    received: queue.Queue[ayon_api.events.Event] = queue.Queue()

    def on_event(event: ayon_api.events.Event) -> None:
        received.put(event)

    hub = api.get_event_hub()
    hub.add_callback("test.hub.*", on_event)
    try:
        await wait_until(hub.is_connected, what="the hub to connect (in its own thread)")
        await in_thread(api.dispatch_event, "test.other")
        event_id = (await in_thread(api.dispatch_event, "test.hub.hello", summary={"x": 1})).data[
            "id"
        ]
        event = await in_thread(received.get, timeout=10)
    finally:
        await in_thread(hub.stop)
    assert (event.topic, event.id, event.summary, event.status) == (
        "test.hub.hello",
        event_id,
        {"x": 1},
        "finished",
    )
    assert event.store is True
