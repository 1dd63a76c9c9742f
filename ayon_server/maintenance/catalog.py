"""The maintenance tasks by name and title, in the order every run takes them (vacuum_db last).

The core validates configuration keys and lists the tasks from this catalog without importing
their implementations; maintenance.tasks gives each name its implementation and refuses to
import when the two disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class TaskInfo:
    name: str
    title: str


TASK_CATALOG: tuple[TaskInfo, ...] = (
    TaskInfo("auto_update", "AutoUpdate"),
    TaskInfo("collect_metrics", "MetricsCollector"),
    TaskInfo("clean_thumbnails", "Clean-up thumbnails"),
    TaskInfo("clean_logs", "Clean-up logs"),
    TaskInfo("clean_links", "Clean-up links"),
    TaskInfo("clean_activities", "Clean-up activities"),
    TaskInfo("clean_events", "Clean-up events"),
    TaskInfo("clean_files", "Clean-up unused files"),
    TaskInfo("clean_dead_links", "Clean-up dead links"),
    TaskInfo("clean_sessions", "Delete expired sessions"),
    TaskInfo("clean_sites", "Remove old site records"),
    TaskInfo("clean_replicas", "Remove inactive replicas"),
    TaskInfo("vacuum_db", "DB Vacuum"),
)
TASK_NAMES: tuple[str, ...] = tuple(task.name for task in TASK_CATALOG)
_TITLES = {task.name: task.title for task in TASK_CATALOG}


class UnknownTask(ValueError):
    """A task name that is not in the catalog; the message lists the valid ones."""


def check_task_names(names: Iterable[str]) -> None:
    """Raise UnknownTask naming every name that is not a task."""
    unknown = sorted(set(names) - set(TASK_NAMES))
    if unknown:
        raise UnknownTask(
            f"unknown task {', '.join(map(repr, unknown))}; valid tasks: {', '.join(TASK_NAMES)}"
        )


def task_title(name: str) -> str:
    """The title a run shows while the task runs."""
    check_task_names([name])
    return _TITLES[name]
