"""RunControl: why a run should stop at its next batch boundary, and the pause between batches.

Three things stop a run early, each at a batch boundary so no batch is cut short:

* `cancelled`: an admin cancelled it (POST /api/maintenance/cancel), learned by `watch_for_cancel`
  over Redis or from the run's event;
* `shutdown`: the process is stopping (its stop event is set);
* `window`: `windowMinutes` have passed since the run began.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Literal

from redis.exceptions import RedisError

from ayon_server.lib.postgres import CONNECTION_ERRORS
from ayon_server.maintenance.cancel import (
    CANCEL_CHANNEL,
    cancel_requested_by,
    parse_cancel_message,
)
from ayon_server.runtime import Runtime

log = logging.getLogger(__name__)

StopReason = Literal["cancelled", "shutdown", "window"]
# How often the runner reads its event for a cancel request, should Redis not deliver one.
CANCEL_POLL_SECONDS = 0.5


@dataclass
class RunControl:
    shutdown: asyncio.Event = field(default_factory=asyncio.Event)
    # Event-loop time when the window closes; None without a window.
    window_ends_at: float | None = None
    cancelled_by: str | None = None
    _cancelled: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def for_run(cls, shutdown: asyncio.Event, window_minutes: float | None) -> RunControl:
        ends_at = None
        if window_minutes is not None:
            ends_at = asyncio.get_running_loop().time() + window_minutes * 60
        return cls(shutdown=shutdown, window_ends_at=ends_at)

    def cancel(self, user_name: str) -> None:
        if self.cancelled_by is None:
            self.cancelled_by = user_name
            self._cancelled.set()

    def reason(self) -> StopReason | None:
        """Why the run should stop now; an explicit cancel outranks a shutdown and the window."""
        if self.cancelled_by is not None:
            return "cancelled"
        if self.shutdown.is_set():
            return "shutdown"
        if self.window_ends_at is not None:
            if asyncio.get_running_loop().time() >= self.window_ends_at:
                return "window"
        return None

    async def pause(self, seconds: float) -> None:
        """Sleep between two batches; a cancel or a shutdown ends the pause early."""
        if seconds <= 0:
            await asyncio.sleep(0)  # still let other work through
            return
        waiters = [
            asyncio.ensure_future(self.shutdown.wait()),
            asyncio.ensure_future(self._cancelled.wait()),
        ]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def wait_cancelled(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._cancelled.wait()
        return self._cancelled.is_set()


async def watch_for_cancel(runtime: Runtime, run_id: str, control: RunControl) -> None:
    """Until the run is cancelled: listen on Redis, and read the run's event twice a second.

    Either source alone is enough, so a Redis outage or a missed message only costs the poll
    interval; a database error is logged and the next poll tries again.
    """
    listener = asyncio.create_task(_listen(runtime, run_id, control), name="maintenance-cancel")
    try:
        while control.cancelled_by is None:
            try:
                user_name = await cancel_requested_by(runtime.db, run_id)
            except (*CONNECTION_ERRORS, TimeoutError) as exc:
                log.warning("could not check for a cancel of maintenance run %s: %s", run_id, exc)
                user_name = None
            if user_name is not None:
                control.cancel(user_name)
                break
            await control.wait_cancelled(CANCEL_POLL_SECONDS)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


async def _listen(runtime: Runtime, run_id: str, control: RunControl) -> None:
    pubsub = runtime.redis.pubsub()
    try:
        await runtime.redis.subscribe(pubsub, CANCEL_CHANNEL)
        while control.cancelled_by is None:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
            if message is None or message["type"] != "message":
                continue
            parsed = parse_cancel_message(message["data"])
            if parsed is not None and parsed[0] == run_id:
                control.cancel(parsed[1])
    except (RedisError, OSError) as exc:
        log.info("cancel notifications unavailable (%s); polling the run's event only", exc)
    finally:
        with contextlib.suppress(RedisError, OSError):
            await pubsub.aclose()
