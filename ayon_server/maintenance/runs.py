"""Maintenance runs as they are recorded: one event per run, under MAINTENANCE_TOPIC.

The runner writes a run's event; the API, the status page, the metrics and the scheduler read
the runs here. A run left pending or in progress by a killed process is marked failed by the
next run or scheduler start.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ayon_server.events.stream import COLUMNS, EventModel, EventStatus
from ayon_server.lib.postgres import Postgres
from ayon_server.maintenance.lock import MaintenanceLocked, hold_maintenance_lock
from ayon_server.runtime import Runtime

log = logging.getLogger(__name__)

# Topic of the one event each maintenance run writes.
MAINTENANCE_TOPIC = "server.maintenance"
# A run's event has one of these statuses while the run goes on.
ACTIVE_STATUSES = ("pending", "in_progress")
# ... and one of these once it is over.
ENDED_STATUSES = ("finished", "failed", "aborted")
# Where a reader of ended runs stands: (updated_at, id) of the last run it has seen.
RunPosition = tuple[datetime, uuid.UUID]


@dataclass(frozen=True)
class MaintenanceRun:
    """One run of the history, read from its event's status and summary."""

    id: str
    status: EventStatus
    # "schedule", "cli" or "api"; None when the summary does not say.
    trigger: str | None
    dry_run: bool
    description: str
    started_at: datetime
    # When the event last changed, once the run is over; None while it goes on.
    finished_at: datetime | None
    # The summary's task entries: name, title, status, durationMs, result, error.
    tasks: list[dict[str, Any]]

    @property
    def duration_ms(self) -> int | None:
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds() * 1000)

    @classmethod
    def from_event(cls, event: EventModel) -> MaintenanceRun:
        # The summary is JSON from the database: a field of an unexpected shape reads as unknown.
        summary = event.summary
        trigger, tasks = summary.get("trigger"), summary.get("tasks")
        return cls(
            id=event.id,
            status=event.status,
            trigger=trigger if isinstance(trigger, str) else None,
            dry_run=summary.get("dryRun") is True,
            description=event.description,
            started_at=event.created_at,
            finished_at=None if event.status in ACTIVE_STATUSES else event.updated_at,
            tasks=[task for task in tasks if isinstance(task, dict)]
            if isinstance(tasks, list)
            else [],
        )


@dataclass(frozen=True)
class RunningTask:
    """The task a run in progress is on, as the runner keeps it in the event's summary."""

    run_id: str
    name: str
    title: str
    # 0-100 of the task; None while the task does not know how much work it has.
    progress: float | None
    # 0-100 of the whole run.
    run_progress: float | None

    @classmethod
    def from_event(cls, event: EventModel) -> RunningTask | None:
        if event.status not in ACTIVE_STATUSES:
            return None
        current, progress = event.summary.get("current"), event.summary.get("progress")
        if not isinstance(current, dict) or not isinstance(current.get("name"), str):
            return None
        task_progress = current.get("progress")
        return cls(
            run_id=event.id,
            name=current["name"],
            title=str(current.get("title", "")),
            progress=task_progress if isinstance(task_progress, int | float) else None,
            run_progress=progress if isinstance(progress, int | float) else None,
        )


async def last_run(runtime: Runtime) -> EventModel | None:
    """The newest run's event (going on, finished or failed), for status pages."""
    return await runtime.events.latest(MAINTENANCE_TOPIC)


async def list_runs(db: Postgres, limit: int) -> list[MaintenanceRun]:
    """The newest `limit` runs, newest first."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    rows = await db.fetch(
        f"SELECT {COLUMNS} FROM public.events WHERE topic = $1 "
        "ORDER BY created_at DESC, id DESC LIMIT $2",
        MAINTENANCE_TOPIC,
        limit,
    )
    return [MaintenanceRun.from_event(EventModel.from_row(row)) for row in rows]


_REAL_RUN = "COALESCE((summary->>'dryRun')::boolean, false) = false"


async def run_position_now(db: Postgres) -> RunPosition:
    """The position of a reader that has seen every run ended until now."""
    return await db.fetchval("SELECT now()"), uuid.UUID(int=0)


async def real_runs_ended_after(
    db: Postgres, position: RunPosition, limit: int = 100
) -> list[tuple[MaintenanceRun, RunPosition]]:
    """Runs (not dry runs) that ended after `position`, oldest first, each with its position.

    A run's event does not change once it has ended, so a reader that keeps the position of the
    last run it read sees every run exactly once.
    """
    rows = await db.fetch(
        f"SELECT {COLUMNS} FROM public.events "
        f"WHERE topic = $1 AND status = ANY($2::text[]) AND {_REAL_RUN} "
        "AND (updated_at, id) > ($3, $4) ORDER BY updated_at, id LIMIT $5",
        MAINTENANCE_TOPIC,
        list(ENDED_STATUSES),
        *position,
        limit,
    )
    return [
        (MaintenanceRun.from_event(EventModel.from_row(row)), (row["updated_at"], row["id"]))
        for row in rows
    ]


async def last_real_run_ends(db: Postgres) -> dict[str, datetime]:
    """When the newest run (not a dry run) of each final status ended."""
    rows = await db.fetch(
        "SELECT status, max(updated_at) AS ended_at FROM public.events "
        f"WHERE topic = $1 AND status = ANY($2::text[]) AND {_REAL_RUN} GROUP BY status",
        MAINTENANCE_TOPIC,
        list(ENDED_STATUSES),
    )
    return {row["status"]: row["ended_at"] for row in rows}


async def real_run_since(db: Postgres, moment: datetime) -> bool:
    """Whether a run that was not a dry run started at or after `moment`."""
    return await db.fetchval(
        f"""
        SELECT EXISTS (
            SELECT 1 FROM public.events
            WHERE topic = $1 AND created_at >= $2 AND {_REAL_RUN}
        )
        """,
        MAINTENANCE_TOPIC,
        moment,
    )


async def recover_stale_runs(runtime: Runtime) -> int:
    """Mark runs left pending/in_progress by a killed process as failed; call with the lock held."""
    rows = await runtime.db.fetch(
        "SELECT id FROM public.events WHERE topic = $1 AND status = ANY($2::text[])",
        MAINTENANCE_TOPIC,
        list(ACTIVE_STATUSES),
    )
    for row in rows:
        await runtime.events.update(
            row["id"], status="failed", description="interrupted", only_if_status=ACTIVE_STATUSES
        )
        log.warning("maintenance run %s was interrupted; marked failed", row["id"].hex)
    return len(rows)


async def recover_if_idle(runtime: Runtime) -> int:
    """Recover stale runs unless a run is going on now (then its event is not stale)."""
    try:
        async with hold_maintenance_lock(runtime.settings.postgres_url):
            return await recover_stale_runs(runtime)
    except MaintenanceLocked:
        return 0
