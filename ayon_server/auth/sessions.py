"""User sessions in Redis.

One key per session (`session:<token>`, JSON) with a Redis expiry of AYON_SESSION_TTL that is
refreshed on use, and a per-user index set (`user-sessions:<name>`) of that user's tokens, used to
list sessions and to log a user out everywhere. Index entries can outlive their session (the key
expires on its own); readers skip them and the clean_sessions task removes them.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ayon_server.auth.tokens import TOKEN_RE, new_token
from ayon_server.lib.redis import Redis

SESSION_PREFIX = "session:"
USER_INDEX_PREFIX = "user-sessions:"
# Refresh the expiry at most this often per session, so a busy client does not write each time.
REFRESH_INTERVAL = 60


@dataclass
class Session:
    token: str
    user_name: str
    created: float
    last_used: float
    client: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> Session:
        return cls(**json.loads(raw))


def session_key(token: str) -> str:
    return SESSION_PREFIX + token


def user_index_key(user_name: str) -> str:
    return USER_INDEX_PREFIX + user_name


class SessionStore:
    def __init__(self, redis: Redis, ttl: int):
        self.redis = redis
        self.ttl = ttl

    async def create(self, user_name: str, client: dict[str, Any] | None = None) -> Session:
        now = time.time()
        session = Session(new_token(), user_name, now, now, client or {})
        await self.redis.set(session_key(session.token), session.to_json(), ttl=self.ttl)
        await self.redis.sadd(user_index_key(user_name), session.token)
        await self.redis.expire(user_index_key(user_name), self.ttl)
        return session

    async def get(self, token: str, *, refresh: bool = True) -> Session | None:
        if not TOKEN_RE.match(token):
            return None
        raw = await self.redis.get(session_key(token))
        if raw is None:
            return None
        try:
            session = Session.from_json(raw)
        except (ValueError, TypeError):
            return None
        if self.is_expired(session):
            await self.delete(token)
            return None
        now = time.time()
        if refresh and now - session.last_used >= REFRESH_INTERVAL:
            session.last_used = now
            await self.redis.set(session_key(token), session.to_json(), ttl=self.ttl)
            await self.redis.expire(user_index_key(session.user_name), self.ttl)
        return session

    def is_expired(self, session: Session, now: float | None = None) -> bool:
        """Expired by the clock, whatever the key's own expiry says (it may have none)."""
        return (now or time.time()) - session.last_used > self.ttl

    async def delete(self, token: str) -> bool:
        raw = await self.redis.get(session_key(token))
        deleted = await self.redis.delete(session_key(token))
        if raw is not None:
            try:
                await self.redis.srem(user_index_key(Session.from_json(raw).user_name), token)
            except (ValueError, TypeError):
                pass  # a corrupt record has no usable index entry to remove
        return bool(deleted)

    async def list_for_user(self, user_name: str) -> list[Session]:
        sessions = []
        for token in sorted(await self.redis.smembers(user_index_key(user_name))):
            session = await self.get(token, refresh=False)
            if session is not None:
                sessions.append(session)
        return sessions

    async def delete_for_user(self, user_name: str) -> int:
        tokens = await self.redis.smembers(user_index_key(user_name))
        deleted = await self.redis.delete(*(session_key(t) for t in tokens)) if tokens else 0
        await self.redis.delete(user_index_key(user_name))
        return deleted
