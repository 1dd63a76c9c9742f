"""EventStream against real PostgreSQL and Redis: rows, conflicts, and the Redis fan-out."""

from __future__ import annotations

import json
import uuid

import pytest
import redis.asyncio as aioredis

from ayon_server.config import Settings
from ayon_server.events.stream import EVENTS_CHANNEL, EventConflict
from ayon_server.events.subscription import subscribe_events
from ayon_server.lib.redis import Redis
from ayon_server.maintenance.runs import MAINTENANCE_TOPIC
from ayon_server.runtime import Runtime
from tests.helpers.server import free_port

pytestmark = pytest.mark.usefixtures("clean_tables")


async def test_a_dispatched_event_reads_back_whole_and_an_update_changes_only_what_it_names(
    runtime: Runtime,
) -> None:
    event_id = await runtime.events.dispatch(
        "test.topic",
        sender="tests",
        sender_type="pytest",
        project="demo",
        user="admin",
        description="created",
        summary={"a": 1},
        payload={"nested": {"b": [1, 2]}},
        status="pending",
    )
    assert len(event_id) == 32

    event = await runtime.events.get(event_id)
    assert event is not None
    assert (event.topic, event.status, event.description) == ("test.topic", "pending", "created")
    assert (event.sender, event.sender_type, event.project, event.user) == (
        "tests",
        "pytest",
        "demo",
        "admin",
    )
    assert event.hash == event_id
    assert event.payload == {"nested": {"b": [1, 2]}}
    assert event.created_at.tzinfo is not None

    updated = await runtime.events.update(
        event_id, status="finished", description="done", summary={"a": 2}
    )
    assert updated is not None
    assert (updated.status, updated.description, updated.summary) == ("finished", "done", {"a": 2})
    assert updated.payload == {"nested": {"b": [1, 2]}}
    assert updated.updated_at >= event.updated_at
    assert await runtime.events.get(event_id) == updated
    # The dashed form of the id is accepted too.
    assert await runtime.events.get(str(uuid.UUID(hex=event_id))) == updated


async def test_a_duplicate_hash_conflicts_unless_reuse_is_asked_for(runtime: Runtime) -> None:
    first = await runtime.events.dispatch("test.topic", hash="job-1", description="first")
    with pytest.raises(EventConflict):
        await runtime.events.dispatch("test.topic", hash="job-1", description="second")

    reused = await runtime.events.dispatch(
        "test.topic", hash="job-1", description="again", reuse=True, status="pending"
    )
    assert reused == first
    event = await runtime.events.get(first)
    assert event is not None
    assert (event.description, event.status) == ("again", "pending")
    count = await runtime.db.fetchval("SELECT count(*) FROM public.events WHERE hash = 'job-1'")
    assert count == 1


async def test_update_of_an_unknown_id_returns_none(runtime: Runtime) -> None:
    assert await runtime.events.update(uuid.uuid4().hex, status="failed") is None


async def test_update_only_if_status_leaves_other_statuses_alone(runtime: Runtime) -> None:
    event_id = await runtime.events.dispatch("test.topic", status="finished")
    result = await runtime.events.update(
        event_id, status="failed", only_if_status=("pending", "in_progress")
    )
    assert result is None
    event = await runtime.events.get(event_id)
    assert event is not None and event.status == "finished"


async def test_latest_returns_the_newest_event_of_a_topic(runtime: Runtime) -> None:
    assert await runtime.events.latest(MAINTENANCE_TOPIC) is None
    await runtime.events.dispatch(MAINTENANCE_TOPIC, description="older")
    newest = await runtime.events.dispatch(MAINTENANCE_TOPIC, description="newer")
    await runtime.events.dispatch("other.topic", description="unrelated")
    latest = await runtime.events.latest(MAINTENANCE_TOPIC)
    assert latest is not None and latest.id == newest


async def test_every_change_arrives_on_the_prefixed_events_channel(runtime: Runtime) -> None:
    async with subscribe_events(runtime.redis) as events:
        event_id = await runtime.events.dispatch("test.topic", status="in_progress")
        await runtime.events.update(event_id, description="halfway", progress=50)
        await runtime.events.update(event_id, status="finished")

        received = [await events.get(timeout=5) for _ in range(3)]

    messages = [m for m in received if m is not None]
    assert len(messages) == 3
    assert [m["id"] for m in messages] == [event_id] * 3
    assert [m["status"] for m in messages] == ["in_progress", "in_progress", "finished"]
    assert messages[1]["description"] == "halfway"
    assert messages[1]["progress"] == 50
    assert "progress" not in messages[2]
    assert "createdAt" in messages[0]


async def test_the_channel_name_is_the_runs_prefix_plus_events(
    runtime: Runtime, settings: Settings
) -> None:
    raw = aioredis.from_url(settings.redis_url)
    pubsub = raw.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(f"{settings.redis_key_prefix}:events")
        event_id = await runtime.events.dispatch("test.topic")
        message = None
        for _ in range(50):
            message = await pubsub.get_message(timeout=0.1)
            if message is not None:
                break
    finally:
        await pubsub.aclose()
        await raw.aclose()
    assert message is not None
    assert json.loads(message["data"])["id"] == event_id


async def test_store_false_publishes_without_a_row(runtime: Runtime) -> None:
    async with subscribe_events(runtime.redis) as events:
        event_id = await runtime.events.dispatch("test.transient", store=False, summary={"x": 1})
        message = await events.get(timeout=5)
    assert message is not None
    assert (message["id"], message["topic"], message["summary"]) == (
        event_id,
        "test.transient",
        {"x": 1},
    )
    assert await runtime.events.get(event_id) is None
    assert await runtime.db.fetchval("SELECT count(*) FROM public.events") == 0


async def test_a_listener_with_another_prefix_sees_nothing(
    runtime: Runtime, settings: Settings
) -> None:
    other = Redis(settings.redis_url, settings.redis_key_prefix + "_other")
    try:
        async with subscribe_events(other) as foreign, subscribe_events(runtime.redis) as own:
            await runtime.events.dispatch("test.topic")
            assert await own.get(timeout=5) is not None
            # Published after that event: the first thing the other prefix's listener hears.
            await other.publish(EVENTS_CHANNEL, json.dumps({"topic": "test.marker"}))
            assert await foreign.get(timeout=5) == {"topic": "test.marker"}
    finally:
        await other.close()


async def test_dispatch_stores_the_row_while_redis_is_down(settings: Settings) -> None:
    dead_redis = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    runtime = Runtime.create(dead_redis)
    try:
        event_id = await runtime.events.dispatch("test.topic", description="stored anyway")
        updated = await runtime.events.update(event_id, status="failed")
        event = await runtime.events.get(event_id)
    finally:
        await runtime.close()
    assert updated is not None and updated.status == "failed"
    assert event is not None and event.description == "stored anyway"
