"""Runtime: the settings and the shared clients one process uses, built once and passed down.

Setup, the server and the maintenance runner each create one; tests create one per test against
their own database and Redis prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

from ayon_server.config import Settings
from ayon_server.events.stream import EventStream
from ayon_server.lib.postgres import Postgres
from ayon_server.lib.redis import Redis


@dataclass
class Runtime:
    settings: Settings
    db: Postgres
    redis: Redis
    events: EventStream

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        db = Postgres(
            settings.postgres_url,
            max_size=settings.db_pool_max_size,
            command_timeout=settings.backend_timeout,
        )
        redis = Redis(
            settings.redis_url, settings.redis_key_prefix, timeout=settings.backend_timeout
        )
        return cls(settings=settings, db=db, redis=redis, events=EventStream(db, redis))

    async def close(self) -> None:
        await self.db.close()
        await self.redis.close()
