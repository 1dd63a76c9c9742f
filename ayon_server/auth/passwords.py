"""Argon2 password hashing (argon2-cffi defaults: argon2id, RFC 9106 low-memory profile).

Hashing and verifying cost tens of milliseconds of CPU each. The async functions run them in a
small bounded thread pool (argon2-cffi releases the GIL), so a burst of logins queues there and
the event loop keeps serving other requests. AYON_PASSWORD_HASH_WORKERS sets the pool size.
"""

from __future__ import annotations

import asyncio
import os
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


def hash_workers() -> int:
    """AYON_PASSWORD_HASH_WORKERS (1..64), DEFAULT_WORKERS when unset or not a number."""
    try:
        value = int(os.environ.get("AYON_PASSWORD_HASH_WORKERS", DEFAULT_WORKERS))
    except ValueError:
        return DEFAULT_WORKERS
    return min(max(value, 1), 64)


@cache
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=hash_workers(), thread_name_prefix="password-hash")


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
