"""Login failure throttling in Redis, per user name and client address.

After MAX_FAILURES failed logins within WINDOW seconds from one address for one user, further
attempts for that pair are refused until the window expires, even with the right password.

Setting a user's password lifts every lockout of that user (`forget_user`): what the refusal
tells a locked-out user to ask for. Without it, strangers failing against a user who has no
password yet would keep the lockout going when an administrator gives them one.
"""

from __future__ import annotations

import hashlib
import math

from ayon_server.exceptions import TooManyRequestsException
from ayon_server.lib.redis import Redis

MAX_FAILURES = 5
WINDOW = 15 * 60


def _digest(text: str) -> str:
    # Hashed: user input never becomes part of a Redis key verbatim.
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _user_prefix(user_name: str) -> str:
    return f"login-failures:{_digest(user_name.lower())}"


def _key(user_name: str, address: str) -> str:
    return f"{_user_prefix(user_name)}:{_digest(address)}"


class LoginThrottle:
    def __init__(self, redis: Redis, max_failures: int = MAX_FAILURES, window: int = WINDOW):
        self.redis = redis
        self.max_failures = max_failures
        self.window = window

    async def check(self, user_name: str, address: str) -> None:
        """Raise 429 with a clear message while this user/address pair is locked out."""
        key = _key(user_name, address)
        raw = await self.redis.get(key)
        if raw is not None and int(raw) >= self.max_failures:
            wait = max(await self.redis.ttl(key), 1)
            minutes = math.ceil(wait / 60)
            raise TooManyRequestsException(
                f"Too many failed logins for {user_name!r} from {address}. "
                f"Try again in {minutes} minute{'s' if minutes != 1 else ''}, "
                "or ask an administrator to reset the password.",
                retryAfter=wait,
            )

    async def record_failure(self, user_name: str, address: str) -> int:
        return await self.redis.incr(_key(user_name, address), ttl=self.window)

    async def reset(self, user_name: str, address: str) -> None:
        await self.redis.delete(_key(user_name, address))

    async def forget_user(self, user_name: str) -> int:
        """Lift every lockout of this user, from any address; how many there were."""
        keys = [key async for key in self.redis.scan(f"{_user_prefix(user_name)}:*")]
        return await self.redis.delete(*keys)
