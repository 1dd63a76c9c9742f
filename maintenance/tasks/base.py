"""What every maintenance task shares: its context, its shape and the ways it can end early."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import asyncpg

from ayon_server.exceptions import NotFoundException
from ayon_server.lib.postgres import connect_once
from ayon_server.maintenance.catalog import task_title
from ayon_server.projects.store import ProjectRef, load_project_ref, project_names
from maintenance.control import RunControl, StopReason
from maintenance.progress import TaskReport

if TYPE_CHECKING:
    from ayon_server.maintenance.config import MaintenanceConfig
    from ayon_server.runtime import Runtime


class TaskSkipped(Exception):
    """The task has nothing it can do yet (its domain does not exist); the message says why."""


class TaskStopped(Exception):
    """Raised at a batch boundary when the run must stop (cancel, shutdown, window), so no
    batch is cut short; the task's counts so far stay in its report."""

    def __init__(self, reason: StopReason):
        super().__init__(f"stopped: {reason}")
        self.reason = reason


@dataclass
class TaskContext:
    runtime: Runtime
    config: MaintenanceConfig
    # The run's reference time from the database clock: every cutoff is computed from it.
    now: datetime
    dry_run: bool = False
    control: RunControl = field(default_factory=RunControl)
    # The run's own event, which clean_events must never delete.
    run_event_id: str | None = None
    # What pg_stat_activity shows for the run's connections (see maintenance.connections).
    application_name: str | None = None
    # The running task's counts and progress; the runner gives each task a fresh one.
    report: TaskReport = field(default_factory=TaskReport)

    def check_stop(self) -> None:
        """At a batch boundary: raise TaskStopped when the run must stop."""
        reason = self.control.reason()
        if reason is not None:
            raise TaskStopped(reason)

    async def batch_boundary(self) -> None:
        """Between two batches: pause `batchPauseMs` (a cancel or shutdown cuts it short), then
        stop here if the run must stop."""
        await self.control.pause(self.config.batch_pause_ms / 1000)
        self.check_stop()

    async def connect(self) -> asyncpg.Connection:
        """A dedicated connection (for statements outside a transaction, such as VACUUM) that the
        runner can still cancel; the caller closes it."""
        return await connect_once(
            self.runtime.settings.postgres_url, application_name=self.application_name
        )


class MaintenanceTask(ABC):
    """One step of the procedure; `run` reports its counts through `ctx.report`.

    A task declares its catalog `name`; its `title` comes from the catalog. `counts` are the
    result's counts, each starting at 0, in the order the summary shows them.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    counts: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            cls.title = task_title(cls.name)  # UnknownTask for a name the catalog lacks

    @abstractmethod
    async def run(self, ctx: TaskContext) -> None:
        """Do the work (count only, in a dry run), reporting through `ctx.report`; call
        `ctx.check_stop()` (or go through run_in_batches) between units of work."""


async def require_projects(ctx: TaskContext) -> None:
    """Skip a project clean-up while the projects domain does not exist in this database.

    Checked on every run, so a task starts working by itself once a migration adds the table.
    """
    if await ctx.runtime.db.fetchval("SELECT to_regclass('public.projects')") is None:
        raise TaskSkipped("no projects yet (public.projects does not exist)")


class ProjectTask(MaintenanceTask):
    """A clean-up of every project: a subclass cleans one in `clean_project`, `run` does the rest.

    `run` skips the task while the projects domain does not exist, visits the projects in name
    order (its progress counts them), passes over one deleted before or while it is visited
    (NotFoundException: its rows went with its schema), and reports how many it cleaned.
    """

    counts: ClassVar[tuple[str, ...]] = ("deleted",)
    # Whether the result also says how many projects were cleaned.
    report_projects: ClassVar[bool] = True

    @abstractmethod
    async def clean_project(self, ctx: TaskContext, project: ProjectRef) -> None:
        """Clean one project (count only, in a dry run), adding to `ctx.report`."""

    async def after_projects(self, ctx: TaskContext) -> None:
        """Work left once every project was visited."""

    async def run(self, ctx: TaskContext) -> None:
        await require_projects(ctx)
        names = await project_names(ctx.runtime.db)
        ctx.report.expect(len(names))
        if self.report_projects:
            ctx.report.set("projects", 0)
        for name in names:
            ctx.check_stop()
            try:
                project = await load_project_ref(ctx.runtime.db, name)
                await self.clean_project(ctx, project)
            except NotFoundException:
                pass  # deleted before or while it was visited: its rows went with it
            else:
                if self.report_projects:
                    ctx.report.add("projects")
            ctx.report.advance()
        await self.after_projects(ctx)
