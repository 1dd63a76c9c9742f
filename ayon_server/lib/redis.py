"""redis.asyncio client whose every key and channel carries AYON_REDIS_KEY_PREFIX.

Callers name keys without the prefix; this class is the only place that adds it, so several
deployments (or test runs) can share one Redis without seeing each other's data.

Every command is bounded by `timeout` (a stalled Redis raises redis TimeoutError, never retried,
so a caller waits at most that long); a dropped connection is retried once on a new one, which
is what a Redis restart needs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

DEFAULT_TIMEOUT = 10.0

# Keys answered by one script call (each call holds Redis for well under a millisecond per 1,000).
KEY_CHUNK = 5000
_TTL_EACH = "local r = {} for i, k in ipairs(KEYS) do r[i] = redis.call('TTL', k) end return r"
_EXISTS_EACH = (
    "local r = {} for i, k in ipairs(KEYS) do r[i] = redis.call('EXISTS', k) end return r"
)


class Redis:
    def __init__(self, url: str, prefix: str, *, timeout: float = DEFAULT_TIMEOUT):
        self.prefix = prefix
        self.client: aioredis.Redis = aioredis.from_url(
            url,
            decode_responses=False,
            health_check_interval=30,
            socket_connect_timeout=min(timeout, 5.0),
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def unprefix(self, key: bytes | str) -> str:
        text = key.decode() if isinstance(key, bytes) else key
        return text[len(self.prefix) + 1 :] if text.startswith(self.prefix + ":") else text

    async def close(self) -> None:
        await self.client.aclose()

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def get(self, key: str) -> bytes | None:
        return await self.client.get(self.key(key))

    async def set(self, key: str, value: bytes | str, *, ttl: int | None = None) -> None:
        await self.client.set(self.key(key), value, ex=ttl or None)

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return await self.client.delete(*(self.key(k) for k in keys))

    async def expire(self, key: str, ttl: int) -> bool:
        return bool(await self.client.expire(self.key(key), ttl))

    async def ttl(self, key: str) -> int:
        return await self.client.ttl(self.key(key))

    async def ttl_many(self, keys: list[str]) -> list[int]:
        """TTL of each key (-1: no expiry, -2: no such key), one command per KEY_CHUNK keys."""
        return [int(n) for n in await self._per_key(_TTL_EACH, keys)]

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        """The value of each key in one round trip (None: no such key)."""
        if not keys:
            return []
        return list(await self.client.mget([self.key(key) for key in keys]))

    async def expire_many(self, ttls: dict[str, int]) -> None:
        """Set each key's expiry (seconds), in one round trip."""
        if not ttls:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for key, ttl in ttls.items():
                pipe.expire(self.key(key), ttl)
            await pipe.execute()

    async def smembers_many(self, keys: list[str]) -> list[set[str]]:
        """The members of each set, in one round trip."""
        if not keys:
            return []
        async with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.smembers(self.key(key))
            return [{m.decode() for m in members} for members in await pipe.execute()]

    async def srem_many(self, members: dict[str, list[str]]) -> None:
        """Remove members from several sets (set key: its members to remove), in one round trip."""
        members = {key: values for key, values in members.items() if values}
        if not members:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for key, values in members.items():
                pipe.srem(self.key(key), *values)
            await pipe.execute()

    async def exists_many(self, keys: list[str]) -> list[bool]:
        """Whether each key exists, one command per KEY_CHUNK keys."""
        return [bool(n) for n in await self._per_key(_EXISTS_EACH, keys)]

    async def _per_key(self, script: str, keys: list[str]) -> list[int]:
        # One script call answers a whole chunk: a pipeline of one command per key costs the
        # client far more than the server spends answering it.
        answers: list[int] = []
        for start in range(0, len(keys), KEY_CHUNK):
            chunk = [self.key(key) for key in keys[start : start + KEY_CHUNK]]
            answers += await self.client.eval(script, len(chunk), *chunk)
        return answers

    async def incr(self, key: str, *, ttl: int | None = None) -> int:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.incr(self.key(key))
            if ttl:
                pipe.expire(self.key(key), ttl, nx=True)
            results = await pipe.execute()
        return int(results[0])

    async def sadd(self, key: str, *members: str) -> int:
        return await self.client.sadd(self.key(key), *members)

    async def srem(self, key: str, *members: str) -> int:
        return await self.client.srem(self.key(key), *members)

    async def smembers(self, key: str) -> set[str]:
        return {m.decode() for m in await self.client.smembers(self.key(key))}

    async def scan(self, pattern: str, *, count: int = 500) -> AsyncIterator[str]:
        """Keys matching pattern (without prefix), walked with SCAN, never KEYS."""
        async for key in self.client.scan_iter(match=self.key(pattern), count=count):
            yield self.unprefix(key)

    async def publish(self, channel: str, message: bytes | str) -> int:
        return await self.client.publish(self.key(channel), message)

    def pubsub(self) -> PubSub:
        return self.client.pubsub(ignore_subscribe_messages=True)

    async def subscribe(self, pubsub: PubSub, *channels: str) -> None:
        await pubsub.subscribe(*(self.key(c) for c in channels))
