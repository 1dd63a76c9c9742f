"""Bounded deletes: one short transaction per batch, `batchPauseMs` between, the stop checked.

Every task that deletes rows goes through `run_in_batches` (or, outside PostgreSQL, pauses at
`ctx.batch_boundary()`), so no task holds locks for long, the server stays responsive while
maintenance runs, and a cancel, a shutdown or the window stops the task between two batches.
A batch's rows are added to the task's counts as soon as it commits, so a task stopped early
still reports what it did.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import asyncpg

from ayon_server.lib.postgres import rows_affected
from maintenance.tasks.base import TaskContext

log = logging.getLogger(__name__)

# rows_affected is the core's (ayon_server.lib.postgres), offered here next to run_in_batches.
__all__ = ["Batch", "rows_affected", "run_in_batches"]

MAX_BATCH_RETRIES = 5

# One batch: handle at most `limit` rows on `conn` (already inside a transaction), return how
# many. Counts the batch adds to ctx.report count only once it has committed.
Batch = Callable[[asyncpg.Connection, int], Awaitable[int]]


async def run_in_batches(
    ctx: TaskContext,
    batch: Batch,
    *,
    count: str | None = "deleted",
    advance: bool = False,
    retry_on: tuple[type[Exception], ...] = (),
) -> int:
    """Run `batch` until one comes back short of the batch size; return the rows it handled.

    Each committed batch adds its rows to the count `count` (None: the batch reports its own
    counts) and, with `advance`, to the task's progress (when the task's total is rows). A
    batch failing with one of `retry_on` (a race with a concurrent writer) was rolled back and
    is simply run again, a few times at most.
    """
    limit = ctx.config.batch_size
    total = 0
    retries = 0
    ctx.check_stop()
    while True:
        try:
            with ctx.report.staged():
                async with ctx.runtime.db.transaction() as conn:
                    # A batch lost in a crash is redone by the next run (every clean-up is
                    # idempotent), so its commit need not wait for the WAL flush.
                    await conn.execute("SET LOCAL synchronous_commit = off")
                    handled = await batch(conn, limit)
        except retry_on as exc:
            retries += 1
            if retries > MAX_BATCH_RETRIES:
                raise
            log.info("batch rolled back (%s); retrying it", exc)
            await ctx.batch_boundary()
            continue
        retries = 0
        total += handled
        if count is not None:
            ctx.report.add(count, handled)
        if advance:
            ctx.report.advance(handled)
        if handled < limit:
            return total
        await ctx.batch_boundary()
