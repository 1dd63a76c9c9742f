"""What every maintenance task shares: its context, its shape and the ways it can end early."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from ayon_server.exceptions import NotFoundException
from ayon_server.maintenance.catalog import task_title
from ayon_server.projects.store import ProjectRef, load_project_ref, project_names

if TYPE_CHECKING:
    from ayon_server.maintenance.config import MaintenanceConfig
    from ayon_server.runtime import Runtime


class TaskSkipped(Exception):
    """The task has nothing it can do yet (its domain does not exist); the message says why."""


class MaintenanceInterrupted(Exception):
    """The stop flag was set (shutdown); raised at a batch boundary so no batch is cut short."""


@dataclass
class TaskContext:
    runtime: Runtime
    config: MaintenanceConfig
    # The run's reference time from the database clock: every cutoff is computed from it.
    now: datetime
    dry_run: bool = False
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    # The run's own event, which clean_events must never delete.
    run_event_id: str | None = None

    def check_stop(self) -> None:
        if self.stop_event.is_set():
            raise MaintenanceInterrupted("interrupted by shutdown")


class MaintenanceTask(ABC):
    """One step of the procedure; `run` returns counts for the run's summary.

    A task declares its catalog `name`; its `title` comes from the catalog.
    """

    name: ClassVar[str]
    title: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            cls.title = task_title(cls.name)  # UnknownTask for a name the catalog lacks

    @abstractmethod
    async def run(self, ctx: TaskContext) -> dict[str, Any]: ...


async def require_projects(ctx: TaskContext) -> None:
    """Skip a project clean-up while the projects domain does not exist in this database.

    Checked on every run, so a task starts working by itself once a migration adds the table.
    """
    if await ctx.runtime.db.fetchval("SELECT to_regclass('public.projects')") is None:
        raise TaskSkipped("no projects yet (public.projects does not exist)")


class ProjectTask(MaintenanceTask):
    """A clean-up of every project: a subclass cleans one in `clean_project`, `run` does the rest.

    `run` skips the task while the projects domain does not exist, visits the projects in name
    order, passes over one deleted before or while it is visited (NotFoundException: its rows
    went with its schema), and sums the counts of the others into the result.
    """

    # The result's counts, in the order the summary shows them; each starts at 0.
    counts: ClassVar[tuple[str, ...]] = ("deleted",)
    # Whether the result also says how many projects were cleaned.
    report_projects: ClassVar[bool] = True

    @abstractmethod
    async def clean_project(self, ctx: TaskContext, project: ProjectRef) -> dict[str, int]:
        """Clean one project (count only, in a dry run); its counts, keys from `counts`."""

    async def after_projects(self, ctx: TaskContext) -> dict[str, int]:
        """Work left once every project was visited; counts added to the result."""
        return {}

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        await require_projects(ctx)
        result = dict.fromkeys(self.counts, 0)
        projects = 0
        for name in await project_names(ctx.runtime.db):
            ctx.check_stop()
            try:
                project = await load_project_ref(ctx.runtime.db, name)
                counts = await self.clean_project(ctx, project)
            except NotFoundException:
                continue  # deleted before or while it was visited: its rows went with it
            projects += 1
            _add(result, counts)
        if self.report_projects:
            result["projects"] = projects
        _add(result, await self.after_projects(ctx))
        return result


def _add(total: dict[str, int], counts: dict[str, int]) -> None:
    for key, value in counts.items():
        total[key] += value
