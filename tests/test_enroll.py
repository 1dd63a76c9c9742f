"""POST /api/enroll: job hand-out, retries, sequential mode and races."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from ayon_server.config import Settings
from ayon_server.events.enroll import RESTART_DESCRIPTION, job_hash
from ayon_server.events.filter import QueryFilter, build_filter
from ayon_server.events.subscription import subscribe_events
from ayon_server.runtime import Runtime
from tests.helpers.server import server_app, serving
from tests.helpers.users import login, make_user

pytestmark = pytest.mark.usefixtures("clean_tables")

SOURCE = "test.source"
TARGET = "test.target"


@pytest.fixture
async def service(runtime: Runtime) -> dict[str, str]:
    key = secrets.token_hex(32)
    await make_user(runtime, "enroll_service_" + secrets.token_hex(3), api_key=key, isService=True)
    return {"X-Api-Key": key}


async def enroll(client: httpx.AsyncClient, headers: dict, **body: Any) -> httpx.Response:
    payload = {"sourceTopic": SOURCE, "targetTopic": TARGET, "sender": "worker1", **body}
    return await client.post("/api/enroll", json=payload, headers=headers)


async def enroll_job(client: httpx.AsyncClient, headers: dict, **body: Any) -> dict:
    response = await enroll(client, headers, **body)
    assert response.status_code == 200, response.text
    return response.json()


async def assert_nothing_to_do(client: httpx.AsyncClient, headers: dict, **body: Any) -> None:
    response = await enroll(client, headers, **body)
    assert response.status_code == 204, response.text
    assert response.content == b""


async def set_status(client: httpx.AsyncClient, headers: dict, job_id: str, status: str) -> None:
    response = await client.patch(f"/api/events/{job_id}", json={"status": status}, headers=headers)
    assert response.status_code == 204, response.text


async def sources(runtime: Runtime, count: int, topic: str = SOURCE, **fields: Any) -> list[str]:
    return [await runtime.events.dispatch(topic, **fields) for _ in range(count)]


async def test_enroll_creates_a_pending_job_for_the_oldest_finished_source(
    client: httpx.AsyncClient, runtime: Runtime, service: dict
) -> None:
    await runtime.events.dispatch(SOURCE, status="pending")  # not finished: not a source yet
    first, _second = await sources(runtime, 2)

    job = await enroll_job(client, service, description=None)
    assert set(job) == {"id", "dependsOn", "hash", "status"}
    assert (job["dependsOn"], job["status"]) == (first, "pending")
    assert job["hash"] == job_hash(TARGET, uuid.UUID(hex=first))

    stored = await runtime.events.get(job["id"])
    assert stored is not None
    assert (stored.topic, stored.status, stored.depends_on, stored.sender) == (
        TARGET,
        "pending",
        first,
        "worker1",
    )
    assert stored.user is not None and stored.user.startswith("enroll_service_")
    assert stored.description == f"Convert from {SOURCE} to {TARGET}"


async def test_a_worker_gets_its_unfinished_job_back_and_others_get_the_next_one(
    client: httpx.AsyncClient, runtime: Runtime, service: dict
) -> None:
    first, second = await sources(runtime, 2)
    mine = await enroll_job(client, service, sender="worker1")
    assert mine["dependsOn"] == first
    # worker1 lost track of its job: enrolling again returns the same one.
    assert await enroll_job(client, service, sender="worker1") == mine
    await set_status(client, service, mine["id"], "in_progress")
    again = await enroll_job(client, service, sender="worker1")
    assert (again["id"], again["status"]) == (mine["id"], "in_progress")

    theirs = await enroll_job(client, service, sender="worker2")
    assert theirs["dependsOn"] == second
    await assert_nothing_to_do(client, service, sender="worker3")


async def test_finished_and_aborted_jobs_are_final(
    client: httpx.AsyncClient, runtime: Runtime, service: dict
) -> None:
    await sources(runtime, 2)
    finished = await enroll_job(client, service)
    await set_status(client, service, finished["id"], "finished")
    aborted = await enroll_job(client, service)
    assert aborted["dependsOn"] != finished["dependsOn"]
    await set_status(client, service, aborted["id"], "aborted")
    await assert_nothing_to_do(client, service)
    await assert_nothing_to_do(client, service, sender="another")


async def test_failed_jobs_restart_until_max_retries(
    client: httpx.AsyncClient, runtime: Runtime, service: dict
) -> None:
    (source,) = await sources(runtime, 1)
    job = await enroll_job(client, service, maxRetries=2)
    for retries in (1, 2):
        await set_status(client, service, job["id"], "failed")
        # Any worker may pick up a failed job; it becomes that worker's.
        restarted = await enroll_job(client, service, maxRetries=2, sender=f"w{retries}")
        assert (restarted["id"], restarted["status"], restarted["dependsOn"]) == (
            job["id"],
            "pending",
            source,
        )
        stored = await runtime.events.get(job["id"])
        assert stored is not None
        assert (stored.retries, stored.sender, stored.description) == (
            retries,
            f"w{retries}",
            RESTART_DESCRIPTION,
        )
    await set_status(client, service, job["id"], "failed")
    await assert_nothing_to_do(client, service, maxRetries=2)
    # A higher limit gives it another chance.
    assert (await enroll_job(client, service, maxRetries=3))["id"] == job["id"]


async def test_a_restarted_job_is_handed_out_again_without_counting_a_retry(
    client: httpx.AsyncClient, runtime: Runtime, service: dict
) -> None:
    await sources(runtime, 1)
    job = await enroll_job(client, service, sender="first")
    await set_status(client, service, job["id"], "restarted")
    again = await enroll_job(client, service, sender="second", maxRetries=0)
    assert (again["id"], again["status"]) == (job["id"], "pending")
    stored = await runtime.events.get(job["id"])
    assert stored is not None and (stored.retries, stored.sender) == (0, "second")


async def test_sequential_enroll_hands_out_one_job_at_a_time_in_order(
    client: httpx.AsyncClient, runtime: Runtime, service: dict
) -> None:
    first, second, third = await sources(runtime, 3)
    job = await enroll_job(client, service, sender="a", sequential=True)
    assert job["dependsOn"] == first
    await assert_nothing_to_do(client, service, sender="b", sequential=True)
    assert (await enroll_job(client, service, sender="a", sequential=True))["id"] == job["id"]
    await set_status(client, service, job["id"], "in_progress")
    await assert_nothing_to_do(client, service, sender="b", sequential=True)

    await set_status(client, service, job["id"], "finished")
    job = await enroll_job(client, service, sender="b", sequential=True)
    assert job["dependsOn"] == second

    # A failed job is retried before the sequence moves on.
    await set_status(client, service, job["id"], "failed")
    retried = await enroll_job(client, service, sender="c", sequential=True)
    assert (retried["id"], retried["dependsOn"]) == (job["id"], second)
    await set_status(client, service, job["id"], "finished")
    assert (await enroll_job(client, service, sender="c", sequential=True))["dependsOn"] == third


async def test_concurrent_sequential_enrolls_hand_out_a_single_job(
    client: httpx.AsyncClient, runtime: Runtime, service: dict
) -> None:
    await sources(runtime, 5)
    responses = await asyncio.gather(
        *(enroll(client, service, sender=f"worker{i}", sequential=True) for i in range(8))
    )
    assert {r.status_code for r in responses} <= {200, 204, 503}
    assert sum(r.status_code == 200 for r in responses) == 1
    jobs = await runtime.db.fetchval("SELECT count(*) FROM public.events WHERE topic = $1", TARGET)
    assert jobs == 1


async def test_a_sequential_enroll_that_cannot_get_the_lock_in_time_is_503(
    client: httpx.AsyncClient, runtime: Runtime, service: dict, settings: Settings
) -> None:
    await sources(runtime, 1)
    other = await asyncpg.connect(settings.postgres_url)
    try:
        async with other.transaction():
            # What a long-running enroll of the same target topic would hold.
            await other.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", f"ayon.enroll:{TARGET}"
            )
            response = await enroll(client, service, sequential=True)
    finally:
        await other.close()
    assert response.status_code == 503, response.text
    assert "retry" in response.json()["detail"]
    assert (await enroll(client, service, sequential=True)).status_code == 200


async def hand_out_everything(client: httpx.AsyncClient, headers: dict, sender: str) -> list[str]:
    """A worker loop: enroll, finish the job, repeat until there is nothing left."""
    taken: list[str] = []
    while True:
        response = await enroll(client, headers, sender=sender)
        if response.status_code == 204:
            return taken
        if response.status_code == 503:
            await asyncio.sleep(0.05)
            continue
        assert response.status_code == 200, response.text
        job = response.json()
        taken.append(job["dependsOn"])
        await set_status(client, headers, job["id"], "finished")


async def test_racing_workers_on_two_replicas_never_get_the_same_job(
    settings: Settings, runtime: Runtime, service: dict
) -> None:
    source_ids = await sources(runtime, 40)
    async with serving(server_app(settings)) as one, serving(server_app(settings)) as two:
        results = await asyncio.gather(
            *(hand_out_everything(one if i % 2 else two, service, f"worker{i}") for i in range(10))
        )
    taken = [source for worker in results for source in worker]
    assert sorted(taken) == sorted(source_ids)  # every source once, none twice
    assert sum(1 for worker in results if worker) > 1  # the work was actually shared
    counts = await runtime.db.fetch(
        "SELECT count(*) AS n FROM public.events WHERE topic = $1 GROUP BY depends_on", TARGET
    )
    assert [row["n"] for row in counts] == [1] * 40


async def test_a_burst_of_concurrent_enrolls_hands_each_job_to_one_worker(
    client: httpx.AsyncClient, runtime: Runtime, service: dict
) -> None:
    await sources(runtime, 12)
    responses = await asyncio.gather(
        *(enroll(client, service, sender=f"worker{i}") for i in range(16))
    )
    assert {r.status_code for r in responses} <= {200, 204, 503}
    handed_out = [r.json()["dependsOn"] for r in responses if r.status_code == 200]
    assert handed_out and len(handed_out) == len(set(handed_out))
    jobs = await runtime.db.fetchval("SELECT count(*) FROM public.events WHERE topic = $1", TARGET)
    assert jobs == len(handed_out)


async def test_ignore_older_than_skips_sources_not_updated_recently(
    client: httpx.AsyncClient, runtime: Runtime, service: dict
) -> None:
    (old,) = await sources(runtime, 1)
    await runtime.db.execute(
        "UPDATE public.events SET updated_at = now() - interval '5 days' WHERE id = $1",
        uuid.UUID(hex=old),
    )
    await assert_nothing_to_do(client, service)  # the default is 3 days
    await assert_nothing_to_do(client, service, ignoreOlderThan=4)
    assert (await enroll_job(client, service, ignoreOlderThan=6))["dependsOn"] == old
    await runtime.db.execute("TRUNCATE public.events")
    (old,) = await sources(runtime, 1)
    await runtime.db.execute(
        "UPDATE public.events SET updated_at = now() - interval '900 days' WHERE id = $1",
        uuid.UUID(hex=old),
    )
    assert (await enroll_job(client, service, ignoreOlderThan=0))["dependsOn"] == old


async def test_sources_of_ignored_sender_types_are_skipped(
    client: httpx.AsyncClient, runtime: Runtime, service: dict
) -> None:
    await runtime.events.dispatch(SOURCE, sender_type="worker")
    untyped = await runtime.events.dispatch(SOURCE)
    job = await enroll_job(client, service, ignoreSenderTypes=["worker", "bot"])
    assert job["dependsOn"] == untyped
    await set_status(client, service, job["id"], "finished")
    await assert_nothing_to_do(client, service, ignoreSenderTypes=["worker"])


async def test_source_topic_lists_and_wildcards_select_the_sources(
    client: httpx.AsyncClient, runtime: Runtime, service: dict
) -> None:
    folder = await runtime.events.dispatch("entity.folder.created")
    task = await runtime.events.dispatch("entity.task.created")
    await runtime.events.dispatch("entity.folder.deleted")
    snake = await runtime.events.dispatch("my_source.x")
    await runtime.events.dispatch("myXsource.x")  # `_` is literal, not LIKE's any character

    created = []
    for _ in range(2):
        job = await enroll_job(client, service, sourceTopic="entity.*.created")
        created.append(job["dependsOn"])
        await set_status(client, service, job["id"], "finished")
    assert created == [folder, task]  # oldest first
    await assert_nothing_to_do(client, service, sourceTopic="entity.*.created", sender="other")
    listed = await enroll_job(
        client, service, sourceTopic=["nothing.here", "my_source*"], sender="other"
    )
    assert listed["dependsOn"] == snake
    await assert_nothing_to_do(client, service, sourceTopic=["my_source*"], sender="third")


async def test_jobs_are_never_sources_of_their_own_target_topic(
    client: httpx.AsyncClient, runtime: Runtime, service: dict
) -> None:
    (source,) = await sources(runtime, 1, topic="test.chain.start")
    job = await enroll_job(
        client, service, sourceTopic="test.chain.*", targetTopic="test.chain.job"
    )
    assert job["dependsOn"] == source
    await set_status(client, service, job["id"], "finished")
    # The finished job matches test.chain.* too, but a job for it would be a loop.
    await assert_nothing_to_do(
        client, service, sourceTopic="test.chain.*", targetTopic="test.chain.job"
    )


async def test_the_filter_selects_source_events(
    client: httpx.AsyncClient, runtime: Runtime, service: dict
) -> None:
    await runtime.events.dispatch(SOURCE, summary={"kind": "image"}, project="a")
    wanted = await runtime.events.dispatch(SOURCE, summary={"kind": "video"}, project="b")
    query_filter = {
        "operator": "and",
        "conditions": [
            {"key": "summary/kind", "value": "video", "operator": "eq"},
            {"key": "project", "value": ["b", "c"], "operator": "in"},
        ],
    }
    assert (await enroll_job(client, service, filter=query_filter))["dependsOn"] == wanted


async def test_enroll_publishes_the_jobs_it_creates(
    client: httpx.AsyncClient, runtime: Runtime, service: dict
) -> None:
    await sources(runtime, 1)
    async with subscribe_events(runtime.redis) as events:
        job = await enroll_job(client, service)
        message = await events.get(timeout=5)
    assert message is not None
    assert (message["id"], message["topic"], message["status"]) == (job["id"], TARGET, "pending")


@pytest.mark.parametrize(
    "body",
    [
        {"sourceTopic": "bad topic"},
        {"sourceTopic": ["test.ok", "x"]},
        {"sourceTopic": []},
        {"targetTopic": "test.*"},
        {"targetTopic": "no"},
        {"maxRetries": -1},
        {"ignoreOlderThan": -1},
        {"sequential": "sometimes"},
        {"filter": {"conditions": [{"key": "nope", "value": 1}]}},
        {"filter": {"conditions": [{"key": "summary/a b", "value": 1}]}},
        {"filter": {"conditions": [{"key": "createdAt", "value": "yesterday", "operator": "gt"}]}},
        {"filter": {"conditions": [{"key": "topic", "value": "x", "operator": "in"}]}},
        {"filter": {"conditions": [{"key": "id", "value": "not-an-id"}]}},
        {"filter": {"conditions": [{"key": "topic", "value": "x", "operator": "between"}]}},
    ],
)
async def test_enroll_rejects_bad_input_with_400(
    client: httpx.AsyncClient, runtime: Runtime, service: dict, body: dict
) -> None:
    await sources(runtime, 1)
    response = await enroll(client, service, **body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 400 and response.json()["detail"]


async def test_the_sender_comes_from_the_body_or_a_valid_x_sender_header(
    client: httpx.AsyncClient, runtime: Runtime, service: dict
) -> None:
    await sources(runtime, 2)
    payload = {"sourceTopic": SOURCE, "targetTopic": TARGET}
    bad = await client.post(
        "/api/enroll", json=payload, headers={**service, "x-sender": "bad sender!"}
    )
    assert bad.status_code == 400 and "x-sender" in bad.json()["detail"]
    bad_type = await client.post(
        "/api/enroll", json={**payload, "sender": "w"}, headers={**service, "x-sender-type": "-"}
    )
    assert bad_type.status_code == 400
    missing = await client.post("/api/enroll", json=payload, headers=service)
    assert missing.status_code == 400 and "sender" in missing.json()["detail"]

    response = await client.post(
        "/api/enroll",
        json=payload,
        headers={**service, "x-sender": "header-worker", "x-sender-type": "service"},
    )
    assert response.status_code == 200, response.text
    job = await runtime.events.get(response.json()["id"])
    assert job is not None and (job.sender, job.sender_type) == ("header-worker", "service")


async def test_only_service_users_enroll(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await sources(runtime, 1)
    admin = await login(client, await make_user(runtime, isAdmin=True))
    assert (await enroll(client, admin)).status_code == 403
    assert (await enroll(client, {})).status_code == 401
    assert await runtime.db.fetchval("SELECT count(*) FROM public.events") == 1


async def test_debug_enrolls_log_their_decisions(
    client: httpx.AsyncClient, runtime: Runtime, service: dict, caplog: pytest.LogCaptureFixture
) -> None:
    await sources(runtime, 1)
    with caplog.at_level("INFO", logger="ayon_server.events.enroll"):
        await enroll_job(client, service, slothMode=True)
        await assert_nothing_to_do(client, service, sender="other", debug=True)
    messages = [r.getMessage() for r in caplog.records if r.name == "ayon_server.events.enroll"]
    assert any("created job" in m for m in messages)
    assert any("no candidate" in m for m in messages)


# The QueryFilter itself, on real rows.


@pytest.fixture
async def filter_rows(runtime: Runtime) -> dict[str, str]:
    return {
        "a": await runtime.events.dispatch(
            "test.f", sender="alpha", summary={"n": 1, "tags": ["x", "y"], "name": "Apple"}
        ),
        "b": await runtime.events.dispatch(
            "test.f", sender="beta", project="p", summary={"n": 5, "tags": ["y"], "name": "Banana"}
        ),
        "c": await runtime.events.dispatch("test.f", sender=None, summary={"n": None}),
    }


@pytest.mark.parametrize(
    ("conditions", "operator", "expected"),
    [
        ([{"key": "sender", "value": "alpha"}], "and", "a"),
        ([{"key": "sender", "value": "alpha", "operator": "ne"}], "and", "bc"),
        ([{"key": "sender", "operator": "isnull"}], "and", "c"),
        ([{"key": "project", "operator": "notnull"}], "and", "b"),
        ([{"key": "sender", "value": ["alpha", "beta"], "operator": "in"}], "and", "ab"),
        ([{"key": "sender", "value": ["alpha"], "operator": "notin"}], "and", "bc"),
        ([{"key": "sender", "value": "AL%", "operator": "like"}], "and", "a"),
        ([{"key": "retries", "value": 0, "operator": "gte"}], "and", "abc"),
        ([{"key": "summary/n", "value": 2, "operator": "gt"}], "and", "b"),
        ([{"key": "summary.n", "value": 1}], "and", "a"),
        ([{"key": "summary/n", "operator": "isnull"}], "and", "c"),
        ([{"key": "summary/name", "value": "%an%", "operator": "like"}], "and", "b"),
        ([{"key": "summary/tags", "value": "x", "operator": "includes"}], "and", "a"),
        ([{"key": "summary/tags", "value": "x", "operator": "excludes"}], "and", "bc"),
        ([{"key": "summary/tags", "value": ["x", "y"], "operator": "includesall"}], "and", "a"),
        ([{"key": "summary/tags", "value": ["x", "z"], "operator": "includesany"}], "and", "a"),
        ([{"key": "summary/tags", "value": ["x"], "operator": "excludesany"}], "and", "bc"),
        ([{"key": "summary/n", "value": [1, 5], "operator": "in"}], "and", "ab"),
        (
            [{"key": "sender", "value": "alpha"}, {"key": "sender", "value": "beta"}],
            "or",
            "ab",
        ),
        (
            [
                {"key": "topic", "value": "test.f"},
                {"operator": "or", "conditions": [{"key": "summary/n", "value": 5}]},
            ],
            "and",
            "b",
        ),
        ([], "and", "abc"),
    ],
)
async def test_each_query_filter_operator_selects_exactly_the_matching_events(
    runtime: Runtime,
    filter_rows: dict[str, str],
    conditions: list,
    operator: str,
    expected: str,
) -> None:
    query_filter = QueryFilter.model_validate({"conditions": conditions, "operator": operator})
    args: list[Any] = []
    where = build_filter(query_filter, "src", args)
    rows = await runtime.db.fetch(f"SELECT id FROM public.events AS src WHERE {where}", *args)
    names = {
        name
        for name, event_id in filter_rows.items()
        if uuid.UUID(hex=event_id) in {r["id"] for r in rows}
    }
    assert "".join(sorted(names)) == expected
