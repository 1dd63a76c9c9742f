"""ActionInvalidator: launcher actions nobody took within the action timeout become `failed`.

Every replica runs it; a pass is one indexed query when nothing is stale, and
replicas running at once never fail an event twice (see fail_timed_out_actions). The first pass
waits a few seconds so it does not add to the startup rush, then it runs every
AYON_ACTION_INVALIDATE_INTERVAL seconds.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ayon_server.actions.launcher import fail_timed_out_actions
from ayon_server.lib.workers import PeriodicWorker
from ayon_server.runtime import Runtime

log = logging.getLogger(__name__)


class ActionInvalidator(PeriodicWorker):
    name = "action_invalidator"
    first_pass_delay: float = 5.0

    def __init__(
        self,
        runtime: Runtime,
        *,
        interval: float | None = None,
        timeout: float | None = None,
        first_pass_delay: float | None = None,
    ) -> None:
        super().__init__(interval=interval or runtime.settings.action_invalidate_interval)
        self.runtime = runtime
        self.timeout = timeout or runtime.settings.action_timeout
        if first_pass_delay is not None:
            self.first_pass_delay = first_pass_delay
        self.failed_total = 0

    async def run(self) -> None:
        if self.last_tick_at is None:
            await asyncio.sleep(self.first_pass_delay)
        await super().run()

    async def tick(self) -> None:
        failed = await fail_timed_out_actions(self.runtime, self.timeout)
        if failed:
            self.failed_total += failed
            log.info(
                "failed %d web action%s the launcher did not take within %g s",
                failed,
                "" if failed == 1 else "s",
                self.timeout,
            )

    def health(self) -> dict[str, Any]:
        return {**super().health(), "timeout": self.timeout, "failedTotal": self.failed_total}
