"""BackgroundWorker: a long-running task of the server process that survives its own crashes.

A worker is either a loop (`run()`) or a periodic job (`PeriodicWorker.tick()` every `interval`).
A crash restarts it after an exponential backoff (capped; reset once a run has been healthy for a
while), so a dependency outage costs retries, not the worker. `stop(deadline)` cancels it and waits
at most that long: code that must finish on shutdown (a flush) goes in a `finally` of `run()`.
The health state is what /api/ready and the status page show.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from ayon_server.lib.timestamps import isoformat_or_none

log = logging.getLogger(__name__)

WorkerState = Literal["starting", "running", "restarting", "stopped", "failed"]


class BackgroundWorker(ABC):
    """Subclass and implement `run()`; give each subclass a unique `name`."""

    name: str = "worker"
    # Backoff before restart n is initial * 2**(n-1), capped at max_backoff.
    initial_backoff: float = 1.0
    max_backoff: float = 60.0
    # A run that lasted this long before crashing counts as healthy: the backoff starts over.
    healthy_after: float = 300.0
    # None restarts forever; otherwise the worker gives up ("failed") after that many restarts.
    max_restarts: int | None = None

    def __init__(self) -> None:
        self.state: WorkerState = "stopped"
        self.restarts = 0
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self._crashes_in_a_row = 0
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    async def run(self) -> None:
        """The worker's body; return to finish, raise to be restarted after a backoff."""

    def backoff_delay(self, crashes_in_a_row: int) -> float:
        return min(self.initial_backoff * 2 ** max(crashes_in_a_row - 1, 0), self.max_backoff)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the worker on the running event loop; a no-op while it runs."""
        if self.running:
            return
        self.state = "starting"
        self._task = asyncio.create_task(self._supervise(), name=f"worker:{self.name}")

    async def stop(self, deadline: float) -> None:
        """Cancel the worker and wait for it to end, at most `deadline` seconds.

        A worker that does not end in time is abandoned and reported as failed.
        """
        task = self._task
        if task is None:
            self.state = "stopped"
            return
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=max(deadline, 0.0))
        if not done:
            self._record_error(f"did not stop within {deadline:g} s")
            self.state = "failed"
            log.error("worker %s did not stop within %g s; abandoned", self.name, deadline)
            return
        self._task = None
        if not task.cancelled() and task.exception() is not None:
            log.error("worker %s ended with an error", self.name, exc_info=task.exception())
        if self.state != "failed":
            self.state = "stopped"

    def health(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "restarts": self.restarts,
            "lastError": self.last_error,
            "lastErrorAt": isoformat_or_none(self.last_error_at),
        }

    def _record_error(self, message: str) -> None:
        self.last_error = message
        self.last_error_at = datetime.now(UTC)

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.state = "running"
            started = loop.time()
            try:
                await self.run()
            except Exception as exc:
                if loop.time() - started >= self.healthy_after:
                    self._crashes_in_a_row = 0
                self._crashes_in_a_row += 1
                self._record_error(f"{exc.__class__.__name__}: {exc}")
                if self.max_restarts is not None and self.restarts >= self.max_restarts:
                    self.state = "failed"
                    log.error(
                        "worker %s crashed %d times in a row; giving up",
                        self.name,
                        self._crashes_in_a_row,
                        exc_info=exc,
                    )
                    return
                delay = self.backoff_delay(self._crashes_in_a_row)
                self.state = "restarting"
                self.restarts += 1
                # The first crash of a streak carries the traceback; repeats are one line each.
                log.error(
                    "worker %s crashed (%s); restarting in %.1f s",
                    self.name,
                    self.last_error,
                    delay,
                    exc_info=exc if self._crashes_in_a_row == 1 else None,
                )
                await asyncio.sleep(delay)
            else:
                self.state = "stopped"
                log.info("worker %s finished", self.name)
                return


class PeriodicWorker(BackgroundWorker):
    """A worker that calls `tick()` at start and then every `interval` seconds."""

    interval: float = 60.0

    def __init__(self, *, interval: float | None = None) -> None:
        super().__init__()
        if interval is not None:
            self.interval = interval
        self.last_tick_at: datetime | None = None

    @abstractmethod
    async def tick(self) -> None:
        """One round of the job; an exception restarts the worker after a backoff."""

    async def run(self) -> None:
        while True:
            await self.tick()
            self.last_tick_at = datetime.now(UTC)
            await asyncio.sleep(self.interval)

    def health(self) -> dict[str, Any]:
        return {
            **super().health(),
            "interval": self.interval,
            "lastTickAt": isoformat_or_none(self.last_tick_at),
        }


class WorkerGroup:
    """The workers of one server process, started and stopped together."""

    def __init__(self, workers: Iterable[BackgroundWorker] = ()) -> None:
        self._workers: dict[str, BackgroundWorker] = {}
        for worker in workers:
            if worker.name in self._workers:
                raise ValueError(f"two background workers are named {worker.name!r}")
            self._workers[worker.name] = worker

    def __iter__(self) -> Iterator[BackgroundWorker]:
        return iter(self._workers.values())

    def __len__(self) -> int:
        return len(self._workers)

    def get(self, name: str) -> BackgroundWorker | None:
        return self._workers.get(name)

    def start(self) -> None:
        for worker in self:
            worker.start()
            log.debug("worker %s started", worker.name)

    async def stop(self, deadline: float) -> None:
        """Stop every worker at once, so the whole group shares one deadline (seconds)."""
        await asyncio.gather(*(worker.stop(deadline) for worker in self))

    def health(self) -> dict[str, dict[str, Any]]:
        return {worker.name: worker.health() for worker in self}
