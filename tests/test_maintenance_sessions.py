"""clean_sessions: expired and dangling session data goes; live sessions stay."""

from __future__ import annotations

import json
import time

import pytest

from ayon_server.auth.sessions import Session, SessionStore, session_key, user_index_key
from ayon_server.auth.tokens import new_token
from ayon_server.maintenance.config import save_config
from ayon_server.runtime import Runtime
from maintenance.runner import MaintenanceRunner


async def write_session_without_expiry(runtime: Runtime, user: str, idle_seconds: float) -> str:
    """What an old release or a restored dump leaves behind: a session key with no TTL."""
    token = new_token()
    used = time.time() - idle_seconds
    record = Session(token, user, used, used, {"ip": "127.0.0.1"})
    await runtime.redis.set(session_key(token), record.to_json())
    await runtime.redis.sadd(user_index_key(user), token)
    return token


@pytest.fixture
async def seeded(runtime: Runtime, clean_tables: None) -> dict[str, str]:
    ttl = runtime.settings.session_ttl
    store = SessionStore(runtime.redis, ttl)
    live = await store.create("alice")
    expired = await write_session_without_expiry(runtime, "alice", idle_seconds=ttl + 60)
    recent_without_expiry = await write_session_without_expiry(runtime, "bob", idle_seconds=30)
    dangling = new_token()  # in the index, but its session key is gone
    await runtime.redis.sadd(user_index_key("alice"), dangling)
    corrupt = new_token()
    await runtime.redis.set(session_key(corrupt), "{not json")
    yield {
        "live": live.token,
        "expired": expired,
        "recent": recent_without_expiry,
        "dangling": dangling,
        "corrupt": corrupt,
    }
    for token in (live.token, expired, recent_without_expiry, corrupt):
        await runtime.redis.delete(session_key(token))
    await runtime.redis.delete(user_index_key("alice"), user_index_key("bob"))


async def run_clean_sessions(runtime: Runtime, dry_run: bool = False) -> dict:
    result = await MaintenanceRunner(runtime).run(
        ["clean_sessions"], dry_run=dry_run, trigger="cli"
    )
    (task,) = result.tasks
    assert task.status == "finished", task.error
    return task.result


async def test_clean_sessions_removes_expired_and_dangling_and_keeps_live_sessions(
    runtime: Runtime, seeded: dict[str, str]
) -> None:
    result = await run_clean_sessions(runtime)
    assert result["expired"] >= 1
    assert result["unreadable"] >= 1
    assert result["danglingIndexEntries"] >= 1

    redis = runtime.redis
    assert await redis.get(session_key(seeded["expired"])) is None
    assert await redis.get(session_key(seeded["corrupt"])) is None
    alice_index = await redis.smembers(user_index_key("alice"))
    assert seeded["dangling"] not in alice_index and seeded["expired"] not in alice_index
    assert seeded["live"] in alice_index

    assert await redis.get(session_key(seeded["live"])) is not None
    # The recent session lost its expiry somehow: it survives and gets one back.
    assert await redis.get(session_key(seeded["recent"])) is not None
    assert 0 < await redis.ttl(session_key(seeded["recent"])) <= runtime.settings.session_ttl
    store = SessionStore(redis, runtime.settings.session_ttl)
    assert await store.get(seeded["live"]) is not None


async def test_clean_sessions_dry_run_counts_and_changes_nothing(
    runtime: Runtime, seeded: dict[str, str]
) -> None:
    result = await run_clean_sessions(runtime, dry_run=True)
    assert result["expired"] >= 1 and result["danglingIndexEntries"] >= 1
    redis = runtime.redis
    assert await redis.get(session_key(seeded["expired"])) is not None
    assert seeded["dangling"] in await redis.smembers(user_index_key("alice"))
    assert await redis.ttl(session_key(seeded["recent"])) == -1
    raw = await redis.get(session_key(seeded["expired"]))
    assert json.loads(raw)["user_name"] == "alice"


async def test_clean_sessions_leaves_another_deployments_keys_alone_and_walks_in_batches(
    runtime: Runtime, clean_tables: None
) -> None:
    """Another deployment sharing the Redis has its own prefix: its expired-looking sessions and
    dangling indexes are not ours to clean. Ours go, across several SCAN batches."""
    await save_config(runtime, {"batchSize": 7})
    ttl = runtime.settings.session_ttl
    ours = [await write_session_without_expiry(runtime, "carol", ttl + 60) for _ in range(20)]
    client, other = runtime.redis.client, f"{runtime.redis.prefix}-other"
    stale = Session(new_token(), "carol", time.time() - ttl - 60, time.time() - ttl - 60, {})
    await client.set(f"{other}:{session_key(stale.token)}", stale.to_json())
    await client.sadd(f"{other}:{user_index_key('carol')}", "gone-token")
    try:
        result = await run_clean_sessions(runtime)
        assert result["expired"] >= 20
        assert await runtime.redis.exists_many([session_key(t) for t in ours]) == [False] * 20
        assert await runtime.redis.smembers(user_index_key("carol")) == set()
        assert await client.get(f"{other}:{session_key(stale.token)}") is not None
        assert await client.smembers(f"{other}:{user_index_key('carol')}") == {b"gone-token"}
    finally:
        await client.delete(f"{other}:{session_key(stale.token)}")
        await client.delete(f"{other}:{user_index_key('carol')}")
