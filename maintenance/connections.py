"""RunConnections: a run's own PostgreSQL pool, named so its statements can be cancelled.

Every statement a task sends goes through this pool (or `TaskContext.connect()`), whose
connections carry the application_name `ayon maintenance <run id>`. When a task must stop now
(its timeout, or a shutdown that cannot wait for the next batch boundary), `cancel_statements`
runs pg_cancel_backend on those backends from the run's lock connection: a VACUUM FULL or a long
DELETE is stopped on the server before the process closes its connections, instead of running
on unattended. A separate pool also keeps a run from taking the server's own connections.
"""

from __future__ import annotations

import dataclasses

import asyncpg

from ayon_server.events.stream import EventStream
from ayon_server.lib.postgres import Postgres
from ayon_server.runtime import Runtime

# Tasks run one statement at a time; a few connections leave room for a helper query.
RUN_POOL_SIZE = 4

_CANCEL_STATEMENTS = """
    SELECT count(*) FILTER (WHERE pg_cancel_backend(pid)) FROM pg_stat_activity
    WHERE application_name = $1 AND datname = current_database()
      AND pid <> pg_backend_pid() AND state <> 'idle'
"""


class RunConnections:
    def __init__(self, runtime: Runtime, run_id: str, control: asyncpg.Connection):
        # At most 63 characters (NAMEDATALEN); a run id is 32.
        self.application_name = f"ayon maintenance {run_id}"
        self.db = Postgres(
            runtime.settings.postgres_url,
            max_size=RUN_POOL_SIZE,
            application_name=self.application_name,
        )
        # What the tasks see as their runtime: the process's Redis, this pool.
        self.runtime = dataclasses.replace(
            runtime, db=self.db, events=EventStream(self.db, runtime.redis)
        )
        # The run's lock connection: dedicated, idle while the tasks run, never cancelled.
        self._control = control

    async def cancel_statements(self) -> int:
        """Cancel every statement the run's connections are executing; how many there were."""
        return await self._control.fetchval(_CANCEL_STATEMENTS, self.application_name)

    async def close(self) -> None:
        await self.db.close()
