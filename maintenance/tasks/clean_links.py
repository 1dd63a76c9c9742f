"""clean_links: delete links whose link type no longer exists (project data)."""

from __future__ import annotations

from typing import Any

from maintenance.tasks.base import MaintenanceTask, TaskContext, skip_project_cleanup


class CleanLinks(MaintenanceTask):
    name = "clean_links"
    title = "Clean-up links"

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        await skip_project_cleanup(ctx)
