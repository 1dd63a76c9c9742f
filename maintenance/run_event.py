"""RunEvent: the one MAINTENANCE_TOPIC event of a run, written as the run goes.

The description becomes each task's title before it starts; the summary grows with each task's
outcome and, while a task runs, holds `current` ({"name", "title", "progress"}: the task's 0-100,
null while it does not know its total) and `progress` (0-100 for the whole run), so any replica
can show what is going on. Progress is published over the websocket (the event's `progress`) at
most once a second. Writes are serialized, so a progress update never overwrites newer state.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ayon_server.events.stream import EventStatus, EventStream
from ayon_server.lib.postgres import CONNECTION_ERRORS
from maintenance.progress import TaskReport, percent, run_progress

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 1.0
# How often the publisher looks whether the progress moved.
PROGRESS_TICK = 0.25


class RunEvent:
    def __init__(self, events: EventStream, event_id: str, summary: dict[str, Any], planned: int):
        self.events = events
        self.event_id = event_id
        self.summary = summary
        # Tasks the run means to run (not the disabled ones): the denominator of its progress.
        self.planned = planned
        self.ran = 0
        self._current: tuple[str, str, TaskReport] | None = None
        self._lock = asyncio.Lock()
        self._published_at: float | None = None
        self._published: tuple[float, float | None] | None = None

    @property
    def recorded(self) -> set[str]:
        return {task["name"] for task in self.summary["tasks"]}

    def progress(self) -> float:
        fraction = self._current[2].fraction if self._current else None
        return run_progress(self.ran, self.planned, fraction)

    async def task_started(self, name: str, title: str, report: TaskReport) -> None:
        self._current = (name, title, report)
        await self._write(description=title)

    async def task_recorded(self, entry: dict[str, Any], *, ran: bool) -> None:
        """Add a task's summary entry (one that ran, or one skipped without running)."""
        self.summary["tasks"].append(entry)
        if ran:
            self.ran += 1
        self._current = None
        await self._write()

    async def publish_progress(self) -> None:
        """Until cancelled: write the progress of the running task when it moved, at most once a
        second. A database error costs one update, never the run."""
        while True:
            await asyncio.sleep(PROGRESS_TICK)
            if self._current is None or not self._due():
                continue
            state = (self.progress(), self._current[2].fraction)
            if state == self._published:
                continue
            try:
                await self._write()
            except (*CONNECTION_ERRORS, TimeoutError) as exc:
                log.warning("could not publish the maintenance progress: %s", exc)

    async def finish(self, status: EventStatus, description: str) -> None:
        self._current = None
        self.summary.pop("current", None)
        self.summary.pop("progress", None)
        async with self._lock:
            await self.events.update(
                self.event_id, status=status, description=description, summary=self.summary
            )

    def _due(self) -> bool:
        loop_time = asyncio.get_running_loop().time()
        return self._published_at is None or loop_time - self._published_at >= PROGRESS_INTERVAL

    async def _write(self, *, description: str | None = None) -> None:
        async with self._lock:
            progress = self.progress()
            if self._current is not None:
                name, title, report = self._current
                self.summary["current"] = {
                    "name": name,
                    "title": title,
                    "progress": percent(report.fraction),
                }
                fraction = report.fraction
            else:
                self.summary.pop("current", None)
                fraction = None
            self.summary["progress"] = progress
            publish = self._due()
            await self.events.update(
                self.event_id,
                description=description,
                summary=self.summary,
                progress=progress if publish else None,
            )
            if publish:
                self._published_at = asyncio.get_running_loop().time()
                self._published = (progress, fraction)
