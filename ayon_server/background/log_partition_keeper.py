"""LogPartitionKeeper: today's and the next days' log partitions always exist.

Setup creates them ahead too, but a server that runs for weeks without a new release must keep
creating them, or logs would pile up in the DEFAULT partition that retention cannot drop.
"""

from __future__ import annotations

import logging

from ayon_server.lib.workers import PeriodicWorker
from ayon_server.logs.partitions import ensure_partitions
from ayon_server.runtime import Runtime

log = logging.getLogger(__name__)


class LogPartitionKeeper(PeriodicWorker):
    name = "log_partitions"
    interval = 3600.0

    def __init__(self, runtime: Runtime, *, interval: float | None = None) -> None:
        super().__init__(interval=interval)
        self.runtime = runtime

    async def tick(self) -> None:
        # ensure_partitions serializes replicas with an advisory lock and is idempotent.
        async with self.runtime.db.acquire() as conn:
            created = await ensure_partitions(conn, self.runtime.settings.log_partitions_ahead)
        if created:
            log.info("created log partitions %s", ", ".join(created))
