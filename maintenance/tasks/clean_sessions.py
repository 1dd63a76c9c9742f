"""clean_sessions: remove expired sessions and dangling session index entries from Redis.

Session keys normally expire on their own (a Redis expiry refreshed on use). This task handles
what the expiry does not: session keys without one (written with the expiry lost, by an older
release, or restored from a dump) whose last use is older than AYON_SESSION_TTL, unreadable
session records, and per-user index entries whose session is gone. A live session found without
an expiry gets one again. Keys are walked with SCAN in batches, never KEYS.
"""

from __future__ import annotations

from ayon_server.auth.sessions import (
    SESSION_PREFIX,
    USER_INDEX_PREFIX,
    Session,
    SessionStore,
    session_key,
)
from maintenance.tasks.base import MaintenanceTask, TaskContext


class CleanSessions(MaintenanceTask):
    name = "clean_sessions"
    counts = ("expired", "unreadable", "expiryRestored", "danglingIndexEntries")

    async def run(self, ctx: TaskContext) -> None:
        store = SessionStore(ctx.runtime.redis, ctx.runtime.settings.session_ttl)
        batch: list[str] = []
        async for key in ctx.runtime.redis.scan(SESSION_PREFIX + "*", count=ctx.config.batch_size):
            batch.append(key)
            if len(batch) >= ctx.config.batch_size:
                await self._sessions(ctx, store, batch)
                batch = []
        await self._sessions(ctx, store, batch)

        walked = 0
        async for key in ctx.runtime.redis.scan(USER_INDEX_PREFIX + "*"):
            walked += 1
            if walked % ctx.config.batch_size == 0:
                await ctx.batch_boundary()
            await self._index(ctx, key)

    async def _sessions(self, ctx: TaskContext, store: SessionStore, keys: list[str]) -> None:
        """Look at the session keys of one SCAN batch that have no expiry."""
        await ctx.batch_boundary()
        redis = ctx.runtime.redis
        ttls = await redis.ttl_many(keys)
        now = ctx.now.timestamp()
        for key, ttl in zip(keys, ttls, strict=True):
            if ttl != -1:  # has an expiry (Redis removes it), or is already gone (-2)
                continue
            raw = await redis.get(key)
            if raw is None:
                continue
            token = key[len(SESSION_PREFIX) :]
            try:
                session = Session.from_json(raw)
            except (ValueError, TypeError):
                ctx.report.add("unreadable")
                if not ctx.dry_run:
                    await redis.delete(key)
                continue
            if store.is_expired(session, now):
                ctx.report.add("expired")
                if not ctx.dry_run:
                    await store.delete(token)
            else:
                ctx.report.add("expiryRestored")
                if not ctx.dry_run:
                    remaining = int(session.last_used + store.ttl - now) + 1
                    await redis.expire(session_key(token), max(remaining, 1))

    async def _index(self, ctx: TaskContext, index_key: str) -> None:
        """Drop the tokens of one user's index whose session key no longer exists."""
        redis = ctx.runtime.redis
        tokens = sorted(await redis.smembers(index_key))
        if not tokens:
            return
        alive = await redis.exists_many([session_key(t) for t in tokens])
        dangling = [t for t, exists in zip(tokens, alive, strict=True) if not exists]
        ctx.report.add("danglingIndexEntries", len(dangling))
        if dangling and not ctx.dry_run:
            await redis.srem(index_key, *dangling)
