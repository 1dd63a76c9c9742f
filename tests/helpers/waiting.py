"""Waiting for a positive signal instead of sleeping: poll until something is true, or fail."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import httpx


async def wait_until(
    condition: Callable[[], Awaitable[Any] | Any], timeout: float = 30.0, what: str = "condition"
) -> Any:
    """Poll `condition` (a plain or an async callable) until it returns something truthy; return
    that value. Fail the test after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def wait_for_http(url: str, timeout: float = 30.0) -> int:
    """Poll url until it answers; return the status code."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient() as client:
        while True:
            try:
                return (await client.get(url, timeout=2)).status_code
            except httpx.TransportError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.2)
