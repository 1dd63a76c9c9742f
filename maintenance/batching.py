"""Bounded deletes: one short transaction per batch, a pause between, the stop flag checked.

Every task that deletes rows goes through `run_in_batches` (or, outside PostgreSQL, pauses at
`batch_boundary`), so no task holds locks for long, the server stays responsive while
maintenance runs, and a shutdown stops at a batch boundary.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from ayon_server.lib.postgres import rows_affected
from maintenance.tasks.base import TaskContext

log = logging.getLogger(__name__)

# rows_affected is the core's (ayon_server.lib.postgres), offered here next to run_in_batches.
__all__ = ["Batch", "batch_boundary", "rows_affected", "run_in_batches"]

# Long enough to let queued application queries through between batches, short enough not to
# matter for a 5000-row batch.
BATCH_PAUSE = 0.01
MAX_BATCH_RETRIES = 5

# One batch: delete at most `limit` rows on `conn` (already inside a transaction), return how many.
Batch = Callable[[asyncpg.Connection, int], Awaitable[int]]


async def batch_boundary(ctx: TaskContext) -> None:
    """Between two batches: let other work through, then stop here if a shutdown asked to."""
    await asyncio.sleep(BATCH_PAUSE)
    ctx.check_stop()


async def run_in_batches(
    ctx: TaskContext,
    batch: Batch,
    *,
    retry_on: tuple[type[Exception], ...] = (),
) -> int:
    """Run `batch` until one comes back short of the batch size; return the rows it removed.

    A batch failing with one of `retry_on` (a race with a concurrent writer) was rolled back and
    is simply run again, a few times at most.
    """
    limit = ctx.config.batch_size
    total = 0
    retries = 0
    ctx.check_stop()
    while True:
        try:
            async with ctx.runtime.db.transaction() as conn:
                count = await batch(conn, limit)
        except retry_on as exc:
            retries += 1
            if retries > MAX_BATCH_RETRIES:
                raise
            log.info("batch rolled back (%s); retrying it", exc)
            await batch_boundary(ctx)
            continue
        retries = 0
        total += count
        if count < limit:
            return total
        await batch_boundary(ctx)
