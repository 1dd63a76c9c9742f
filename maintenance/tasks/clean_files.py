"""clean_files: delete file records attached to nothing, with their stored bytes (project data)."""

from __future__ import annotations

from typing import Any

from maintenance.tasks.base import MaintenanceTask, TaskContext, skip_project_cleanup


class CleanFiles(MaintenanceTask):
    name = "clean_files"
    title = "Clean-up unused files"

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        await skip_project_cleanup(ctx)
