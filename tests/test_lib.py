"""PostgreSQL and Redis access: codecs, transactions, reconnects, key prefixing, settings errors."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
import redis.asyncio as aioredis

from ayon_server.config import ConfigError, Settings, load_settings
from ayon_server.lib.postgres import Postgres, redact, with_database
from ayon_server.lib.redis import Redis
from ayon_server.runtime import Runtime


async def test_jsonb_values_round_trip_as_python_objects(runtime: Runtime) -> None:
    value = {"tasks": [{"name": "clean_logs", "result": {"deleted": 3}}], "dryRun": False}
    assert await runtime.db.fetchval("SELECT $1::jsonb", value) == value


async def test_a_failed_transaction_writes_nothing(runtime: Runtime, clean_tables: None) -> None:
    with pytest.raises(asyncpg.UniqueViolationError):
        async with runtime.db.transaction() as conn:
            await conn.execute("INSERT INTO public.config (key, value) VALUES ('a', '1')")
            await conn.execute("INSERT INTO public.config (key, value) VALUES ('a', '2')")
    assert await runtime.db.fetchval("SELECT count(*) FROM public.config") == 0


async def test_the_pool_survives_its_connections_being_killed(settings: Settings) -> None:
    """What a PostgreSQL restart does to a pool: every server-side connection disappears."""
    db = Postgres(settings.postgres_url, max_size=4)
    try:
        await asyncio.gather(*(db.fetchval("SELECT pg_sleep(0.05)") for _ in range(4)))
        pids = [row["pid"] for row in await db.fetch("SELECT pg_backend_pid() AS pid")]
        assert pids
        killer = await asyncpg.connect(settings.postgres_url)
        killed = await killer.fetchval(
            """
            SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()
              AND application_name = ''
            """
        )
        await killer.close()
        assert killed >= 1
        await asyncio.sleep(0.2)
        for _ in range(8):  # every pooled connection is dead; each query must still succeed
            assert await db.fetchval("SELECT 1") == 1
    finally:
        await db.close()


async def test_redis_keys_and_channels_carry_the_prefix(settings: Settings) -> None:
    redis = Redis(settings.redis_url, settings.redis_key_prefix)
    raw = aioredis.from_url(settings.redis_url)
    try:
        await redis.set("probe:one", "1", ttl=60)
        assert await raw.get(f"{settings.redis_key_prefix}:probe:one") == b"1"
        assert await raw.get("probe:one") is None
        assert [k async for k in redis.scan("probe:*")] == ["probe:one"]

        pubsub = redis.pubsub()
        await redis.subscribe(pubsub, "news")
        await raw.publish("news", "unprefixed")  # must not arrive
        await redis.publish("news", "prefixed")
        message = None
        for _ in range(50):
            message = await pubsub.get_message(timeout=0.1)
            if message:
                break
        assert message is not None and message["data"] == b"prefixed"
        await pubsub.aclose()
        await redis.delete("probe:one")
    finally:
        await raw.aclose()
        await redis.close()


def test_an_invalid_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AYON_HTTP_LISTEN_PORT", "http")
    with pytest.raises(ConfigError, match="AYON_HTTP_LISTEN_PORT"):
        load_settings()
    monkeypatch.setenv("AYON_HTTP_LISTEN_PORT", "5000")
    monkeypatch.setenv("AYON_REDIS_KEY_PREFIX", "has space")
    with pytest.raises(ConfigError, match="AYON_REDIS_KEY_PREFIX"):
        load_settings()


def test_a_url_shows_without_its_password_and_retargets_to_another_database() -> None:
    url = "postgres://ayon:secret@db:5432/ayon"
    assert redact(url) == "postgres://ayon:***@db:5432/ayon"
    assert with_database(url, "postgres") == "postgres://ayon:secret@db:5432/postgres"
