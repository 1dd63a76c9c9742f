"""Argon2 password hashing (argon2-cffi defaults: argon2id, RFC 9106 low-memory profile).

Hashing and verifying cost tens of milliseconds of CPU each. The async functions run them in a
small bounded thread pool (argon2-cffi releases the GIL), so a burst of logins queues there and
the event loop keeps serving other requests. AYON_PASSWORD_HASH_WORKERS sets the pool size.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
DEFAULT_WORKERS = 2


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other argon2 parameters than hash_password uses now."""
    return _hasher.check_needs_rehash(password_hash)


@cache
def _dummy_hash() -> str:
    return _hasher.hash("no such user")


def verify_or_waste_time(password_hash: str | None, password: str) -> bool:
    """verify_password that takes as long for a missing user (no user-name probing by timing)."""
    if password_hash is None:
        verify_password(_dummy_hash(), password)
        return False
    return verify_password(password_hash, password)


_workers = DEFAULT_WORKERS


def configure_hash_workers(workers: int) -> None:
    """Size the password thread pool (AYON_PASSWORD_HASH_WORKERS, validated by Settings).

    Takes effect when the pool is first used; the app calls it before it serves requests.
    """
    global _workers
    _workers = workers
    _executor.cache_clear()


@cache
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=_workers, thread_name_prefix="password-hash")


async def hash_password_async(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_executor(), hash_password, password)


async def verify_or_waste_time_async(password_hash: str | None, password: str) -> bool:
    """verify_or_waste_time in the password thread pool."""
    if password_hash is None:
        # Make the dummy hash in the pool too (first call only), not on the event loop.
        await asyncio.get_running_loop().run_in_executor(_executor(), _dummy_hash)
    return await asyncio.get_running_loop().run_in_executor(
        _executor(), verify_or_waste_time, password_hash, password
    )
