"""The task registry, in the CONTRACT order of DESIGN §9 (vacuum_db always last)."""

from __future__ import annotations

from collections.abc import Iterable

from maintenance.tasks.auto_update import AutoUpdate
from maintenance.tasks.base import MaintenanceTask
from maintenance.tasks.clean_activities import CleanActivities
from maintenance.tasks.clean_dead_links import CleanDeadLinks
from maintenance.tasks.clean_events import CleanEvents
from maintenance.tasks.clean_files import CleanFiles
from maintenance.tasks.clean_links import CleanLinks
from maintenance.tasks.clean_logs import CleanLogs
from maintenance.tasks.clean_sessions import CleanSessions
from maintenance.tasks.clean_sites import CleanSites
from maintenance.tasks.clean_thumbnails import CleanThumbnails
from maintenance.tasks.collect_metrics import CollectMetrics
from maintenance.tasks.vacuum_db import VacuumDb

TASKS: tuple[type[MaintenanceTask], ...] = (
    AutoUpdate,
    CollectMetrics,
    CleanThumbnails,
    CleanLogs,
    CleanLinks,
    CleanActivities,
    CleanEvents,
    CleanFiles,
    CleanDeadLinks,
    CleanSessions,
    CleanSites,
    VacuumDb,
)
TASK_NAMES: tuple[str, ...] = tuple(task.name for task in TASKS)


class UnknownTask(ValueError):
    """A task name that is not in the registry; the message lists the valid ones."""


def select_tasks(names: Iterable[str]) -> list[type[MaintenanceTask]]:
    """The named tasks in registry order (a run never reorders them), each once."""
    wanted = set(names)
    unknown = sorted(wanted - set(TASK_NAMES))
    if unknown:
        raise UnknownTask(
            f"unknown task {', '.join(map(repr, unknown))}; valid tasks: {', '.join(TASK_NAMES)}"
        )
    return [task for task in TASKS if task.name in wanted]
