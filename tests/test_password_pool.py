"""Password hashing runs in a bounded thread pool, off the event loop."""

from __future__ import annotations

import asyncio

import pytest

from ayon_server.auth import passwords
from ayon_server.config import ConfigError, load_settings


async def test_only_the_right_password_verifies_and_an_unknown_user_never_does() -> None:
    stored = await passwords.hash_password_async("secret")
    assert await passwords.verify_or_waste_time_async(stored, "secret")
    assert not await passwords.verify_or_waste_time_async(stored, "wrong")
    assert not await passwords.verify_or_waste_time_async(None, "secret")


async def test_event_loop_keeps_running_while_hashes_run() -> None:
    # While a burst of verifications is under way, the loop still runs other coroutines:
    # the ticker finishes its steps before the burst (several argon2 runs) is done.
    stored = passwords.hash_password("secret")
    burst = asyncio.gather(
        *(passwords.verify_or_waste_time_async(stored, "secret") for _ in range(8))
    )
    ticks = 0
    while not burst.done() and ticks < 3:
        await asyncio.sleep(0)
        ticks += 1
    assert ticks == 3
    assert not burst.done()
    assert all(await burst)


def test_the_hashing_pool_size_comes_from_its_setting(monkeypatch) -> None:
    monkeypatch.setenv("AYON_PASSWORD_HASH_WORKERS", "3")
    settings = load_settings()
    passwords.configure_hash_workers(settings.password_hash_workers)
    try:
        assert passwords._executor()._max_workers == 3
    finally:
        passwords.configure_hash_workers(passwords.DEFAULT_WORKERS)


@pytest.mark.parametrize("value", ["0", "65", "x"])
def test_a_bad_pool_size_is_a_configuration_error_naming_the_variable(monkeypatch, value) -> None:
    monkeypatch.setenv("AYON_PASSWORD_HASH_WORKERS", value)
    with pytest.raises(ConfigError, match="AYON_PASSWORD_HASH_WORKERS"):
        load_settings()
