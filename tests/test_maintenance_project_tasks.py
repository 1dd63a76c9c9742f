"""ProjectTask: the project loop every project clean-up shares."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from ayon_server.maintenance.config import MaintenanceConfig
from ayon_server.projects.changes import Actor
from ayon_server.projects.models import ProjectPostModel
from ayon_server.projects.store import (
    ProjectRef,
    create_project,
    delete_project,
    load_project_ref,
    project_names,
)
from ayon_server.runtime import Runtime
from maintenance.progress import TaskReport
from maintenance.tasks.base import ProjectTask, TaskContext

ADMIN = Actor(user="admin", is_admin=True)


@pytest.fixture
async def three_projects(runtime: Runtime) -> AsyncIterator[list[str]]:
    """Three new projects, in the order a run visits them; whichever remain are deleted after."""
    stem = f"ptask{secrets.token_hex(3)}"
    names = [f"{stem}_{suffix}" for suffix in "abc"]
    for name in names:
        await create_project(
            runtime.events, runtime.db, ProjectPostModel(name=name, code=name), ADMIN
        )
    yield names
    for name in set(names) & set(await project_names(runtime.db)):
        await delete_project(runtime.events, runtime.db, name, ADMIN)


class DeletesTheOthers(ProjectTask):
    """Cleaning the first project deletes the second; the third deletes itself mid-visit."""

    counts = ("rows", "visits")

    def __init__(self, runtime: Runtime, names: list[str]):
        self.runtime = runtime
        self.first, self.second, self.third = names
        self.cleaned: list[str] = []

    async def clean_project(self, ctx: TaskContext, project: ProjectRef) -> None:
        if project.name == self.first:
            await delete_project(self.runtime.events, self.runtime.db, self.second, ADMIN)
        if project.name == self.third:
            await delete_project(self.runtime.events, self.runtime.db, self.third, ADMIN)
            # What a batch does next: lock the project, which is gone now.
            await load_project_ref(self.runtime.db, project.name, lock=True)
        self.cleaned.append(project.name)
        ctx.report.add("rows", 2)
        ctx.report.add("visits")


async def test_projects_deleted_during_a_run_are_passed_over_and_the_others_summed(
    runtime: Runtime, three_projects: list[str]
) -> None:
    task = DeletesTheOthers(runtime, three_projects)
    ctx = TaskContext(
        runtime=runtime,
        config=MaintenanceConfig(),
        now=await runtime.db.fetchval("SELECT now()"),
        report=TaskReport(task.counts),
    )

    await task.run(ctx)

    result = ctx.report.result

    assert [name for name in task.cleaned if name in three_projects] == [three_projects[0]]
    cleaned = len(task.cleaned)
    assert result == {"rows": 2 * cleaned, "visits": cleaned, "projects": cleaned}
    assert list(result) == ["rows", "visits", "projects"]
    # Progress counts the projects there were when the task began, visited or passed over.
    assert ctx.report.done == ctx.report.total >= 3
