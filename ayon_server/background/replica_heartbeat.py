"""ReplicaHeartbeat: this replica's row in public.replicas, written at start and every
AYON_REPLICA_HEARTBEAT_INTERVAL seconds (30 by default).

The row is what GET /api/system/replicas lists and what the installer's status rows hang off;
clean_replicas deletes the rows of replicas that stopped heartbeating long ago.
"""

from __future__ import annotations

from typing import Any

from ayon_server.lib.workers import PeriodicWorker
from ayon_server.replicas.identity import ReplicaIdentity
from ayon_server.replicas.store import heartbeat
from ayon_server.runtime import Runtime


class ReplicaHeartbeat(PeriodicWorker):
    name = "replica_heartbeat"
    # A database outage must not leave the row stale for long once it is back.
    max_backoff = 30.0

    def __init__(
        self, runtime: Runtime, replica: ReplicaIdentity, *, interval: float | None = None
    ) -> None:
        super().__init__(interval=interval or runtime.settings.replica_heartbeat_interval)
        self.runtime = runtime
        self.replica = replica

    async def tick(self) -> None:
        await heartbeat(self.runtime.db, self.replica)

    def health(self) -> dict[str, Any]:
        return {**super().health(), "replicaId": self.replica.id}
