"""LogCollector: every replica stores its log records in public.logs, in batches.

`start()` attaches a LogQueueHandler (AYON_LOG_LEVEL_DB and above) to the root logger; the worker
drains its queue with one COPY per batch of up to `batch_size` records, or whatever arrived within
`max_delay` seconds of the first one. While PostgreSQL is down the batch in hand is kept and the
worker retries with the base class's backoff; meanwhile the bounded queue keeps what it can and
drops (and counts) the rest, so logging never blocks a request. The drops are reported in one
warning once the queue has room again. `stop()` writes everything still queued before it returns.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg

from ayon_server.lib.postgres import CONNECTION_ERRORS
from ayon_server.lib.workers import BackgroundWorker
from ayon_server.logs.queue_handler import LogEntry, LogQueue, LogQueueHandler, writing_logs
from ayon_server.logs.store import LogWriter
from ayon_server.runtime import Runtime

log = logging.getLogger(__name__)


class LogCollector(BackgroundWorker):
    name = "log_collector"
    initial_backoff = 0.5
    max_backoff = 30.0

    def __init__(
        self,
        runtime: Runtime,
        *,
        queue_size: int | None = None,
        batch_size: int = 1000,
        max_delay: float = 0.5,
    ) -> None:
        super().__init__()
        self.queue = LogQueue(queue_size or runtime.settings.log_queue_size)
        self.handler = LogQueueHandler(self.queue, runtime.settings.log_level_db)
        self.writer = LogWriter(runtime.settings.postgres_url)
        # A batch larger than the queue could never fill up.
        self.batch_size = max(1, min(batch_size, self.queue.maxsize))
        self.max_delay = max_delay
        self.written_total = 0
        self.batches_total = 0
        # Records the worker itself gave up on: refused by the database, or unwritten at stop.
        self.discarded_total = 0
        self._reported_drops = 0
        self._pending: list[LogEntry] = []
        self._inflight: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Attach the handler to the root logger, then start writing."""
        root = logging.getLogger()
        if self.handler not in root.handlers:
            root.addHandler(self.handler)
        super().start()

    async def stop(self, deadline: float) -> None:
        """Stop the loop, then write everything still queued, all within `deadline` seconds.

        The handler is detached first, so the queue only shrinks from here. What cannot be
        written in time, or at all because PostgreSQL is down, is dropped and counted.
        """
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline
        logging.getLogger().removeHandler(self.handler)
        await super().stop(deadline)
        try:
            async with asyncio.timeout_at(end):
                await self._flush()
        except (TimeoutError, asyncpg.PostgresError, *CONNECTION_ERRORS) as exc:
            lost = len(self._pending) + len(self.queue.take(len(self.queue)))
            self._pending = []
            self.discarded_total += lost
            self._record_error(f"{exc.__class__.__name__}: {exc}")
            log.error("could not write %d log records before stopping: %s", lost, self.last_error)
        finally:
            await self.writer.close()
        # Drops not reported yet still get their line, on the remaining handlers (stderr).
        self._report_drops()

    async def run(self) -> None:
        while True:
            if not self._pending:
                self._pending = await self._next_batch()
            # Shielded: stopping the worker lets a started COPY finish rather than leave it
            # unknown whether the batch was stored; stop() waits for it before flushing.
            self._inflight = asyncio.create_task(self._write_pending())
            await asyncio.shield(self._inflight)
            self._report_drops()

    async def _next_batch(self) -> list[LogEntry]:
        await self.queue.wait_for(1)
        await self.queue.wait_for(self.batch_size, timeout=self.max_delay)
        return self.queue.take(self.batch_size)

    async def _write_pending(self) -> None:
        """Write the pending batch; on failure it stays pending for the next attempt."""
        batch = self._pending
        with writing_logs():
            rejected = await self.writer.write(batch)
        self._pending = []
        self.written_total += len(batch) - rejected
        self.batches_total += 1
        if rejected:
            self.discarded_total += rejected
            log.warning("the database refused %d malformed log records", rejected)

    async def _flush(self) -> None:
        if self._inflight is not None:
            # Stopped mid-write: let that COPY end. If it failed, its batch is still pending.
            await asyncio.gather(self._inflight, return_exceptions=True)
        while self._pending or len(self.queue):
            if not self._pending:
                self._pending = self.queue.take(self.batch_size)
            await self._write_pending()

    def _report_drops(self) -> None:
        """Once the queue has room again, say in one warning how many records it dropped."""
        dropped = self.queue.dropped_total
        if dropped > self._reported_drops and len(self.queue) <= self.queue.maxsize // 2:
            log.warning(
                "dropped %d log records while the queue was full", dropped - self._reported_drops
            )
            self._reported_drops = dropped

    def metrics(self) -> dict[str, float]:
        """Gauges and monotonic totals for /metrics; queue_depth counts the batch in hand too."""
        return {
            "queue_depth": len(self.queue) + len(self._pending),
            "queue_capacity": self.queue.maxsize,
            "dropped_total": self.queue.dropped_total + self.discarded_total,
            "written_total": self.written_total,
            "batches_total": self.batches_total,
        }

    def health(self) -> dict[str, Any]:
        metrics = self.metrics()
        return {
            **super().health(),
            "queueDepth": metrics["queue_depth"],
            "queueCapacity": metrics["queue_capacity"],
            "droppedTotal": metrics["dropped_total"],
            "writtenTotal": metrics["written_total"],
        }
