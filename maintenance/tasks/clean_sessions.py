"""clean_sessions: remove expired sessions and dangling session index entries from Redis.

Session keys normally expire on their own (a Redis expiry refreshed on use). This task handles
what the expiry does not: session keys without one (written with the expiry lost, by an older
release, or restored from a dump) whose last use is older than AYON_SESSION_TTL, unreadable
session records, and per-user index entries whose session is gone. A live session found without
an expiry gets one again.

Keys are walked with SCAN matching this deployment's prefix only (never KEYS, never another
deployment's keys sharing the Redis), a batch at a time, and each batch costs a fixed number of
pipelined round trips whatever its size: the TTLs, the records without one, then the deletes,
index updates and expiries together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator

from ayon_server.auth.sessions import (
    SESSION_PREFIX,
    USER_INDEX_PREFIX,
    Session,
    SessionStore,
    session_key,
    user_index_key,
)
from maintenance.tasks.base import MaintenanceTask, TaskContext


class CleanSessions(MaintenanceTask):
    name = "clean_sessions"
    counts = ("expired", "unreadable", "expiryRestored", "danglingIndexEntries")

    async def run(self, ctx: TaskContext) -> None:
        store = SessionStore(ctx.runtime.redis, ctx.runtime.settings.session_ttl)
        # The tokens whose session key the walk saw and left in place: their index entries
        # need no lookup (a session removed since is caught by the next run).
        alive: set[str] = set()
        async for batch in self._batches(ctx, SESSION_PREFIX + "*"):
            alive.update(await self._sessions(ctx, store, batch))
        async for batch in self._batches(ctx, USER_INDEX_PREFIX + "*"):
            await self._indexes(ctx, batch, alive)

    async def _batches(self, ctx: TaskContext, pattern: str) -> AsyncIterator[list[str]]:
        """The keys matching pattern, in lists of at most batchSize, a pause between two."""
        size = ctx.config.batch_size
        batch: list[str] = []
        async for key in ctx.runtime.redis.scan(pattern, count=size):
            batch.append(key)
            if len(batch) >= size:
                yield batch
                batch = []
                await ctx.batch_boundary()
        if batch:
            yield batch

    async def _sessions(self, ctx: TaskContext, store: SessionStore, keys: list[str]) -> set[str]:
        """Look at the session keys of one batch that have no expiry; the tokens left alive."""
        redis = ctx.runtime.redis
        ttls = await redis.ttl_many(keys)
        # -1: no expiry; others have one (Redis removes them) or are already gone (-2).
        lasting = [key for key, ttl in zip(keys, ttls, strict=True) if ttl == -1]
        now = ctx.now.timestamp()
        doomed: list[str] = []
        unindex: dict[str, list[str]] = defaultdict(list)
        restore: dict[str, int] = {}
        for key, raw in zip(lasting, await redis.get_many(lasting), strict=True):
            if raw is None:
                continue
            token = key[len(SESSION_PREFIX) :]
            try:
                session = Session.from_json(raw)
            except (ValueError, TypeError):
                ctx.report.add("unreadable")
                doomed.append(key)
                continue
            if store.is_expired(session, now):
                ctx.report.add("expired")
                doomed.append(key)
                unindex[user_index_key(session.user_name)].append(token)
            else:
                ctx.report.add("expiryRestored")
                restore[session_key(token)] = max(int(session.last_used + store.ttl - now) + 1, 1)
        left = {key[len(SESSION_PREFIX) :] for key in set(keys) - set(doomed)}
        if ctx.dry_run:
            return left
        await redis.delete(*doomed)
        await redis.srem_many(unindex)
        await redis.expire_many(restore)
        return left

    async def _indexes(self, ctx: TaskContext, index_keys: list[str], alive: set[str]) -> None:
        """Drop the tokens of these users' indexes whose session key no longer exists."""
        redis = ctx.runtime.redis
        members = await redis.smembers_many(index_keys)
        tokens = [
            (key, token)
            for key, ts in zip(index_keys, members, strict=True)
            for token in ts
            if token not in alive
        ]
        alive = await redis.exists_many([session_key(token) for _, token in tokens])
        dangling: dict[str, list[str]] = defaultdict(list)
        for (key, token), exists in zip(tokens, alive, strict=True):
            if not exists:
                dangling[key].append(token)
        ctx.report.add("danglingIndexEntries", sum(len(t) for t in dangling.values()))
        if not ctx.dry_run:
            await redis.srem_many(dangling)
