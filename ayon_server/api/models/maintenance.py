"""The maintenance API: the state, a run started or cancelled, the history of runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from ayon_server.api.models.common import WireModel
from ayon_server.maintenance.runs import MaintenanceRun


class TaskState(WireModel):
    name: str
    title: str
    enabled: bool


class CurrentTask(WireModel):
    """The task the run in progress is on."""

    run_id: str
    name: str
    title: str
    # 0-100 of the task; null while the task does not know how much work it has.
    progress: float | None


class MaintenanceState(WireModel):
    enabled: bool
    schedule: str
    timezone: str
    tasks: list[TaskState]
    running: bool
    # While a run is in progress: its current task, and 0-100 for the whole run.
    current: CurrentTask | None
    progress: float | None
    last_run: dict[str, Any] | None
    # ISO 8601; null only while maintenance is disabled (a schedule that never fires is
    # rejected when it is saved).
    next_run: str | None


class CancelResponse(WireModel):
    # The cancelled run's event (its id is the event id, as for POST /api/maintenance/run).
    id: str
    event_id: str


class HistoryTask(WireModel):
    """A task's entry of a run's summary."""

    name: str
    title: str | None = None
    status: str | None = None
    duration_ms: int | None = None
    # The task's counts, e.g. {"deleted": 12}; `reason` when skipped, `stoppedBy` when stopped.
    result: dict[str, Any] = {}
    error: str | None = None


class HistoryItem(WireModel):
    id: str
    status: str
    trigger: str | None
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None
    description: str
    tasks: list[HistoryTask]

    @classmethod
    def of(cls, run: MaintenanceRun) -> HistoryItem:
        tasks = []
        for task in run.tasks:
            # The summary is JSON from the database: an entry of another shape is left out.
            try:
                tasks.append(HistoryTask.model_validate(task))
            except ValueError:
                continue
        return cls(
            id=run.id,
            status=run.status,
            trigger=run.trigger,
            dry_run=run.dry_run,
            started_at=run.started_at,
            finished_at=run.finished_at,
            duration_ms=run.duration_ms,
            description=run.description,
            tasks=tasks,
        )


class MaintenanceHistory(BaseModel):
    items: list[HistoryItem]


class SchedulePreview(WireModel):
    schedule: str
    timezone: str
    # ISO 8601 in the schedule's time zone, soonest first.
    next_runs: list[datetime]


class RunStartedResponse(WireModel):
    # The run's `server.maintenance` event, under both names clients read.
    id: str
    event_id: str
