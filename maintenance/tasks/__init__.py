"""The task registry: the implementation of each task of the catalog, in the catalog's order.

Names, titles and order are fixed by ayon_server.maintenance.catalog; importing this package
fails when a catalog entry has no implementation here or an implementation is not in it.
"""

from __future__ import annotations

from collections.abc import Iterable

from ayon_server.maintenance.catalog import TASK_NAMES, check_task_names
from maintenance.tasks.auto_update import AutoUpdate
from maintenance.tasks.base import MaintenanceTask
from maintenance.tasks.clean_activities import CleanActivities
from maintenance.tasks.clean_dead_links import CleanDeadLinks
from maintenance.tasks.clean_events import CleanEvents
from maintenance.tasks.clean_files import CleanFiles
from maintenance.tasks.clean_links import CleanLinks
from maintenance.tasks.clean_logs import CleanLogs
from maintenance.tasks.clean_replicas import CleanReplicas
from maintenance.tasks.clean_sessions import CleanSessions
from maintenance.tasks.clean_sites import CleanSites
from maintenance.tasks.clean_thumbnails import CleanThumbnails
from maintenance.tasks.collect_metrics import CollectMetrics
from maintenance.tasks.vacuum_db import VacuumDb

_IMPLEMENTATIONS: dict[str, type[MaintenanceTask]] = {
    task.name: task
    for task in (
        AutoUpdate,
        CleanActivities,
        CleanDeadLinks,
        CleanEvents,
        CleanFiles,
        CleanLinks,
        CleanLogs,
        CleanReplicas,
        CleanSessions,
        CleanSites,
        CleanThumbnails,
        CollectMetrics,
        VacuumDb,
    )
}
if set(_IMPLEMENTATIONS) != set(TASK_NAMES):
    raise ImportError(
        "maintenance tasks and the catalog disagree: "
        f"without implementation {sorted(set(TASK_NAMES) - set(_IMPLEMENTATIONS))}, "
        f"not in the catalog {sorted(set(_IMPLEMENTATIONS) - set(TASK_NAMES))}"
    )

TASKS: tuple[type[MaintenanceTask], ...] = tuple(_IMPLEMENTATIONS[name] for name in TASK_NAMES)


def select_tasks(
    names: Iterable[str], registry: Iterable[type[MaintenanceTask]] = TASKS
) -> list[type[MaintenanceTask]]:
    """The named tasks in registry order (a run never reorders them), each once."""
    wanted = set(names)
    check_task_names(wanted)
    return [task for task in registry if task.name in wanted]
