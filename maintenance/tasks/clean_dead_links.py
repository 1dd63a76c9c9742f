"""clean_dead_links: delete links whose input or output entity no longer exists (project data)."""

from __future__ import annotations

from typing import Any

from maintenance.tasks.base import MaintenanceTask, TaskContext, skip_project_cleanup


class CleanDeadLinks(MaintenanceTask):
    name = "clean_dead_links"
    title = "Clean-up dead links"

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        await skip_project_cleanup(ctx)
